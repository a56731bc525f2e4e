#!/usr/bin/env python3
"""log-throughput.py — how fast elife-pmd writes children's lines to log files.

Issue 4's benchmark (not a test). Builds nothing of the project: it uses
build/src/elife-pmd as it is (run `ninja -C build` first). It compiles a small
C producer with `cc` into a temp dir, starts a private dbus-daemon and the
daemon on it, and measures, in the same run:

  1. one child writing 1 GB of 100-byte lines to its log, timed until the
     file holds them all, vs the same producer piped through `cat > file`
     (target: ≥ 0.95× of cat's throughput; issue 17);
  2. the same with stripANSI on coloured lines (target ≥ 0.8×);
  3. 8 children into one file vs 8 producers into 8 cats (target ≥ 0.9×);
  4. case 1 with logMaxBytes 1 MiB (rotation, 5 backups) vs case 1 without
     rotation, alternated run by run (target ≥ 0.9×; issue 15); the end is
     the moment the last rotation has created the file that ends up holding
     the tail (counted with inotify) and that file holds it all;

plus the daemon's CPU seconds per 100 MB (utime+stime from /proc/PID/stat)
and its peak RSS (VmHWM from /proc/PID/status).

The table goes to stdout (markdown; bench/run.sh includes it in RESULTS.md)
and to bench/results/log-throughput.md; progress goes to stderr. Only the
processes started here are stopped, by PID.

Environment: LT_MB (default 1000; 200 MB runs took 60-80 ms, a few of the
2 ms polls that time them) total megabytes per case, LT_REPS (9)
repetitions per case (the median is reported), LT_DIR a directory for the
files (default: a new temp dir; use it to measure on another file system),
LT_CASES which cases to run (default "plain,strip,shared,ceiling,rotate"; "ceiling"
is not the daemon: 8 cats appending to one file against 8 files, what the
kernel allows one file at all).
LT_TIMEOUT (300) seconds a rotating run may take before it counts as failed.
LT_WARM_GB how many GB of memory to touch once before measuring (default: all
but 2 GB of MemAvailable, at most 64; 0: none). On a virtual machine whose
memory the host backs on first touch, page cache on never-touched memory is
written ~4x slower (measured: 0.5 GB/s first touch, 2 GB/s after, through
MAP_POPULATE): without it, whichever run got fresh pages was that much slower,
cat's or the daemon's.
ELIFE_PMD the daemon to measure (default build/src/elife-pmd).
"""
import ctypes
import os
import shutil
import struct
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PMD = os.environ.get("ELIFE_PMD", os.path.join(ROOT, "build", "src", "elife-pmd"))
RESULTS = os.path.join(HERE, "results", "log-throughput.md")

MB = int(os.environ.get("LT_MB", "1000"))
REPS = int(os.environ.get("LT_REPS", "9"))
CASES = os.environ.get("LT_CASES", "plain,strip,shared,ceiling,rotate").split(",")
LINE = 100
# The producer's buffer: 10,000 lines of 100 bytes, written with one write()
# of up to 1 MB at a time, so the producer costs next to nothing.
BLOCK = 10000 * LINE
TOTAL = MB * 1000 * 1000 // BLOCK * BLOCK
# Escape bytes per coloured line (see PRODUCER_C): they go, the text stays.
ESC_BYTES = 20

PRODUCER_C = r"""
#include <errno.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { LINES = 10000, LEN = 100 };
static char buf[LINES * LEN];

int
main (int argc, char **argv)
{
  long long total = atoll (argv[1]);
  int colour = argc > 2 && atoi (argv[2]);
  int id = argc > 3 ? atoi (argv[3]) : 0;
  const char *go = argc > 4 ? argv[4] : NULL;

  for (int i = 0; i < LINES; i++)
    {
      char *l = buf + (size_t) i * LEN;
      int n;

      /* Coloured: exactly 20 escape bytes a line (7 + 4 + 4 + 5). */
      if (colour)
        n = snprintf (l, LEN, "\033[1;3%dmINFO\033[0m \033[2m%02d:%06d\033[22m worker ",
                      i % 8, id, i);
      else
        n = snprintf (l, LEN, "INFO %02d:%06d worker ", id, i);
      memset (l + n, 'a' + i % 26, LEN - 1 - n);
      l[LEN - 1] = '\n';
    }
  /* Everything is spawned before the clock starts: wait for the signal. */
  while (go != NULL && access (go, F_OK) != 0)
    nanosleep (&(struct timespec) { 0, 500000 }, NULL);
  while (total > 0)
    {
      size_t chunk = total < (long long) sizeof buf ? (size_t) total : sizeof buf;
      size_t off = 0;

      while (off < chunk)
        {
          ssize_t w = write (1, buf + off, chunk - off);

          if (w < 0 && errno == EINTR)
            continue;
          if (w < 0)
            return 1;
          off += (size_t) w;
        }
      total -= (long long) chunk;
    }
  return 0;
}
"""

