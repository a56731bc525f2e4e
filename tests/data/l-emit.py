#!/usr/bin/env python3
"""Writes exactly the bytes the log tests ask for, one write() per operation.

Each argument is an operation, done in order:
  out:TEXT    write TEXT to stdout (Python escapes: \\n \\r \\x1b \\x00 ...)
  err:TEXT    the same to stderr
  pat:N       write N bytes of a..z repeated (starting at 'a') to stdout,
              in one write() (it blocks until the daemon has read it all)
  lines:N:LEN write N lines of LEN bytes ("%08d " and a..z, then "\\n"),
              all in one write()
  sleep:MS    sleep MS milliseconds (the daemon sees separate reads)
  ready:PATH  write "PID\\n" to PATH (atomically)
  wait:PATH   wait until PATH exists
  exit:CODE   exit now with CODE
Without exit it exits 0 after the last operation.
"""
import codecs
import os
import sys
import time


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def main():
    for op in sys.argv[1:]:
        kind, _, arg = op.partition(":")
        if kind in ("out", "err"):
            data = codecs.escape_decode(arg.encode("utf-8"))[0]
            write_all(1 if kind == "out" else 2, data)
        elif kind == "pat":
            n = int(arg)
            alpha = b"abcdefghijklmnopqrstuvwxyz"
            write_all(1, (alpha * (n // 26 + 1))[:n])
        elif kind == "lines":
            n, length = (int(x) for x in arg.split(":"))
            alpha = b"abcdefghijklmnopqrstuvwxyz" * (length // 26 + 1)
            write_all(1, b"".join((b"%08d " % i + alpha)[:length] + b"\n"
                                  for i in range(n)))
        elif kind == "sleep":
            time.sleep(int(arg) / 1000.0)
        elif kind == "ready":
            with open(arg + ".tmp", "w") as f:
                f.write("%d\n" % os.getpid())
            os.rename(arg + ".tmp", arg)
        elif kind == "wait":
            while not os.path.exists(arg):
                time.sleep(0.01)
        elif kind == "exit":
            return int(arg)
        else:
            sys.stderr.write("l-emit.py: unknown operation %r\n" % op)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
