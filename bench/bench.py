#!/usr/bin/env python3
"""bench.py — the elife-pm benchmark suite (issue 6 items 3–8, issue 3's restart lateness).

Called by bench/run.sh, which builds the daemon and the C driver (pmdrv) and
installs the anchors; see bench/README.md. Everything runs in one temp dir on
a private dbus-daemon; every process started here is tracked and killed by
PID at the end (never by name).
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

A = None            # parsed arguments
TMP = None          # this run's temp dir
BUS_ADDR = None
TRACKED = set()     # pids to kill at exit if still alive
RAW = {}            # every raw figure, dumped into RESULTS.md
ROWS = []           # table rows (dicts)
NOTES = []
TAG = "elifepmbench%d" % os.getpid()


# ---- /proc helpers ----------------------------------------------------------

def status(pid):
    return status_path("/proc/%d/status" % pid)


def status_path(path):
    d = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                d[k] = v.strip()
    except OSError:
        pass
    return d


def rss_kib(pids):
    return sum(int(status(p).get("VmRSS", "0 kB").split()[0]) for p in pids)


def pss_kib(pids):
    tot = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        tot += int(line.split()[1])
        except OSError:
            pass
    return tot


def ctxt(pids):
    """Context switches summed over every thread of the processes."""
    tot = 0
    for p in pids:
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tids:
            s = status_path("/proc/%d/task/%s/status" % (p, t))
            tot += (int(s.get("voluntary_ctxt_switches", 0)) +
                    int(s.get("nonvoluntary_ctxt_switches", 0)))
    return tot


def cpu_ms(pids):
    tck = os.sysconf("SC_CLK_TCK")
    tot = 0.0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                rest = f.read().rpartition(")")[2].split()
            tot += (int(rest[11]) + int(rest[12])) * 1000.0 / tck
        except (OSError, IndexError):
            pass
    return tot


def nfds(pids):
    tot = 0
    for p in pids:
        try:
            tot += len(os.listdir("/proc/%d/fd" % p))
        except OSError:
            pass
    return tot


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rpartition(")")[2].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def tagged(tag=None):
    """Live (non-zombie) processes whose environment carries the tag."""
    needle = ("BENCH_TAG=" + (tag or TAG)).encode()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read()
        except OSError:
            continue
        if needle in env.split(b"\0") and alive(int(d)):
            out.append(int(d))
    return out


def kill_pids(pids, sig=signal.SIGKILL):
    for p in pids:
        try:
            os.kill(p, sig)
        except OSError:
            pass


def wait_until(pred, timeout, step=0.005):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def reap_tagged(tag=None):
    """Kill leftovers of a measurement by PID (and wait for them)."""
    for _ in range(50):
        left = tagged(tag)
        if not left:
            return
        kill_pids(left)
        time.sleep(0.02)


def sh(cmd, timeout=120, env=None, check=True):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True,
                       timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (cmd, r.returncode, r.stderr.strip()[-500:]))
    return r.stdout


def kv(text):
    d = {}
    for line in text.splitlines():
        k, eq, v = line.partition("=")
        if eq:
            try:
                d[k] = float(v)
            except ValueError:
                d[k] = v
    return d


def write(path, text, mode=0o755):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---- table -----------------------------------------------------------------

def row(item, metric, unit, pmd, target=None, ok=None, base=None, base_what="",
        anchors=None, lower_better=True):
    ROWS.append(dict(item=item, metric=metric, unit=unit, pmd=pmd, target=target, ok=ok,
                     base=base, base_what=base_what, anchors=anchors or {}))


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if float(v).is_integer() and abs(v) < 1e9:
        return "%d" % v
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def ratio(v, base):
    if v is None or base is None or isinstance(v, str):
        return ""
    if base == 0:
        return " (×∞)" if v else " (=)"
    return " (×%s)" % fmt(v / base)


ANCHORS = ["supervisord", "pm2", "s6"]


def render_table():
    head = ["#", "measurement", "baseline", "elife-pmd", "target"] + ANCHORS
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in ROWS:
        tgt = ""
        if r["target"] is not None:
            tgt = r["target"] + (" ✓" if r["ok"] else " **✗ MISS**")
        cells = [r["item"], "%s (%s)" % (r["metric"], r["unit"]) if r["unit"] else r["metric"],
                 "%s %s" % (fmt(r["base"]), r["base_what"]) if r["base"] is not None else
                 (r["base_what"] or "—"),
                 fmt(r["pmd"]) + ratio(r["pmd"], r["base"]), tgt or "—"]
        for a in ANCHORS:
            v = r["anchors"].get(a)
            cells.append(fmt(v) + ratio(v, r["base"]) if v is not None else "—")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def render_plain():
    head = ["#", "measurement", "baseline", "elife-pmd", "target"] + ANCHORS
    table = []
    for r in ROWS:
        tgt = ""
        if r["target"] is not None:
            tgt = r["target"] + (" ok" if r["ok"] else " MISS")
        cells = [r["item"], "%s (%s)" % (r["metric"], r["unit"]) if r["unit"] else r["metric"],
                 fmt(r["base"]) if r["base"] is not None else "-",
                 fmt(r["pmd"]) + ratio(r["pmd"], r["base"]), tgt or "-"]
        for a in ANCHORS:
            v = r["anchors"].get(a)
            cells.append(fmt(v) + ratio(v, r["base"]) if v is not None else "-")
        table.append(cells)
    w = [max(len(str(c[i])) for c in table + [head]) for i in range(len(head))]
    out = ["  ".join(str(h).ljust(w[i]) for i, h in enumerate(head))]
    out.append("  ".join("-" * x for x in w))
    for c in table:
        out.append("  ".join(str(x).ljust(w[i]) for i, x in enumerate(c)))
    return "\n".join(out)


# ---- the bus and the daemon --------------------------------------------------

def start_bus():
    global BUS_ADDR
    conf = write(os.path.join(TMP, "bus.conf"),
                 '<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>'
                 '<auth>EXTERNAL</auth><policy context="default">'
                 '<allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>'
                 '<allow own="*"/></policy></busconfig>\n', 0o644)
    p = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork", "--print-address=1"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    TRACKED.add(p.pid)
    BUS_ADDR = p.stdout.readline().strip()
    if not BUS_ADDR:
        raise RuntimeError("dbus-daemon gave no address")
    return p


def drv(*args, timeout=120):
    return kv(sh([A.driver, BUS_ADDR] + [str(a) for a in args], timeout=timeout))


class Pmd:
    def __init__(self, label):
        self.dir = os.path.join(TMP, "pmd-" + label)
        os.makedirs(self.dir)
        self.out = open(os.path.join(self.dir, "stdout"), "w")
        self.p = subprocess.Popen([A.pmd, "--address", BUS_ADDR, "--state-dir",
                                   os.path.join(self.dir, "state")],
                                  stdout=self.out, stderr=subprocess.STDOUT, cwd=self.dir)
        self.pid = self.p.pid
        TRACKED.add(self.pid)
        drv("wait-name", 10)
        wd = [c for c in children(self.pid) if b"--watchdog" in
              open("/proc/%d/cmdline" % c, "rb").read()]
        self.watchdog = wd[0] if wd else None
        if self.watchdog:
            TRACKED.add(self.watchdog)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self.watchdog:
            wait_until(lambda: not alive(self.watchdog), 2)
            kill_pids([self.watchdog])
        self.out.close()
        reap_tagged()


# ---- scripts ----------------------------------------------------------------

def scripts():
    d = os.path.join(TMP, "scripts")
    os.makedirs(d)
    s = {}
    # The tag must be in the script's own /proc/PID/environ, not just exported
    # to its children: re-exec with it (same pid).
    retag = '[ "$BENCH_TAG" = %s ] || exec env BENCH_TAG=%s "$0" "$@"\n' % (TAG, TAG)
    s["sleep"] = write(os.path.join(d, "sleeper"),
                       "#!/bin/sh\n" + retag + "exec /bin/sleep 1000\n")
    s["stubborn"] = write(os.path.join(d, "stubborn"),
                          "#!/bin/sh\n" + retag + "trap '' TERM\n"
                          "while :; do sleep 1; done\n")
    s["grand"] = write(os.path.join(d, "grand"),
                       "#!/bin/sh\n" + retag + "/bin/sleep 1000 &\nwait\n")
    s["exit"] = write(os.path.join(d, "exit-now"), "#!/bin/sh\nexit 1\n")
    return s


# ---- baselines -----------------------------------------------------------------

def baseline_shell_start(n):
    """fork+exec of the same sleep by a plain shell loop: time per child and
    the shell's RSS growth per child (its job table)."""
    pidfile = os.path.join(TMP, "baseline-pids")
    script = write(os.path.join(TMP, "baseline-start.sh"), r"""#!/bin/bash
export BENCH_TAG=%s
r0=$(awk '/VmRSS/{print $2}' /proc/$$/status)
t0=$(date +%%s%%N)
for ((i = 0; i < %d; i++)); do /bin/sleep 1000 >/dev/null 2>&1 & echo $! >> %s; done
t1=$(date +%%s%%N)
r1=$(awk '/VmRSS/{print $2}' /proc/$$/status)
echo "per_child_us=$(( (t1 - t0) / 1000 / %d ))"
echo "rss0=$r0"
echo "rss1=$r1"
""" % (TAG, n, pidfile, n))
    out = kv(sh([script], timeout=120))
    pids = [int(x) for x in open(pidfile).read().split()]
    kill_pids(pids)
    reap_tagged()
    os.unlink(pidfile)
    return out


