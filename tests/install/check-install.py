#!/usr/bin/env python3
"""meson install into a DESTDIR puts every piece where the meson options say.

check-install.py BUILDDIR

Installs BUILDDIR into a temporary DESTDIR and checks that each expected
piece is there, at the path the build's options give (prefix, bindir,
libexecdir, datadir, mandir, localedir, dbus_services_dir,
systemduserunitdir, dbus_system_policy_dir, dbus_system_services_dir,
systemdsystemunitdir; bash completion where bash-completion says), and that
the installed D-Bus activation files and systemd units run the installed
daemon.
"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    build = sys.argv[1]
    opts = {o['name']: o['value'] for o in json.loads(subprocess.check_output(
        ['meson', 'introspect', '--buildoptions', build]))}
    prefix = opts['prefix']

    def under(*parts):
        p = os.path.join(*parts)
        return p if os.path.isabs(p) else os.path.join(prefix, p)

    libexec = under(opts['libexecdir'])
    datadir = under(opts['datadir'])
    services = opts['dbus_services_dir'] or os.path.join(datadir, 'dbus-1', 'services')
    services = under(services)
    userunit = under(opts['systemduserunitdir'] or os.path.join(prefix, 'lib', 'systemd', 'user'))
    expected = {
        'daemon': os.path.join(libexec, 'elife-pmd'),
        'session activation file': os.path.join(services, 'org.elife.ProcessManager.service'),
        'systemd user unit': os.path.join(userunit, 'elife-pmd.service'),
        'introspection XML': os.path.join(datadir, 'dbus-1', 'interfaces', 'org.elife.ProcessManager.xml'),
        'German translation': os.path.join(under(opts['localedir']), 'de', 'LC_MESSAGES', 'elife-pm.mo'),
    }
    if opts.get('man', True):
        expected['elife-pmd(8)'] = os.path.join(under(opts['mandir']), 'man8', 'elife-pmd.8')
        expected['elife-pm(1)'] = os.path.join(under(opts['mandir']), 'man1', 'elife-pm.1')

    system_policy = under(opts['dbus_system_policy_dir'] or os.path.join(datadir, 'dbus-1', 'system.d'))
    system_services = under(opts['dbus_system_services_dir']
                            or os.path.join(datadir, 'dbus-1', 'system-services'))
    system_unit = under(opts['systemdsystemunitdir'] or os.path.join(prefix, 'lib', 'systemd', 'system'))
    expected.update({
        'CLI': os.path.join(under(opts['bindir']), 'elife-pm'),
        'system-bus policy': os.path.join(system_policy, 'org.elife.ProcessManager.conf'),
        'system activation file': os.path.join(system_services, 'org.elife.ProcessManager.service'),
        'systemd system unit': os.path.join(system_unit, 'elife-pmd.service'),
    })

    installed = set(json.loads(subprocess.check_output(
        ['meson', 'introspect', '--installed', build])).values())
    # Where bash-completion's pkg-config file says (or share/bash-completion).
    completion = [p for p in installed if p.endswith('/completions/elife-pm')]
    if len(completion) == 1:
        expected['bash completion'] = completion[0]
    else:
        print('not ok - bash completion: meson installs no …/completions/elife-pm')
        return 1

    failures = []
    with tempfile.TemporaryDirectory() as dest:
        r = subprocess.run(['meson', 'install', '-C', build, '--no-rebuild', '--quiet',
                            '--destdir', dest],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            print('not ok - meson install failed:\n' + r.stdout.decode(errors='replace'))
            return 1
        for what, path in sorted(expected.items()):
            if os.path.isfile(dest + path):
                print(f'ok - {what}: {path}')
            else:
                failures.append(f'{what}: {path} is not installed')
        # Everything meson says it installs is there, and nothing outside the prefix
        # unless an option put it there.
        for path in sorted(installed):
            if not os.path.lexists(dest + path):
                failures.append(f'{path} announced but not installed')
        daemon = expected['daemon']
        for what in ('session activation file', 'systemd user unit', 'system activation file',
                     'systemd system unit'):
            p = dest + expected[what]
            if os.path.isfile(p):
                text = open(p, encoding='utf-8').read()
                if daemon + ' ' not in text:
                    failures.append(f'{what} does not run {daemon}:\n{text}')
                else:
                    print(f'ok - {what} runs {daemon}')
        if os.path.isfile(dest + daemon) and not os.access(dest + daemon, os.X_OK):
            failures.append(f'{daemon} is not executable')
    for f in failures:
        print('not ok - ' + f)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
