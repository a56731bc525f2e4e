#!/usr/bin/env python3
"""scale.py — elife-pmd with 10,000 children (issue 17), not a test.

Each run starts a private dbus-daemon and a fresh daemon and measures, with
baselines from the same run:

  - Start latency, 1,000 sequential calls from pmdrv (C, GDBus) on an empty
    daemon: p50/p99, vs posix_spawn of the same /bin/sleep from C, and vs
    the floor of a Start over D-Bus: a bare GDBus method of pmdrv (second
    connection, own thread) that posix_spawns /bin/sleep and replies;
  - Start p50 of 200 calls with N-200 already running, same baseline;
  - daemon RSS and descriptors per child with N running;
  - List and GetManagedObjects with N processes (median of 20 / 5 calls), vs
    the GDBus floor: that very reply served by a bare GDBus object of pmdrv
    (no work per call), and Peer.Ping;
  - context switches of the daemon (all threads) over 10 s idle with N running;
  - StopAll of the N sleeps (default stopTimeout 200), vs its floor: 200 ms
    plus the GDBus floor of its 4 × N signals (Stopping, PropertiesChanged,
    Exited, InterfacesRemoved), pmdrv sending them from one thread; and vs
    that plus the kernel's share, N sleeps sent SIGTERM and reaped from C;
  - N crash restarts (4 children, /bin/false, restartAt [1]): wall time, the
    daemon's CPU per restart, its fds and RSS before and 1 s after.

N is 10,000, or what the hard RLIMIT_NOFILE allows at 2 descriptors a child
((hard - 200) / 2) when it is lower. Every figure is the median of
SCALE_RUNS runs (default 9), with the range. Output: a markdown table on
stdout and in bench/results/scale.md; progress on stderr.

Environment: SCALE_RUNS (9), SCALE_N (10000), SCALE_IDLE_SECS (10),
PMDRV (a built pmdrv; else it is compiled into the temp dir).
"""
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PMD = os.environ.get("ELIFE_PMD", os.path.join(ROOT, "build", "src", "elife-pmd"))
RESULTS = os.path.join(HERE, "results", "scale.md")
RUNS = int(os.environ.get("SCALE_RUNS", "9"))
IDLE = float(os.environ.get("SCALE_IDLE_SECS", "10"))
CLK = os.sysconf("SC_CLK_TCK")
TMP = None


def log(msg):
    sys.stderr.write("[scale %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


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


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rpartition(")")[2].split()
    return (int(rest[11]) + int(rest[12])) * 1000.0 / CLK


def ctxt(pid):
    tot = 0
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, t)) as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    tot += int(line.split()[1])
    return tot


