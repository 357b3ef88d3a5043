#!/usr/bin/env python3
"""Exits 0 when two NDJSON outputs hold the same lines, ignoring order, flow_id (flow ids are
unique per run but assigned per worker) and the sensor's run id (random per run)."""
import json
import sys


def load(path):
    out = []
    with open(path, encoding="utf-8") as fp:
        for line in fp:
            o = json.loads(line)
            o.pop("flow_id", None)
            o.get("sensor", {}).pop("run_id", None)
            out.append(json.dumps(o, sort_keys=True))
    return sorted(out)


a, b = load(sys.argv[1]), load(sys.argv[2])
if a != b:
    only_a = len(set(a) - set(b))
    only_b = len(set(b) - set(a))
    print(f"  {len(a)} vs {len(b)} lines; {only_a} only in the first, {only_b} only in the second")
    sys.exit(1)
sys.exit(0)
