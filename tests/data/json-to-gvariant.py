#!/usr/bin/env python3
"""Reads JSON on stdin (strictly, with Python's json module) and prints it as
GVariant text, so a C test can g_variant_parse() what `elife-pm --json`
printed: objects become a{sv}, integers uint64 (int64 when negative)."""
import json
import sys


def text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return ("int64 %d" if v < 0 else "uint64 %d") % v
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if v is None:
        return "@mv nothing"
    if isinstance(v, list):
        if not v:
            return "@av []"
        return "[" + ", ".join("<%s>" % text(x) for x in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "@a{sv} {}"
        return "{" + ", ".join("%s: <%s>" % (json.dumps(k), text(x)) for k, x in v.items()) + "}"
    raise TypeError(type(v))


def main():
    data = json.loads(sys.stdin.read())
    print(text(data))


main()