class IdleShell:
    """A shell blocked in `wait` on 100 sleeps: the idle baseline."""
    def __init__(self, n):
        self.p = subprocess.Popen(["bash", "-c", "export BENCH_TAG=%s; for ((i=0;i<%d;i++)); do "
                                   "/bin/sleep 1000 & done; wait" % (TAG, n)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        TRACKED.add(self.p.pid)
        wait_until(lambda: len(tagged()) >= n, 10)
        time.sleep(0.2)

    def stop(self):
        reap_tagged()
        self.p.wait(5)


# ---- elife-pmd ------------------------------------------------------------------

def bench_pmd(s):
    R = RAW.setdefault("elife-pmd", {})
    B = RAW.setdefault("baseline", {})

    # 3. Start: 1000 sleeps; 7. queries with 1000 processes.
    log("elife-pmd: start 1000")
    B["shell_start"] = baseline_shell_start(1000)
    B["spawn"] = drv("baseline-spawn", 1000, "/bin/sleep", "1000", timeout=300)
    pmd = Pmd("start")
    try:
        drv("ping", 20)
        time.sleep(0.2)
        rss0, fd0, pss0 = rss_kib([pmd.pid]), nfds([pmd.pid]), pss_kib([pmd.pid])
        st = drv("start", 1000, "/bin/sleep", "-a", "1000", "-e", "BENCH_TAG=" + TAG, "-n", "s",
                 timeout=300)
        time.sleep(0.3)
        rss1, fd1, pss1 = rss_kib([pmd.pid]), nfds([pmd.pid]), pss_kib([pmd.pid])
        running = len(tagged())
        log("elife-pmd: queries")
        ping = drv("ping", 50)
        lst = drv("call", 50, "List")
        gmo = drv("call", 50, "GetManagedObjects", timeout=300)
        sa = drv("stopall", timeout=60)
        left = len(tagged())
        time.sleep(0.2)
        rss2 = rss_kib([pmd.pid])
        R["start"] = dict(st, rss_idle=rss0, rss_1000=rss1, pss_idle=pss0, pss_1000=pss1, rss_after_stopall=rss2, fd_idle=fd0,
                          fd_1000=fd1, running=running, stopall=sa, left_after_stopall=left)
        R["ping"], R["list"], R["gmo"] = ping, lst, gmo
    finally:
        pmd.stop()

    # 4. Stop: 200 children ignoring SIGTERM, stopTimeout 200.
    log("elife-pmd: stop 200 stubborn")
    pmd = Pmd("stop")
    try:
        drv("start", 200, s["stubborn"], "-t", 200, "-n", "t", timeout=120)
        wait_until(lambda: len(tagged()) >= 400, 5)
        time.sleep(0.3)
        before = len(tagged())
        sa = drv("stopall", timeout=60)
        surv = tagged()
        R["stop"] = dict(sa, tagged_before=before, survivors=len(surv))
    finally:
        pmd.stop()

    # 5. Idle: 100 children, 10 s; baseline shell in the same window.
    log("elife-pmd: idle 10 s")
    pmd = Pmd("idle")
    try:
        drv("start", 100, "/bin/sleep", "-a", "1000", "-e", "BENCH_TAG=" + TAG)
        shell = IdleShell(100)
        time.sleep(1.0)
        procs = [pmd.pid] + ([pmd.watchdog] if pmd.watchdog else [])
        c0, w0, b0 = ctxt([pmd.pid]), ctxt(procs[1:]), ctxt([shell.p.pid])
        time.sleep(A.idle_secs)
        c1, w1, b1 = ctxt([pmd.pid]), ctxt(procs[1:]), ctxt([shell.p.pid])
        R["idle"] = dict(daemon_ctxt=c1 - c0, watchdog_ctxt=w1 - w0)
        B["idle_shell_ctxt"] = b1 - b0
        shell.stop()
    finally:
        pmd.stop()

    # 6. Crash loop: restartAt [10] for 10 s.
    log("elife-pmd: crash loop 10 s")
    pmd = Pmd("crash")
    try:
        c0 = cpu_ms([pmd.pid])
        t0 = time.monotonic()
        drv("start", 1, "/bin/false", "-r", 10, "-n", "crash")
        time.sleep(A.idle_secs)
        lst = drv("list")
        dt = time.monotonic() - t0
        c1 = cpu_ms([pmd.pid])
        drv("stop", "crash")
        R["crash"] = dict(restarts=lst["restarts"], secs=dt, cpu_ms=c1 - c0,
                          cpu_pct=(c1 - c0) / (dt * 10))
    finally:
        pmd.stop()
    n = max(50, int(A.idle_secs * 1000 / 12 / 2))   # ~half the window; scaled in the table
    B["crash_loop"] = drv("baseline-lateness", n, 10, "/bin/false", timeout=120)

    # issue 3: 200 restarts with restartAt [20].
    log("elife-pmd: restart lateness")
    pmd = Pmd("late")
    try:
        R["lateness"] = drv("lateness", 200, 20, pmd.pid, s["exit"], timeout=120)
    finally:
        pmd.stop()
    B["lateness"] = drv("baseline-lateness", 200, 20, s["exit"], timeout=120)

    # 8. kill -9 with 20 children + 20 grandchildren.
    log("elife-pmd: kill -9")
    pmd = Pmd("kill")
    try:
        drv("start", 20, s["grand"], "-n", "g")
        wait_until(lambda: len(tagged()) >= 40, 5)
        before = len(tagged())
        t0 = time.monotonic()
        os.kill(pmd.pid, signal.SIGKILL)
        gone = wait_until(lambda: not tagged(), 1.0, 0.002)
        t_zero = (time.monotonic() - t0) * 1000 if gone else None
        time.sleep(max(0, 1.0 - (time.monotonic() - t0)))
        surv = len(tagged())
        R["kill9"] = dict(before=before, survivors=surv, ms_to_zero=t_zero)
        pmd.p.wait(5)
    finally:
        pmd.stop()


# ---- anchors ----------------------------------------------------------------------

class Supervisor:
    name = "supervisord"

    def __init__(self, label, program):
        self.dir = os.path.join(TMP, "sup-" + label)
        os.makedirs(self.dir)
        self.conf = write(os.path.join(self.dir, "supervisord.conf"), """
[unix_http_server]
file=%(d)s/sock
[supervisord]
logfile=%(d)s/supervisord.log
pidfile=%(d)s/supervisord.pid
childlogdir=%(d)s
nodaemon=true
minfds=4096
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://%(d)s/sock
%(prog)s
""" % dict(d=self.dir, prog=program), 0o644)
        self.p = subprocess.Popen(["supervisord", "-c", self.conf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, cwd=self.dir)
        self.pid = self.p.pid
        TRACKED.add(self.pid)
        if not wait_until(lambda: subprocess.run(self.ctl("pid"), capture_output=True).returncode
                          == 0, 15, 0.1):
            raise RuntimeError("supervisord did not come up")

    def procs(self):
        return [self.pid]

    def ctl(self, *args):
        return ["supervisorctl", "-c", self.conf] + list(args)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        reap_tagged()

    @staticmethod
    def program(name, cmd, n, autostart, extra=""):
        return """[program:%s]
command=%s
process_name=%%(program_name)s_%%(process_num)03d
numprocs=%d
autostart=%s
autorestart=true
startsecs=0
stdout_logfile=NONE
stderr_logfile=NONE
%s
""" % (name, cmd, n, "true" if autostart else "false", extra)

    @classmethod
    def run_start(cls, s, n):
        a = cls("start", cls.program("w", "/bin/sleep 1000", n, False,
                                     'environment=BENCH_TAG="%s"' % TAG))
        try:
            time.sleep(0.5)
            rss0, fd0, pss0 = rss_kib(a.procs()), nfds(a.procs()), pss_kib(a.procs())
            t0 = time.monotonic()
            sh(a.ctl("start", "all"), timeout=120)
            t = time.monotonic() - t0
            wait_until(lambda: len(tagged()) >= n, 10)
            time.sleep(0.3)
            return dict(total_ms=t * 1000, rss_idle=rss0, pss_idle=pss0, rss_n=rss_kib(a.procs()),
                        pss_n=pss_kib(a.procs()), fd_idle=fd0, fd_n=nfds(a.procs()),
                        running=len(tagged()))
        finally:
            a.stop()

    @classmethod
    def run_stop(cls, s, n):
        a = cls("stop", cls.program("t", s["stubborn"], n, True,
                                    "stopwaitsecs=1\nstopasgroup=true\nkillasgroup=true"))
        try:
            wait_until(lambda: len(tagged()) >= 2 * n, 20)
            time.sleep(0.5)
            t0 = time.monotonic()
            sh(a.ctl("stop", "all"), timeout=120, check=False)
            t = time.monotonic() - t0
            return dict(total_ms=t * 1000, survivors=len(tagged()), grace="stopwaitsecs=1")
        finally:
            a.stop()

    @classmethod
    def run_idle(cls, s, n):
        a = cls("idle", cls.program("i", "/bin/sleep 1000", n, True,
                                    'environment=BENCH_TAG="%s"' % TAG))
        try:
            wait_until(lambda: len(tagged()) >= n, 20)
            time.sleep(1.0)
            c0 = ctxt(a.procs())
            time.sleep(A.idle_secs)
            return dict(ctxt=ctxt(a.procs()) - c0)
        finally:
            a.stop()

    @classmethod
    def run_kill(cls, s, n):
        a = cls("kill", cls.program("g", s["grand"], n, True))
        try:
            return kill9(a, n)
        finally:
            a.stop()


def kill9(a, n, extra_kill=()):
    """kill -9 the anchor's main process; survivors among the 2n tagged after 1 s."""
    wait_until(lambda: len(tagged()) >= 2 * n, 20)
    time.sleep(0.3)
    before = len(tagged())
    t0 = time.monotonic()
    os.kill(a.pid, signal.SIGKILL)
    gone = wait_until(lambda: not tagged(), 1.0, 0.002)
    t_zero = (time.monotonic() - t0) * 1000 if gone else None
    time.sleep(max(0, 1.0 - (time.monotonic() - t0)))
    return dict(before=before, survivors=len(tagged()), ms_to_zero=t_zero)


class Pm2:
    name = "pm2"

    def __init__(self, label):
        self.dir = os.path.join(TMP, "pm2-" + label)
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)
        self.env = dict(os.environ, PM2_HOME=self.home, PM2_KILL_SIGNAL="SIGTERM",
                        HOME=self.dir, PM2_DISABLE_VERSION_CHECK="true")
        if label == "stop":
            # its shortest stop: all 200 in parallel (the default is 2 at a time)
            self.env["PM2_CONCURRENT_ACTIONS"] = "200"
        sh([A.pm2, "ping"], env=self.env, timeout=60)
        self.pid = int(open(os.path.join(self.home, "pm2.pid")).read())
        TRACKED.add(self.pid)

    def procs(self):
        return [self.pid] if alive(self.pid) else []

    def cli(self, *args, timeout=180, check=True):
        return sh([A.pm2] + list(args), env=self.env, timeout=timeout, check=check)

    def eco(self, name, script, n, extra=None):
        apps = []
        for i in range(n):
            app = dict(name="%s%03d" % (name, i), script=script, interpreter="none",
                       autorestart=True, out_file="/dev/null", error_file="/dev/null")
            if script == "/bin/sleep":
                app.update(args="1000", env=dict(BENCH_TAG=TAG))
            app.update(extra or {})
            apps.append(app)
        path = os.path.join(self.dir, "%s.config.json" % name)
        with open(path, "w") as f:
            json.dump(dict(apps=apps), f)
        return path

    def stop(self):
        if alive(self.pid):
            self.cli("kill", timeout=60, check=False)
            wait_until(lambda: not alive(self.pid), 10)
            kill_pids([self.pid])
        reap_tagged()

    @classmethod
    def run_start(cls, s, n):
        a = cls("start")
        try:
            eco = a.eco("w", "/bin/sleep", n)
            time.sleep(0.5)
            rss0, fd0, pss0 = rss_kib(a.procs()), nfds(a.procs()), pss_kib(a.procs())
            t0 = time.monotonic()
            a.cli("start", eco)
            wait_until(lambda: len(tagged()) >= n, 30)
            t = time.monotonic() - t0
            time.sleep(0.5)
            return dict(total_ms=t * 1000, rss_idle=rss0, pss_idle=pss0, rss_n=rss_kib(a.procs()),
                        pss_n=pss_kib(a.procs()), fd_idle=fd0, fd_n=nfds(a.procs()),
                        running=len(tagged()))
        finally:
            a.stop()

    @classmethod
    def run_stop(cls, s, n):
        a = cls("stop")
        try:
            a.cli("start", a.eco("t", s["stubborn"], n, dict(kill_timeout=200)))
            wait_until(lambda: len(tagged()) >= 2 * n, 30)
            time.sleep(0.5)
            t0 = time.monotonic()
            a.cli("stop", "all", check=False)
            t = time.monotonic() - t0
            return dict(total_ms=t * 1000, survivors=len(tagged()),
                        grace="kill_timeout=200, PM2_KILL_SIGNAL=SIGTERM")
        finally:
            a.stop()

    @classmethod
    def run_idle(cls, s, n):
        a = cls("idle")
        try:
            a.cli("start", a.eco("i", "/bin/sleep", n))
            wait_until(lambda: len(tagged()) >= n, 30)
            time.sleep(1.0)
            c0 = ctxt(a.procs())
            time.sleep(A.idle_secs)
            return dict(ctxt=ctxt(a.procs()) - c0)
        finally:
            a.stop()

    @classmethod
    def run_kill(cls, s, n):
        a = cls("kill")
        try:
            a.cli("start", a.eco("g", s["grand"], n))
            return kill9(a, n)
        finally:
            a.stop()


SLEEP_RUN = "export BENCH_TAG=%s\nexec /bin/sleep 1000" % TAG


class S6:
    name = "s6"

    def __init__(self, label):
        self.dir = os.path.join(TMP, "s6-" + label)
        self.scan = os.path.join(self.dir, "scan")
        os.makedirs(self.scan)
        self.p = subprocess.Popen(["s6-svscan", self.scan], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.pid = self.p.pid
        TRACKED.add(self.pid)
        self.supervisors = []
        wait_until(lambda: os.path.exists(os.path.join(self.scan, ".s6-svscan", "control")), 5)
        time.sleep(0.2)

    def add(self, name, run, n, down, extra=None):
        dirs = []
        for i in range(n):
            d = os.path.join(self.dir, "svc", "%s%03d" % (name, i))
            os.makedirs(d)
            write(os.path.join(d, "run"), "#!/bin/sh\n%s\n" % run)
            if down:
                write(os.path.join(d, "down"), "", 0o644)
            for k, v in (extra or {}).items():
                write(os.path.join(d, k), "%s\n" % v, 0o644)
            os.symlink(d, os.path.join(self.scan, os.path.basename(d)))
            dirs.append(d)
        sh(["s6-svscanctl", "-a", self.scan])
        ok = wait_until(lambda: len(children(self.pid)) >= n and
                        all(subprocess.run(["s6-svok", d]).returncode == 0 for d in dirs), 20, 0.1)
        if not ok:
            raise RuntimeError("s6-supervise did not come up")
        self.supervisors = children(self.pid)
        TRACKED.update(self.supervisors)
        return dirs

    def procs(self):
        return [p for p in [self.pid] + children(self.pid) if alive(p)]

    def stop(self):
        if self.p.poll() is None:
            subprocess.run(["s6-svscanctl", "-t", self.scan], capture_output=True)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        wait_until(lambda: not any(alive(p) for p in self.supervisors), 5)
        kill_pids(self.supervisors)
        reap_tagged()

    @classmethod
    def run_start(cls, s, n):
        a = cls("start")
        try:
            rss0, fd0, pss0 = rss_kib(a.procs()), nfds(a.procs()), pss_kib(a.procs())
            dirs = a.add("w", SLEEP_RUN, n, down=True)
            time.sleep(0.3)
            rss_down = rss_kib(a.procs())
            t0 = time.monotonic()
            # one s6-svc per service, each waiting until its service is up
            sh(["sh", "-c", 'for d; do s6-svc -wu -u "$d" || exit 1; done', "sh"] + dirs,
               timeout=120)
            t = time.monotonic() - t0
            time.sleep(0.3)
            return dict(total_ms=t * 1000, rss_idle=rss0, pss_idle=pss0, rss_down=rss_down,
                        rss_n=rss_kib(a.procs()), pss_n=pss_kib(a.procs()), fd_idle=fd0,
                        fd_n=nfds(a.procs()), running=len(tagged()))
        finally:
            a.stop()

    @classmethod
    def run_stop(cls, s, n):
        a = cls("stop")
        try:
            dirs = a.add("t", "exec " + s["stubborn"], n, down=False, extra={"timeout-kill": 200})
            wait_until(lambda: len(tagged()) >= 2 * n, 20)
            time.sleep(0.5)
            t0 = time.monotonic()
            sh(["sh", "-c", 'for d; do s6-svc -d "$d"; done; s6-svwait -a -D "$@"', "sh"] + dirs,
               timeout=120, check=False)
            t = time.monotonic() - t0
            return dict(total_ms=t * 1000, survivors=len(tagged()), grace="timeout-kill=200")
        finally:
            a.stop()

    @classmethod
    def run_idle(cls, s, n):
        a = cls("idle")
        try:
            a.add("i", SLEEP_RUN, n, down=False)
            wait_until(lambda: len(tagged()) >= n, 20)
            time.sleep(1.0)
            procs = a.procs()
            c0 = ctxt(procs)
            time.sleep(A.idle_secs)
            return dict(ctxt=ctxt(procs) - c0, processes=len(procs))
        finally:
            a.stop()

    @classmethod
    def run_kill(cls, s, n):
        a = cls("kill")
        try:
            a.add("g", "exec " + s["grand"], n, down=False)
            r = kill9(a, n)
            r["supervise_left"] = sum(1 for p in a.supervisors if alive(p))
            return r
        finally:
            kill_pids(a.supervisors)
            a.p.wait(5)
            a.stop()


def bench_anchor(cls, s):
    R = RAW.setdefault(cls.name, {})
    for what, fn, n in (("start", cls.run_start, 200), ("stop", cls.run_stop, 200),
                        ("idle", cls.run_idle, 100), ("kill9", cls.run_kill, 20)):
        log("%s: %s" % (cls.name, what))
        try:
            R[what] = fn(s, n)
        except Exception as e:  # an anchor's failure must not sink the suite
            R[what] = dict(error=str(e)[:300])
            log("%s: %s failed: %s" % (cls.name, what, e))
        reap_tagged()


# ---- the table ------------------------------------------------------------------

def build_rows():
    R, B = RAW["elife-pmd"], RAW["baseline"]
    an = {a: RAW.get(a, {}) for a in ANCHORS}

    def ag(key, f):
        out = {}
        for a, d in an.items():
            try:
                v = f(d[key])
                if v is not None:
                    out[a] = v
            except (KeyError, TypeError, ZeroDivisionError):
                pass
        return out

    st = R["start"]
    bs = B["shell_start"]
    base_start_ms = bs["per_child_us"] / 1000
    sp_ = B["spawn"]
    row("3", "Start latency p50, 1000 sequential calls", "ms", st["start_us_p50"] / 1000,
        "≤ 2", st["start_us_p50"] <= 2000, sp_["spawn_us_p50"] / 1000, "posix_spawn p50")
    row("3", "Start latency p99", "ms", st["start_us_p99"] / 1000, "≤ 10",
        st["start_us_p99"] <= 10000, sp_["spawn_us_p99"] / 1000, "posix_spawn p99")
    row("3", "Start latency p50, first 100 calls", "ms", st["start_first10pct_us_p50"] / 1000,
        None, None, sp_["spawn_us_p50"] / 1000, "posix_spawn p50")
    row("3", "Start latency p50, last 100 calls (900+ running)", "ms",
        st["start_last10pct_us_p50"] / 1000, None, None, sp_["spawn_us_p50"] / 1000,
        "posix_spawn p50")
    row("3", "time per child (total / N; anchors N=200)", "ms", st["start_total_ms"] / 1000,
        None, None, base_start_ms, "shell fork+exec",
        ag("start", lambda d: d["total_ms"] / 200))
    row("3", "manager RSS idle", "KiB", st["rss_idle"], None, None, None, "",
        ag("start", lambda d: d["rss_idle"]))
    kib = (st["rss_1000"] - st["rss_idle"]) / 1000
    base_kib = (bs["rss1"] - bs["rss0"]) / 1000
    row("3", "RSS per child above idle (anchors N=200)", "KiB", kib, "≤ 10", kib <= 10,
        base_kib, "bash job table",
        ag("start", lambda d: (d["rss_n"] - d["rss_idle"]) / 200))
    row("3", "PSS per child above idle (shared pages split)", "KiB",
        (st["pss_1000"] - st["pss_idle"]) / 1000, None, None, base_kib, "bash job table",
        ag("start", lambda d: (d["pss_n"] - d["pss_idle"]) / 200))
    fdc = (st["fd_1000"] - st["fd_idle"]) / 1000
    row("3", "fds per child", "", fdc, "≤ 4", fdc <= 4, 2, "(stdout+stderr pipe floor)",
        ag("start", lambda d: (d["fd_n"] - d["fd_idle"]) / 200))
    sp = R["stop"]
    row("4", "StopAll 200 TERM-ignoring children, stopTimeout 200", "ms", sp["stopall_ms"],
        "≤ 500", sp["stopall_ms"] <= 500, 400, "(2×stopTimeout floor)",
        ag("stop", lambda d: d["total_ms"]))
    row("4", "survivors right after the stop", "", sp["survivors"], "0", sp["survivors"] == 0,
        None, "", ag("stop", lambda d: d["survivors"]))
    row("5", "context switches in 10 s idle, 100 children", "", R["idle"]["daemon_ctxt"], "0",
        R["idle"]["daemon_ctxt"] == 0, B["idle_shell_ctxt"], "shell in wait",
        ag("idle", lambda d: d["ctxt"]))
    cr, bc = R["crash"], B["crash_loop"]
    base_restarts = bc["late_us_n"] * (cr["secs"] * 1000) / bc["wall_ms"]
    row("6", "crash loop restartAt [10]: restarts in %.0f s" % cr["secs"], "", cr["restarts"],
        None, None,
        base_restarts, "C loop")
    row("6", "crash loop: daemon CPU", "%", cr["cpu_pct"], None, None,
        bc["self_cpu_ms"] / bc["wall_ms"] * 100, "C loop")
    ping = R["ping"]["ping_us_p50"] / 1000
    row("7", "List, 1000 processes, median of 50", "ms", R["list"]["call_us_p50"] / 1000,
        None, None, ping, "Peer.Ping")
    row("7", "GetManagedObjects, 1000 processes, median of 50", "ms",
        R["gmo"]["call_us_p50"] / 1000, None, None, ping, "Peer.Ping")
    k = R["kill9"]
    row("8", "kill -9 manager: survivors of 40 after 1 s", "", k["survivors"], "0",
        k["survivors"] == 0, None, "", ag("kill9", lambda d: d["survivors"]))
    row("8", "kill -9: time until all 40 gone", "ms",
        k["ms_to_zero"] if k["ms_to_zero"] is not None else "> 1000", None, None, None, "",
        ag("kill9", lambda d: d["ms_to_zero"] if d["ms_to_zero"] is not None else "> 1000"))
    la, bl = R["lateness"], B["lateness"]
    for p in ("p50", "p99", "max"):
        row("i3", "restart lateness %s, 200 × restartAt [20]" % p, "ms",
            la["late_us_" + p] / 1000, "≤ 5" if p == "p99" else None,
            la["late_us_p99"] <= 5000 if p == "p99" else None,
            bl["late_us_" + p] / 1000, "GLib timer+posix_spawn")
    row("i3", "daemon CPU for the 200 restarts", "ms", la["daemon_cpu_ms"], None, None,
        bl["self_cpu_ms"], "GLib timer+posix_spawn")


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = open("/proc/meminfo").readline().split()[1]
    load = open("/proc/loadavg").read().split()[:3]
    vers = {}
    for name, cmd in (("elife-pmd", [A.pmd, "--version"]), ("supervisord", ["supervisord", "-v"]),
                      ("s6", ["dpkg-query", "-W", "-f", "${Version}", "s6"])):
        try:
            vers[name] = sh(cmd, timeout=30).strip().splitlines()[-1].replace(name + " ", "")
        except Exception:
            vers[name] = "n/a"
    try:
        pkg = os.path.join(os.path.dirname(os.path.realpath(A.pm2)), "..", "package.json")
        vers["pm2"] = json.load(open(pkg))["version"]
    except Exception:
        vers["pm2"] = "n/a"
    return dict(cpu=cpu, cores=os.cpu_count(), mem_kib=mem, kernel=platform.release(),
                load_at_start=" ".join(load), versions=vers)


def main():
    global A, TMP
    ap = argparse.ArgumentParser()
    ap.add_argument("--pmd", required=True)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--pm2", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--idle-secs", type=float, default=10.0)
    ap.add_argument("--anchors", default="supervisord,pm2,s6")
    ap.add_argument("--extra", default="", help="markdown file to append (log throughput)")
    A = ap.parse_args()
    TMP = os.environ.get("BENCH_TMP") or os.path.join("/tmp", "elife-pm-bench.%d" % os.getpid())
    os.makedirs(TMP, exist_ok=True)
    t_start = time.monotonic()
    info = machine()
    bus = start_bus()
    try:
        s = scripts()
        bench_pmd(s)
        for cls in (Supervisor, Pm2, S6):
            if cls.name in A.anchors.split(","):
                if cls is Pm2 and not A.pm2:
                    continue
                bench_anchor(cls, s)
    finally:
        reap_tagged()
        kill_pids([p for p in TRACKED if p != bus.pid and alive(p)])
        bus.terminate()
        bus.wait(5)
    build_rows()
    elapsed = time.monotonic() - t_start
    info["load_at_end"] = " ".join(open("/proc/loadavg").read().split()[:3])

    plain = render_plain()
    print(plain)
    print("\n(load average %s at start, %s at end; details in %s)" % (
        info["load_at_start"], info["load_at_end"], os.path.join(A.out, "RESULTS.md")))
    md = ["# elife-pm benchmark results", "",
          "Run %s by `bench/run.sh` in %.0f s." % (
              datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), elapsed), "",
          "Machine: %s, %d cores, %s MiB RAM, Linux %s, load average at start %s, "
          "at end %s." % (info["cpu"], info["cores"], int(info["mem_kib"]) // 1024,
                          info["kernel"], info["load_at_start"], info["load_at_end"]),
          "Versions: " + ", ".join("%s %s" % kv_ for kv_ in info["versions"].items()) + ".", "",
          "Cells: value (×ratio to the row's baseline, measured in the same run). "
          "Targets are issue 6's (and issue 3's for the `i3` rows); they apply to elife-pmd. "
          "Anchors run 200 children for item 3 (elife-pmd 1000), with their shortest grace "
          "for item 4: supervisord stopwaitsecs=1 + stopasgroup/killasgroup, pm2 kill_timeout=200 "
          "with PM2_KILL_SIGNAL=SIGTERM, s6 timeout-kill=200. Multi-process managers "
          "(s6: s6-svscan + one s6-supervise per service) are summed over their processes.", "",
          render_table(), ""]
    notes = []
    for a in ANCHORS:
        for k, v in RAW.get(a, {}).items():
            if isinstance(v, dict) and "error" in v:
                notes.append("- %s %s failed: %s" % (a, k, v["error"]))
    st = RAW["elife-pmd"]["start"]
    notes.append("- elife-pmd Start: %d running after 1000 calls; RSS idle %d KiB, with 1000 "
                 "children %d KiB, after StopAll %d KiB; fds %d → %d; StopAll of the 1000 "
                 "sleeps took %.0f ms." % (st["running"], st["rss_idle"], st["rss_1000"],
                                           st["rss_after_stopall"], st["fd_idle"], st["fd_1000"],
                                           st["stopall"]["stopall_ms"]))
    notes.append("- elife-pmd idle: watchdog context switches in the window: %d."
                 % RAW["elife-pmd"]["idle"]["watchdog_ctxt"])
    for a in ANCHORS:
        d = RAW.get(a, {}).get("start", {})
        if "pss_n" in d:
            notes.append("- %s with 200 children: RSS %d KiB, PSS %d KiB (sum over its "
                         "processes)." % (a, d["rss_n"], d["pss_n"]))
    if notes:
        md += ["Notes:", ""] + notes + [""]
    if A.extra and os.path.exists(A.extra):
        md += ["## Log throughput (items 1–2, bench/log-throughput)", "",
               open(A.extra).read().strip(), ""]
    md += ["<details><summary>raw figures (µs unless named otherwise)</summary>", "",
           "```json", json.dumps(dict(machine=info, raw=RAW), indent=1, default=str), "```",
           "</details>", ""]
    os.makedirs(A.out, exist_ok=True)
    with open(os.path.join(A.out, "RESULTS.md"), "w") as f:
        f.write("\n".join(md))
    log("wrote %s (%.0f s)" % (os.path.join(A.out, "RESULTS.md"), elapsed))
    if not os.environ.get("BENCH_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
