#!/usr/bin/env python3
"""Every option a binary accepts is documented in its man page.

check-help.py PAGE BINARY [--commands]

Runs BINARY --help-all (GOption's --help plus every option group) and
collects each option it lists (--long and -s); each must appear in PAGE, the
scdoc source, as written there (*--name*). With --commands, BINARY is a tool
with commands (elife-pm): the commands its --help lists must each have an
entry in the page (*command*), and the options of `BINARY COMMAND --help`
must appear in the page too. A BINARY that does not exist (yet) in the tree
is skipped (exit 77), saying so.
"""
import os
import re
import subprocess
import sys

SKIP = 77
# A GOption help line: "  -s, --long=ARG    Description" or "  --long".
OPTION_LINE = re.compile(r'^\s+(?:(-[A-Za-z0-9?]),\s+)?(--[A-Za-z0-9][A-Za-z0-9-]*)')
# GLib's own, identical in every program.
GLIB_OWN = {'--help', '--help-all', '-h', '-?'}


def run_help(argv):
    env = dict(os.environ, LC_ALL='C.UTF-8', LANGUAGE='')
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env, timeout=60)
    return r.returncode, r.stdout.decode('utf-8', 'replace')


def options_of(text):
    found = set()
    for line in text.splitlines():
        m = OPTION_LINE.match(line)
        if not m:
            continue
        short, long_ = m.group(1), m.group(2)
        if long_.startswith('--help-') or long_ in GLIB_OWN:
            continue
        found.add(long_)
        if short and short not in GLIB_OWN:
            found.add(short)
    return found


def commands_of(text):
    """The commands a --help lists: in the section whose heading says
    "Commands", each line's first word."""
    commands = []
    in_section = False
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(' '):
            in_section = 'command' in line.lower()
            continue
        if in_section:
            # "  start [OPTIONS] SCRIPT": a command; its description is
            # indented further.
            m = re.match(r'^  ([a-z][a-z0-9-]*)\b', line)
            if m:
                commands.append(m.group(1))
    return commands


def documented(page, option):
    # In the page an option is written as *--name* or *-n*, alone or first
    # in a "*-n*, *--lines*" pair.
    return re.search(r'\*' + re.escape(option) + r'(\*|[ =])', page) is not None


def main():
    args = sys.argv[1:]
    with_commands = '--commands' in args
    args = [a for a in args if a != '--commands']
    page_path, binary = args
    if not os.path.exists(binary):
        print(f'SKIP: {binary} is not built in this tree')
        return SKIP
    page = open(page_path, encoding='utf-8').read()
    name = os.path.basename(binary)
    missing = []
    checked = 0

    status, text = run_help([binary, '--help-all'])
    if status != 0:
        status, text = run_help([binary, '--help'])
    if status != 0:
        print(f'not ok - {name} --help exited {status}:\n{text}')
        return 1
    for opt in sorted(options_of(text)):
        checked += 1
        if not documented(page, opt):
            missing.append(f'{name}: option {opt}')

    if with_commands:
        commands = commands_of(text)
        if not commands:
            print(f'not ok - {name} --help lists no commands:\n{text}')
            return 1
        for cmd in commands:
            checked += 1
            if not re.search(r'^\*' + re.escape(cmd) + r'\*', page, re.M):
                missing.append(f'{name}: command {cmd}')
            if cmd == 'help':
                # `help [COMMAND]` is --help by another name: no options.
                continue
            status, ctext = run_help([binary, cmd, '--help'])
            if status != 0:
                missing.append(f'{name} {cmd} --help exited {status}: {ctext.strip()}')
                continue
            for opt in sorted(options_of(ctext)):
                checked += 1
                if not documented(page, opt):
                    missing.append(f'{name} {cmd}: option {opt}')

    for m in missing:
        print(f'not ok - not in {os.path.basename(page_path)}: {m}')
    if missing:
        return 1
    print(f'ok - {name}: {checked} options and commands, all in {os.path.basename(page_path)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
