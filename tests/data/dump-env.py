#!/usr/bin/env python3
"""Writes its environment as JSON to argv[1] (atomically), prints a line, runs until stopped."""
import json
import os
import sys
import time

out = sys.argv[1]
with open(out + ".tmp", "w") as f:
    json.dump(dict(os.environ), f)
os.rename(out + ".tmp", out)
# No flush: only PYTHONUNBUFFERED=1 gets this line through the pipe at once.
print("python says hi")
while True:
    time.sleep(0.05)
