#!/usr/bin/env python3
"""Exits 0 when two NDJSON outputs hold the same lines, ignoring order, flow_id (flow ids are
unique per run but assigned per worker) and the sensor's run id (random per run)."""
import json
import sys


def same_line(o):
    """Output line o (parsed) as compared: flow_id and the run id left out, keys sorted."""
    o.pop("flow_id", None)
    o.get("sensor", {}).pop("run_id", None)
    return json.dumps(o, sort_keys=True)


def load(path):
    with open(path, encoding="utf-8") as fp:
        return sorted(same_line(json.loads(line)) for line in fp)


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    if a != b:
        only_a = len(set(a) - set(b))
        only_b = len(set(b) - set(a))
        print(f"  {len(a)} vs {len(b)} lines; {only_a} only in the first, {only_b} only in "
              "the second")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
