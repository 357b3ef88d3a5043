#!/usr/bin/env python3
"""Checks the NDJSON that a live tunwatch wrote against the alerts the test expects.

usage: check.py [--poll] [--seen NAME]... EXPECT OUTPUT...
       check.py --lines FILE...

EXPECT has one expected alert per line, "RULE_ID EVIDENCE PROTOCOL NAME" (blank lines and
#-comments ignored); the same line twice means two alerts. The OUTPUT files are read in order
as one stream (a rotated file first); a file that does not exist counts as empty.

Without --poll (the verdict): every line of every file must be valid JSON and end with a
newline, the multiset of alerts keyed by (rule id, name, evidence) must equal EXPECT exactly
(nothing missing, nothing repeated, nothing extra), each alert's event must describe the
test's traffic (querier / TLS client 10.77.0.2 or fd77::2, server 10.77.0.1 or fd77::1, port
53 or 443, the expected transport, Initiated "true" for TLS) and every --seen NAME must appear
as an "event" line (proof that the capture saw a name that must not alert).

With --lines: only that every line of every FILE (which must exist and not be empty) is a
JSON object ending with a newline (the --stats-file output).

With --poll: exit 0 as soon as every expected alert and every --seen name is present (extra
alerts and a last line still being written are tolerated); exit 1 otherwise, quietly.
"""
import collections
import json
import os
import sys

CLIENTS = {"10.77.0.2", "fd77::2"}
SERVERS = {"10.77.0.1", "fd77::1"}


def read_expect(path):
    want = collections.Counter()
    proto = {}
    with open(path, encoding="utf-8") as fp:
        for line in fp:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            rule, evidence, protocol, name = line.split()
            want[(rule, name, evidence)] += 1
            proto[(rule, name, evidence)] = protocol
    return want, proto


def read_outputs(paths, poll, errors):
    objs = []
    for path in paths:
        try:
            with open(path, "rb") as fp:
                data = fp.read()
        except FileNotFoundError:
            continue
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        if tail and not poll:
            errors.append(f"{path}: last line has no newline (split or unfinished line): "
                          f"{tail[:80]!r}")
        for n, raw in enumerate(lines, 1):
            try:
                obj = json.loads(raw.decode("utf-8"))
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
            except (UnicodeDecodeError, ValueError) as e:
                if not poll:
                    errors.append(f"{path}:{n}: not valid JSON ({e}): {raw[:120]!r}")
                continue
            objs.append((path, n, obj))
    return objs


def check_event(path, n, obj, protocol, errors):
    ev = obj.get("event") or {}
    where = f"{path}:{n} ({obj.get('name')})"
    if obj.get("evidence") == "dns_query":
        if ev.get("QueryName") != obj.get("name"):
            errors.append(f"{where}: QueryName {ev.get('QueryName')!r}")
        port = 53
    else:
        if ev.get("DestinationHostname") != obj.get("name"):
            errors.append(f"{where}: DestinationHostname {ev.get('DestinationHostname')!r}")
        if ev.get("Initiated") != "true":
            errors.append(f"{where}: Initiated {ev.get('Initiated')!r}, want 'true'")
        port = 443
    if ev.get("SourceIp") not in CLIENTS:
        errors.append(f"{where}: SourceIp {ev.get('SourceIp')!r} is not the client")
    if ev.get("DestinationIp") not in SERVERS:
        errors.append(f"{where}: DestinationIp {ev.get('DestinationIp')!r} is not the server")
    if ev.get("DestinationPort") != port:
        errors.append(f"{where}: DestinationPort {ev.get('DestinationPort')!r}, want {port}")
    if ev.get("Protocol") != protocol:
        errors.append(f"{where}: Protocol {ev.get('Protocol')!r}, want {protocol!r}")


def main(argv):
    if argv[:1] == ["--lines"]:
        errors = []
        for path in argv[1:]:
            try:
                if os.path.getsize(path) == 0:
                    errors.append(f"{path}: empty")
            except OSError as e:
                errors.append(f"{path}: {e.strerror}")
        read_outputs(argv[1:], False, errors)
        for e in errors:
            print("     " + e)
        return 1 if errors else 0
    poll = False
    seen = []
    args = []
    it = iter(argv)
    for a in it:
        if a == "--poll":
            poll = True
        elif a == "--seen":
            seen.append(next(it))
        else:
            args.append(a)
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    want, proto = read_expect(args[0])
    errors = []
    objs = read_outputs(args[1:], poll, errors)

    got = collections.Counter()
    events = set()
    for path, n, obj in objs:
        if obj.get("type") == "event":
            events.add(obj.get("name"))
            continue
        if obj.get("type") != "alert":
            errors.append(f"{path}:{n}: unknown type {obj.get('type')!r}")
            continue
        key = ((obj.get("rule") or {}).get("id"), obj.get("name"), obj.get("evidence"))
        got[key] += 1
        if not poll and key in proto:
            check_event(path, n, obj, proto[key], errors)

    if poll:
        complete = all(got[k] >= c for k, c in want.items()) and all(s in events for s in seen)
        return 0 if complete else 1

    for key in sorted(set(want) | set(got), key=str):
        if want[key] != got[key]:
            rule, name, evidence = key
            errors.append(f"alert rule={rule} name={name} evidence={evidence}: "
                          f"got {got[key]}, want {want[key]}")
    for s in seen:
        if s not in events:
            errors.append(f"name {s} never observed (no event line): the capture missed it")
    for e in errors:
        print("     " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
