#!/usr/bin/env python3
# An sd_notify service written against the protocol by hand (no libsystemd):
# ready-notify.py GO MARKER [key=value ...]
#   waits until the file GO exists ("-": does not wait), writes MARKER (its
#   pid and watchdog environment) and then sends READY=1.
#   status=TEXT   STATUS=TEXT sent on start, and STATUS=serving with READY=1
#   delay=S       sleeps S seconds before getting ready
#   exit=N        exits with N right after READY=1
#   never=1       never sends READY=1 (and hangs)
#   once=PATH     ready only when PATH does not exist yet (creates it)
#   ping=MS       then sends WATCHDOG=1 every MS ms ...
#   pings=N       ... N times (default: forever), then hangs without pinging
import os
import socket
import sys
import time


def notify(message):
    address = os.environ["NOTIFY_SOCKET"]
    # An abstract socket name is written with a leading '@'.
    if address.startswith("@"):
        address = "\0" + address[1:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.connect(address)
        sock.sendall(message.encode())
    finally:
        sock.close()


go, marker = sys.argv[1], sys.argv[2]
opts = dict(arg.split("=", 1) for arg in sys.argv[3:])

if "status" in opts:
    notify("STATUS=" + opts["status"])
while go != "-" and not os.path.exists(go):
    time.sleep(0.02)
time.sleep(float(opts.get("delay", "0")))

never = opts.get("never") == "1"
if "once" in opts:
    if os.path.exists(opts["once"]):
        never = True
    else:
        open(opts["once"], "w").close()

if not never:
    with open(marker + ".tmp", "w") as f:
        f.write("pid=%d\n" % os.getpid())
        f.write("WATCHDOG_PID=%s\n" % os.environ.get("WATCHDOG_PID", ""))
        f.write("WATCHDOG_USEC=%s\n" % os.environ.get("WATCHDOG_USEC", ""))
    os.rename(marker + ".tmp", marker)
    notify("READY=1\nSTATUS=serving" if "status" in opts else "READY=1")

if never:
    while True:
        time.sleep(3600)
if "exit" in opts:
    sys.exit(int(opts["exit"]))

if "ping" in opts:
    pings = int(opts.get("pings", "-1"))
    while pings != 0:
        time.sleep(int(opts["ping"]) / 1000)
        notify("WATCHDOG=1")
        pings -= 1

while True:
    time.sleep(3600)
