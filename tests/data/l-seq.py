#!/usr/bin/env python3
"""Writes numbered, checksummed lines for the log tests' checker.

Usage: l-seq.py ID COUNT [--pace MS] [--until PATH] [--stderr-every K]
                [--chunk MAX] [--ready PATH] [--wait PATH] [--burst N]

Line: "L ID STREAM SEQ PAYLOAD CSUM" where STREAM is o (stdout) or e
(stderr), SEQ counts all lines of this child, PAYLOAD has a length that
varies with SEQ and CSUM is FNV-1a 32 (8 hex digits) of everything before
" CSUM". Lines with SEQ % K == K-1 go to stderr (K=0: none).

COUNT > 0: write COUNT lines flat out, cut into writes of random sizes
(1..MAX bytes, seeded by ID), alternating streams, so that the daemon's reads
end mid-line; then exit 0.
COUNT = 0: write --burst lines (default 10) every --pace ms until the file
--until exists, then exit 0.
--ready PATH: write "PID\n" to PATH first; --wait PATH: then wait until PATH
exists before writing anything.
"""
import os
import random
import sys
import time

ALPHA = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def fnv1a(data):
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def line(cid, seq, stream):
    n = (seq * 7 + cid * 13) % 97
    start = seq % len(ALPHA)
    payload = (ALPHA * 3)[start:start + n] if n else b"-"
    body = b"L %d %s %d %s" % (cid, stream, seq, payload)
    return body + b" %08x\n" % fnv1a(body)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def main():
    args = sys.argv[1:]
    cid, count = int(args[0]), int(args[1])
    opts = {"--pace": "10", "--until": None, "--stderr-every": "5",
            "--chunk": "8192", "--ready": None, "--wait": None, "--burst": "10"}
    i = 2
    while i < len(args):
        opts[args[i]] = args[i + 1]
        i += 2
    k = int(opts["--stderr-every"])
    rng = random.Random(cid)

    def stream_of(seq):
        return b"e" if k and seq % k == k - 1 else b"o"

    if opts["--ready"]:
        with open(opts["--ready"] + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(opts["--ready"] + ".tmp", opts["--ready"])
    if opts["--wait"]:
        while not os.path.exists(opts["--wait"]):
            time.sleep(0.01)

    if count > 0:
        bufs = {b"o": bytearray(), b"e": bytearray()}
        for seq in range(count):
            s = stream_of(seq)
            bufs[s] += line(cid, seq, s)
        pos = {b"o": 0, b"e": 0}
        fds = {b"o": 1, b"e": 2}
        maxc = int(opts["--chunk"])
        while pos[b"o"] < len(bufs[b"o"]) or pos[b"e"] < len(bufs[b"e"]):
            for s in (b"o", b"e"):
                if pos[s] < len(bufs[s]):
                    n = rng.randint(1, maxc)
                    write_all(fds[s], bytes(bufs[s][pos[s]:pos[s] + n]))
                    pos[s] += n
        return 0

    pace = int(opts["--pace"]) / 1000.0
    burst = int(opts["--burst"])
    seq = 0
    until = opts["--until"]
    while until is None or not os.path.exists(until):
        chunk = {b"o": bytearray(), b"e": bytearray()}
        for _ in range(burst):
            s = stream_of(seq)
            chunk[s] += line(cid, seq, s)
            seq += 1
        # Cut each burst in two writes at a random point: mid-line reads.
        for s, fd in ((b"o", 1), (b"e", 2)):
            data = bytes(chunk[s])
            if data:
                cut = rng.randint(0, len(data))
                write_all(fd, data[:cut])
                write_all(fd, data[cut:])
        time.sleep(pace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