WARM_GB = os.environ.get("LT_WARM_GB")

TMP = None
STARTED = []        # Popen objects we started (stopped by PID at the end)
CLK = os.sysconf("SC_CLK_TCK")


def log(msg):
    sys.stderr.write("[log-throughput] %s\n" % msg)
    sys.stderr.flush()


# ---- /proc ---------------------------------------------------------------------

def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_kb(path, field):
    """A "Field:   N kB" line of a /proc file (status, meminfo); 0 if absent."""
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def status_kb(pid, field):
    return proc_kb("/proc/%d/status" % pid, field)


# ---- the bus and the daemon -------------------------------------------------------

def start_bus():
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    STARTED.append(bus)
    addr = bus.stdout.readline().strip()
    if not addr:
        raise SystemExit("dbus-daemon gave no address")
    return addr


def gdbus(addr, method, *args, check=True):
    cmd = ["gdbus", "call", "-a", addr, "-d", "org.elife.ProcessManager",
           "-o", "/org/elife/ProcessManager", "-m", "org.elife.ProcessManager." + method]
    cmd += list(args)
    res = subprocess.run(cmd, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise SystemExit("gdbus %s failed: %s" % (method, res.stderr.strip()))
    return res.stdout.strip()


def start_daemon(addr):
    err = open(os.path.join(TMP, "elife-pmd.err"), "w")
    pmd = subprocess.Popen([PMD, "--address", addr], stdout=subprocess.DEVNULL,
                           stderr=err, cwd=TMP)
    STARTED.append(pmd)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        res = subprocess.run(["gdbus", "call", "-a", addr, "-d", "org.freedesktop.DBus",
                              "-o", "/org/freedesktop/DBus", "-m",
                              "org.freedesktop.DBus.NameHasOwner", "org.elife.ProcessManager"],
                             capture_output=True, text=True)
        if "true" in res.stdout:
            return pmd
        if pmd.poll() is not None:
            raise SystemExit("elife-pmd exited with %s" % pmd.returncode)
        time.sleep(0.05)
    raise SystemExit("elife-pmd did not own its name within 10 s")


def start_opts(producer, args, logpath, strip, max_bytes=0):
    argv = ", ".join("'%s'" % a for a in args)
    return ("{'script': <'%s'>, 'args': <[%s]>, 'log': <'%s'>, 'restart': <'never'>, "
            "'stripANSI': <%s>, 'logMaxBytes': <uint64 %d>}"
            % (producer, argv, logpath, "true" if strip else "false", max_bytes))


def warm_memory():
    """Touches most of the free memory once and gives it back (see LT_WARM_GB),
    so that no run's page cache lands on memory the host has yet to back."""
    if WARM_GB is not None:
        gb = int(WARM_GB)
    else:
        gb = min(64, proc_kb("/proc/meminfo", "MemAvailable") // (1 << 20) - 2)
    if gb <= 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    prot, flags = 0x1 | 0x2, 0x02 | 0x20 | 0x8000   # RW; PRIVATE|ANONYMOUS|POPULATE
    chunk = 1 << 30
    maps = []
    t0 = time.monotonic()
    try:
        for _ in range(gb):
            # Held until every chunk is touched: each takes new memory.
            addr = libc.mmap(None, chunk, prot, flags, -1, 0)
            if addr is None or addr == ctypes.c_void_p(-1).value:
                break
            maps.append(addr)
    finally:
        for addr in maps:
            libc.munmap(addr, chunk)
    log("touched %d GB of memory once in %.1f s" % (len(maps), time.monotonic() - t0))


# ---- measurements ------------------------------------------------------------------

def wait_size(path, size, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.stat(path).st_size >= size:
                return time.monotonic()
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    have = os.stat(path).st_size if os.path.exists(path) else 0
    raise SystemExit("%s holds %d of %d bytes after %d s" % (path, have, size, timeout))


def new_go():
    go = os.path.join(TMP, "go")
    if os.path.exists(go):
        os.unlink(go)
    return go


def release(go):
    """Lets every waiting producer write; returns the start time."""
    time.sleep(0.2)       # every producer and cat is up and waiting
    t0 = time.monotonic()
    open(go, "w").close()
    return t0


def run_cat(producer, n, per_child, colour, one_file=False):
    """n producers, each piped through its own cat into its own file; with
    one_file, every cat appends (O_APPEND) to the same file instead."""
    if one_file:
        outs = [os.path.join(TMP, "cat-all.log")]
        open(outs[0], "wb").close()
    else:
        outs = [os.path.join(TMP, "cat-%d.log" % i) for i in range(n)]
    go = new_go()
    procs = []
    for i in range(n):
        f = open(outs[0], "ab") if one_file else open(outs[i], "wb")
        p = subprocess.Popen([producer, str(per_child), str(colour), str(i), go],
                             stdout=subprocess.PIPE)
        c = subprocess.Popen(["cat"], stdin=p.stdout, stdout=f)
        p.stdout.close()
        f.close()
        procs += [p, c]
    size = per_child * n if one_file else per_child
    t0 = release(go)
    t = max(wait_size(out, size) for out in outs) - t0
    for p in procs:
        p.wait()
    for out in outs:
        assert os.path.getsize(out) == size, out
        os.unlink(out)
    return t


def ceiling_case(producer, title, n):
    """Not elife-pmd: n cats appending to one file against n cats into n
    files, alternated run by run. What the kernel allows one file (its
    writes to one inode are serialised) next to n files; the cats tear
    lines, which is why no line-atomic writer can use that shortcut."""
    per_child = TOTAL // n // BLOCK * BLOCK
    many, one = [], []
    for r in range(REPS):
        many.append(run_cat(producer, n, per_child, 0))
        one.append(run_cat(producer, n, per_child, 0, one_file=True))
        log("%s, run %d: %d files %.3f s, one file %.3f s" % (title, r + 1, n, many[-1], one[-1]))
    tm, to = median(many), median(one)
    mb = per_child * n / 1e6
    pair = sorted(m / o for m, o in zip(many, one))
    return {
        "title": title, "mb": mb, "cat_s": tm, "pmd_s": to, "baseline": "%d files" % n,
        "cat_mbs": mb / tm, "pmd_mbs": mb / to, "ratio": tm / to, "target": None,
        "cpu_per_100mb": float("nan"), "ok": True,
        "run_lo": pair[0], "run_med": median(pair), "run_hi": pair[-1],
    }


def run_daemon(addr, pmd, producer, n, per_child, colour, strip):
    """n children of the daemon, all logging into one file."""
    out = os.path.join(TMP, "pmd.log")
    expect = n * per_child
    if strip:
        expect = expect * (LINE - ESC_BYTES) // LINE
    go = new_go()
    for i in range(n):
        gdbus(addr, "Start", start_opts(producer, [per_child, colour, i, go], out, strip))
    cpu0 = cpu_seconds(pmd.pid)
    t0 = release(go)
    t1 = wait_size(out, expect)
    t = t1 - t0
    # The file must hold exactly that: no more (nothing doubled or left in).
    time.sleep(0.05)
    size = os.path.getsize(out)
    if size != expect:
        raise SystemExit("%s holds %d bytes, expected %d" % (out, size, expect))
    if strip:
        with open(out, "rb") as f:
            if b"\033" in f.read(4 << 20):
                raise SystemExit("stripANSI left escape bytes in the log")
    cpu = cpu_seconds(pmd.pid) - cpu0
    gdbus(addr, "StopAll")
    os.unlink(out)
    return t, cpu


# ---- rotation --------------------------------------------------------------------

ROTATE_MAX = 1 << 20
ROTATE_BACKUPS = 5          # the default
IN_CREATE = 0x100
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
LIBC = ctypes.CDLL(None, use_errno=True)


class Creates:
    """Counts files created under a name in TMP (inotify): every rotation
    creates the log anew. Rotations come faster than any poll could see.
    The renames are watched too: inotify merges an event with an identical
    one still unread, and a rename comes between two creates."""

    def __init__(self, name):
        self.name = name.encode()
        self.fd = LIBC.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or LIBC.inotify_add_watch(self.fd, TMP.encode(),
                                                   IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO) < 0:
            raise SystemExit("inotify: %s" % os.strerror(ctypes.get_errno()))
        self.count = 0

    def poll(self):
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return self.count
            off = 0
            while off < len(data):
                _, mask, _, n = struct.unpack_from("iIII", data, off)
                name = data[off + 16:off + 16 + n].rstrip(b"\0")
                if mask & (IN_CREATE | IN_MOVED_TO) and name == self.name:
                    self.count += 1
                off += 16 + n

    def close(self):
        os.close(self.fd)


def run_rotating(addr, pmd, producer, per_child):
    """One child logging with logMaxBytes 1 MiB: timed until the rotations
    that the bytes call for are done and the log holds the tail."""
    out = os.path.join(TMP, "rot.log")
    per_file = ROTATE_MAX // LINE * LINE        # whole lines only
    lines_per_file = per_file // LINE
    n_lines = per_child // LINE
    rotations = (n_lines - 1) // lines_per_file
    tail = per_child - rotations * per_file
    go = new_go()
    gdbus(addr, "Start", start_opts(producer, [per_child, 0, 0, go], out, False, ROTATE_MAX))
    creates = Creates("rot.log")                # after Start created the first one
    cpu0 = cpu_seconds(pmd.pid)
    t0 = release(go)
    deadline = time.monotonic() + float(os.environ.get('LT_TIMEOUT', '300'))
    while True:
        if creates.poll() >= rotations:
            try:
                if os.stat(out).st_size >= tail:
                    break
            except FileNotFoundError:
                pass
        if time.monotonic() > deadline:
            listing = sorted((n, os.path.getsize(os.path.join(TMP, n)))
                             for n in os.listdir(TMP) if n.startswith("rot.log"))
            raise SystemExit("%d of %d rotations after 300 s: %s" % (creates.count, rotations,
                                                                    listing))
        time.sleep(0.002)
    t = time.monotonic() - t0
    time.sleep(0.05)
    creates.poll()
    creates.close()
    if creates.count != rotations or os.path.getsize(out) != tail:
        raise SystemExit("%d rotations and %d bytes in the log, expected %d and %d"
                         % (creates.count, os.path.getsize(out), rotations, tail))
    for i in range(1, min(rotations, ROTATE_BACKUPS) + 1):
        if os.path.getsize("%s.%d" % (out, i)) != per_file:
            raise SystemExit("%s.%d is not %d bytes" % (out, i, per_file))
    if os.path.exists("%s.%d" % (out, ROTATE_BACKUPS + 1)):
        raise SystemExit("more than %d backups" % ROTATE_BACKUPS)
    cpu = cpu_seconds(pmd.pid) - cpu0
    gdbus(addr, "StopAll")
    for name in os.listdir(TMP):
        if name.startswith("rot.log"):
            os.unlink(os.path.join(TMP, name))
    return t, cpu


def rotate_case(addr, pmd, producer, title, target):
    """Case 1 with and without rotation, alternated, so that both see the
    same load; the ratio of the medians, and the spread of the paired runs."""
    per_child = TOTAL
    plain, rot, cpus, pairs = [], [], [], []
    for r in range(REPS):
        t0, _ = run_daemon(addr, pmd, producer, 1, per_child, 0, False)
        t1, cpu = run_rotating(addr, pmd, producer, per_child)
        plain.append(t0)
        rot.append(t1)
        cpus.append(cpu)
        pairs.append(t0 / t1)
        log("%s, run %d: without %.3f s, with rotation %.3f s (CPU %.3f s)"
            % (title, r + 1, t0, t1, cpu))
    tp, tr = median(plain), median(rot)
    mb = per_child / 1e6
    ratio = tp / tr
    pairs.sort()
    return {
        "title": title, "mb": mb, "cat_s": tp, "pmd_s": tr, "baseline": "no rotation",
        "cat_mbs": mb / tp, "pmd_mbs": mb / tr, "ratio": ratio, "target": target,
        "cpu_per_100mb": median(cpus) / (mb / 100), "ok": ratio >= target,
        "run_lo": pairs[0], "run_med": median(pairs), "run_hi": pairs[-1],
    }


def median(xs):
    return statistics.median(xs)


def case(addr, pmd, producer, title, n, colour, strip, target):
    per_child = TOTAL // n // BLOCK * BLOCK
    total = per_child * n
    cats, pms, cpus = [], [], []
    for r in range(REPS):
        cats.append(run_cat(producer, n, per_child, colour))
        t, cpu = run_daemon(addr, pmd, producer, n, per_child, colour, strip)
        pms.append(t)
        cpus.append(cpu)
        log("%s, run %d: cat %.3f s, elife-pmd %.3f s (CPU %.3f s)"
            % (title, r + 1, cats[-1], t, cpu))
    tc, tp, cpu = median(cats), median(pms), median(cpus)
    mb = total / 1e6
    ratio = tc / tp
    # Each run's own ratio (its cat and its daemon, back to back): the spread.
    pair = sorted(c / p for c, p in zip(cats, pms))
    return {
        "title": title, "mb": mb, "cat_s": tc, "pmd_s": tp,
        "cat_mbs": mb / tc, "pmd_mbs": mb / tp, "ratio": ratio, "target": target,
        "cpu_per_100mb": cpu / (mb / 100), "ok": ratio >= target,
        "run_lo": pair[0], "run_med": median(pair), "run_hi": pair[-1],
    }


def table(rows, extra):
    md = ["| case | MB | cat → file | elife-pmd → log | ratio | per-run ratios | target | CPU s / 100 MB |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        base = ("%s: " % r["baseline"]) if "baseline" in r else ""
        target = "—" if r["target"] is None else "≥ %.2f×" % r["target"]
        mark = "" if r["target"] is None else ("✓" if r["ok"] else "✗")
        cpu = "—" if r["cpu_per_100mb"] != r["cpu_per_100mb"] else "%.3f" % r["cpu_per_100mb"]
        md.append("| %s | %.0f | %s%.0f MB/s (%.2f s) | %.0f MB/s (%.2f s) | %.2f× %s | %.2f (%.2f–%.2f) | %s | %s |"
                  % (r["title"], r["mb"], base, r["cat_mbs"], r["cat_s"], r["pmd_mbs"], r["pmd_s"],
                     r["ratio"], mark, r["run_med"], r["run_lo"], r["run_hi"],
                     target, cpu))
    md.append("")
    md += extra
    return "\n".join(md) + "\n"


def main():
    global TMP

    if not os.access(PMD, os.X_OK):
        raise SystemExit("%s is missing: run `ninja -C build` first" % PMD)
    for tool in ("cc", "dbus-daemon", "gdbus", "cat"):
        if shutil.which(tool) is None:
            raise SystemExit("%s is needed" % tool)

    TMP = tempfile.mkdtemp(prefix="elife-pm-log-bench-", dir=os.environ.get("LT_DIR"))
    try:
        producer = os.path.join(TMP, "producer")
        with open(producer + ".c", "w") as f:
            f.write(PRODUCER_C)
        subprocess.run(["cc", "-O2", "-o", producer, producer + ".c"], check=True)

        warm_memory()
        addr = start_bus()
        pmd = start_daemon(addr)
        rss0 = status_kb(pmd.pid, "VmRSS")
        log("elife-pmd pid %d on %s; %d MB per case, %d runs each, files in %s"
            % (pmd.pid, addr, TOTAL // 1000000, REPS, TMP))

        cases = {
            # Issue 17's targets.
            "plain": ("1 child, plain lines", 1, 0, False, 0.95),
            "strip": ("1 child, coloured lines, stripANSI", 1, 1, True, 0.8),
            "shared": ("8 children → 1 file (vs 8 cats → 8 files)", 8, 0, False, 0.9),
        }
        def one(c):
            if c == "rotate":
                return rotate_case(addr, pmd, producer,
                                   "1 child, plain lines, logMaxBytes 1 MiB (vs the same without rotation)",
                                   0.9)
            if c == "ceiling":
                return ceiling_case(producer, "not elife-pmd: 8 cats → 1 file, O_APPEND, torn lines "
                                    "(vs 8 cats → 8 files): the kernel's ceiling for one file", 8)
            return case(addr, pmd, producer, *cases[c])
        rows = [one(c) for c in CASES]
        hwm = status_kb(pmd.pid, "VmHWM")
        time.sleep(1)       # the writers free their buffers once idle
        rss1 = status_kb(pmd.pid, "VmRSS")
        uname = os.uname()
        extra = [
            "elife-pmd peak RSS (VmHWM): %d KiB (RSS %d KiB at start, %d KiB 1 s after the end)."
            % (hwm, rss0, rss1),
            "",
            "Lines of %d bytes; times are medians of %d runs, from the moment the "
            "already spawned producers may write until the file(s) hold every byte. stripANSI removes %d of each "
            "line's %d bytes; its ratio compares the same producer's raw bytes through cat. "
            "CPU is the daemon's utime+stime. Machine: %s %s, %d CPUs; files in %s."
            % (LINE, REPS, ESC_BYTES, LINE, uname.sysname, uname.release,
               os.cpu_count(), os.path.dirname(TMP)),
        ]
        text = table(rows, extra)
        sys.stdout.write(text)
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, "w") as f:
            f.write("# Log throughput (bench/log-throughput.py)\n\n" + text)
        log("wrote %s" % RESULTS)
    finally:
        for p in reversed(STARTED):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