class Run:
    """A private bus and a fresh daemon."""

    def __init__(self, driver, n):
        self.driver = driver
        self.n = n
        self.dir = tempfile.mkdtemp(dir=TMP)
        conf = os.path.join(self.dir, "bus.conf")
        with open(conf, "w") as f:
            f.write('<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>'
                    '<auth>EXTERNAL</auth><policy context="default">'
                    '<allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>'
                    '<allow own="*"/></policy></busconfig>\n')
        self.bus = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork",
                                     "--print-address=1"], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
        self.addr = self.bus.stdout.readline().strip()
        self.out = open(os.path.join(self.dir, "pmd.out"), "w")
        self.pmd = subprocess.Popen([PMD, "--address", self.addr, "--state-dir",
                                     os.path.join(self.dir, "state")],
                                    stdout=self.out, stderr=subprocess.STDOUT, cwd=self.dir)
        self.drv("wait-name", 10)

    def drv(self, *args, timeout=600):
        r = subprocess.run([self.driver, self.addr] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("pmdrv %s: %s" % (args[0], r.stderr.strip()[-300:]))
        return kv(r.stdout)

    def close(self):
        for p in (self.pmd, self.bus):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def one_run(driver, n):
    r = {}
    base = Run(driver, n)
    try:
        b = base.drv("baseline-spawn", 1000, "/bin/sleep", "1000")
        r["spawn_p50"], r["spawn_p99"] = b["spawn_us_p50"] / 1000, b["spawn_us_p99"] / 1000
        b = base.drv("spawn-floor", 1000, "/bin/sleep", "1000")
        r["sfloor_p50"] = b["spawn_floor_us_p50"] / 1000
        r["sfloor_p99"] = b["spawn_floor_us_p99"] / 1000
        pid = base.pmd.pid
        base.drv("ping", 20)
        time.sleep(0.3)
        rss0, fd0 = status_kib(pid, "VmRSS"), nfds(pid)
        s1 = base.drv("start", 1000, "/bin/sleep", "-a", "1000", "-n", "s")
        r["start_p50"], r["start_p99"] = s1["start_us_p50"] / 1000, s1["start_us_p99"] / 1000
        base.drv("start", n - 1200, "/bin/sleep", "-a", "1000", "-n", "s")
        s2 = base.drv("start", 200, "/bin/sleep", "-a", "1000", "-n", "s")
        r["start_full_p50"] = s2["start_us_p50"] / 1000
        time.sleep(0.5)
        r["rss_child"] = (status_kib(pid, "VmRSS") - rss0) / n
        r["fds_child"] = (nfds(pid) - fd0) / n
        r["ping"] = base.drv("ping", 20)["ping_us_p50"] / 1000
        lst = base.drv("call", 20, "List")
        r["list"] = lst["call_us_p50"] / 1000
        r["list_floor"] = base.drv("floor", 20, "List")["floor_us_p50"] / 1000
        r["gmo"] = base.drv("call", 5, "GetManagedObjects")["call_us_p50"] / 1000
        r["gmo_floor"] = base.drv("floor", 5, "GetManagedObjects")["floor_us_p50"] / 1000
        r["gmo_mb"] = base.drv("floor", 1, "GetManagedObjects")["reply_bytes"] / 1e6
        time.sleep(1.0)
        c0 = ctxt(pid)
        time.sleep(IDLE)
        r["idle_ctxt"] = ctxt(pid) - c0
        c0 = cpu_ms(pid)
        sa = base.drv("stopall")
        r["stopall"] = sa["stopall_ms"]
        r["stopall_cpu"] = cpu_ms(pid) - c0
        r["stopped"] = sa["count"]
        # The same run's floor for those messages: 4 × N signals sent by
        # pmdrv from one thread, with the daemon idle.
        em = base.drv("emit", n)
        r["emit_ms"] = em["emit_ms"]
        r["emit_cpu"] = em["emit_cpu_ms"]
        # And the kernel's share: SIGTERM to N sleeps and reaping them,
        # from C (the children's exits cost CPU on the same cores).
        kl = base.drv("baseline-kill", n)
        r["kill_ms"] = kl["kill_ms"]
        r["stopall_floor"] = 200 + em["emit_ms"]
        r["stopall_floor2"] = 200 + em["emit_ms"] + kl["kill_ms"]

        # Crash restarts: 4 in parallel until n in all.
        time.sleep(1.0)
        rss0, fd0 = status_kib(pid, "VmRSS"), nfds(pid)
        c0, t0 = cpu_ms(pid), time.monotonic()
        for _ in range(4):
            base.drv("start", 1, "/bin/false", "-r", 1, "-n", "crash")
        while True:
            time.sleep(0.2)
            if base.drv("list")["restarts"] >= n:
                break
        r["crash_s"] = time.monotonic() - t0
        total = base.drv("list")["restarts"]
        base.drv("stop", "crash")
        r["crash_cpu_us"] = (cpu_ms(pid) - c0) * 1000 / total
        time.sleep(1.5)
        r["crash_dfd"] = nfds(pid) - fd0
        r["crash_drss"] = status_kib(pid, "VmRSS") - rss0
    finally:
        base.close()
    loop = Run(driver, n)
    try:
        bl = loop.drv("baseline-lateness", 2000, 1, "/bin/false")
        r["loop_cpu_us"] = bl["self_cpu_ms"] * 1000 / bl["late_us_n"]
    finally:
        loop.close()
    return r


def med(runs, key):
    xs = [r[key] for r in runs]
    return statistics.median(xs), min(xs), max(xs)


def fmt(v):
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def main():
    global TMP
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    n = int(os.environ.get("SCALE_N", "10000"))
    if hard != resource.RLIM_INFINITY and hard < 2 * n + 200:
        n = (hard - 200) // 2
    # The driver holds a connection; the daemon raises its own limit.
    TMP = tempfile.mkdtemp(prefix="elife-pm-scale-")
    try:
        driver = os.environ.get("PMDRV")
        if not driver:
            driver = os.path.join(TMP, "pmdrv")
            cflags = subprocess.run(["pkg-config", "--cflags", "--libs", "gio-2.0"],
                                    capture_output=True, text=True, check=True).stdout.split()
            subprocess.run(["cc", "-O2", "-o", driver, os.path.join(HERE, "pmdrv.c")] + cflags +
                           ["-lm"], check=True)
        runs = []
        load0 = open("/proc/loadavg").read().split()[:3]
        for i in range(RUNS):
            t0 = time.monotonic()
            runs.append(one_run(driver, n))
            log("run %d/%d (%.0f s): %s" % (i + 1, RUNS, time.monotonic() - t0,
                                          ", ".join("%s=%s" % (k, fmt(v))
                                                    for k, v in runs[-1].items())))
        load1 = open("/proc/loadavg").read().split()[:3]
    finally:
        shutil.rmtree(TMP, ignore_errors=True)

    def cell(key, unit=""):
        m, lo, hi = med(runs, key)
        return "%s%s (%s–%s)" % (fmt(m), unit, fmt(lo), fmt(hi))

    def ratio(key, base):
        xs = sorted(r[key] / r[base] for r in runs if r[base])
        return "×%s" % fmt(statistics.median(xs)) if xs else ""

    def ok(key, limit):
        return "✓" if med(runs, key)[0] <= limit else "✗"

    rows = [
        ("Start p50, 1,000 calls from empty (ms)", cell("spawn_p50"), cell("start_p50"),
         ratio("start_p50", "spawn_p50"), "≤ 1.0 " + ok("start_p50", 1.0)),
        ("Start p99, same calls (ms)", cell("spawn_p99"), cell("start_p99"),
         ratio("start_p99", "spawn_p99"), "≤ 3 " + ok("start_p99", 3.0)),
        ("Start p50 against its D-Bus floor (ms)",
         "posix_spawn behind a bare GDBus method " + cell("sfloor_p50"), cell("start_p50"),
         ratio("start_p50", "sfloor_p50"), "—"),
        ("Start p99 against its D-Bus floor (ms)",
         "posix_spawn behind a bare GDBus method " + cell("sfloor_p99"), cell("start_p99"),
         ratio("start_p99", "sfloor_p99"), "—"),
        ("Start p50 with %d running, 200 calls (ms)" % (n - 200), cell("spawn_p50"),
         cell("start_full_p50"), ratio("start_full_p50", "spawn_p50"),
         "≤ 1.5 " + ok("start_full_p50", 1.5)),
        ("daemon RSS per child (KiB)", "—", cell("rss_child"), "", "≤ 6 " + ok("rss_child", 6)),
        ("daemon fds per child", "2 (two pipes)", cell("fds_child"), "", "—"),
        ("List, %d processes, median of 20 (ms)" % n, "GDBus floor " + cell("list_floor"),
         cell("list"), ratio("list", "list_floor"), "≤ 20 " + ok("list", 20)),
        ("GetManagedObjects, %d processes, median of 5 (ms)" % n,
         "GDBus floor " + cell("gmo_floor"), cell("gmo"), ratio("gmo", "gmo_floor"),
         "≤ 100 " + ok("gmo", 100)),
        ("Peer.Ping to the daemon with %d processes (ms)" % n, "—", cell("ping"), "", "—"),
        ("context switches, %.0f s idle, %d children" % (IDLE, n), "—", cell("idle_ctxt"), "",
         "0 " + ok("idle_ctxt", 0)),
        ("StopAll of %d sleeps, stopTimeout 200 (ms)" % n,
         "200 (stopTimeout) + GDBus floor " + cell("stopall_floor"),
         cell("stopall"), ratio("stopall", "stopall_floor"), "≤ 1500 " + ok("stopall", 1500)),
        ("StopAll against messages and exits (ms)",
         "200 + GDBus floor + SIGTERM and reap of the %d sleeps from C %s, one after the "
         "other: " % (n, cell("kill_ms")) + cell("stopall_floor2"),
         cell("stopall"), ratio("stopall", "stopall_floor2"), "—"),
        ("StopAll: daemon CPU (ms)", "GDBus floor (CPU) " + cell("emit_cpu"),
         cell("stopall_cpu"), ratio("stopall_cpu", "emit_cpu"), "—"),
        ("GDBus floor: the %d messages of StopAll (4 × %d signals) sent from one thread (ms)"
         % (4 * n, n), "—", cell("emit_ms"), "", "—"),
        ("%d crash restarts, 4 × restartAt [1]: wall (s)" % n, "—", cell("crash_s"), "", "—"),
        ("crash restarts: daemon CPU per restart (µs)", "C GLib loop " + cell("loop_cpu_us"),
         cell("crash_cpu_us"), ratio("crash_cpu_us", "loop_cpu_us"), "—"),
        ("crash restarts: daemon fds after − before", "0", cell("crash_dfd"), "",
         "0 " + ok("crash_dfd", 0)),
        ("crash restarts: daemon RSS after − before, 1.5 s later (KiB)", "—",
         cell("crash_drss"), "", "back to baseline " + ok("crash_drss", 1024)),
    ]
    md = ["| measurement | baseline (same run) | elife-pmd | ratio | target |",
          "|---|---|---|---|---|"]
    for r in rows:
        md.append("| " + " | ".join(r) + " |")
    md += ["", "N = %d (hard RLIMIT_NOFILE %s); medians of %d runs, range in brackets; load "
           "average %s at start, %s at end; %d CPUs. GDBus floor: pmdrv serving the daemon's "
           "own reply from a bare GDBus object on a second connection (serialising, the bus, "
           "the client's parse; no work per call). D-Bus floor of Start: a GDBus method of pmdrv "
           "on a second connection whose only work is posix_spawn of /bin/sleep (each "
           "child's exec and libc start-up, ~0.7 ms of CPU on these machines, competes with "
           "the calls on 2 CPUs in both). GDBus floor of StopAll: 200 ms plus pmdrv "
           "emitting the same 4 × N signals from one thread (nothing else done per process)."
           % (n, hard, RUNS, " ".join(load0), " ".join(load1), os.cpu_count())]
    text = "\n".join(md) + "\n"
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        f.write("# Scale (bench/scale.py)\n\n" + text)
    log("wrote %s" % RESULTS)


if __name__ == "__main__":
    main()
