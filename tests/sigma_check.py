#!/usr/bin/env python3
"""Checks alerts of the SigmaHQ LocaltoNet seed rules against an oracle computed from the events.

usage: sigma_check.py OUTPUT.ndjson EXPECT_INITIATED(true|false)

OUTPUT is `tunwatch --events -R <windows seed> -R <linux seed>` output. Every
network_connection event whose normalised name ends with '.localto.net' or '.localtonet.com'
(a plain suffix: the bare 'localto.net' does not qualify) and whose Initiated field is 'true'
must be alerted by both seed rules, and nothing else may alert.
"""
import collections
import json
import sys

SEEDS = {"3ab65069-d82a-4d44-a759-466661a082d1", "c4568f5d-131f-4e78-83d4-45b2da0ec4f1"}
SUFFIXES = (".localto.net", ".localtonet.com")


def main():
    want = collections.Counter()
    got = collections.Counter()
    initiated_seen = set()
    with open(sys.argv[1], encoding="utf-8") as fp:
        for line in fp:
            o = json.loads(line)
            if o["category"] != "network_connection":
                if o["type"] == "alert":
                    got[("unexpected", o["name"])] += 1
                continue
            key = (o["flow_id"], o["name"])
            if o["type"] == "event":
                initiated_seen.add(o["event"]["Initiated"])
                n = o["name_normalized"]
                if n.lower() != n:
                    print(f"name_normalized not lowercase: {n!r}")
                    return 1
                if n.endswith(SUFFIXES) and o["event"]["Initiated"] == "true":
                    for rid in SEEDS:
                        want[key + (rid,)] += 1
            else:
                got[key + (o["rule"]["id"],)] += 1
    if not initiated_seen:
        print("no network_connection event: nothing to check the seed rules against")
        return 1
    if initiated_seen != {sys.argv[2]}:
        print(f"Initiated values {initiated_seen}, expected only {sys.argv[2]}")
        return 1
    ok = want == got
    for k in sorted(set(want) | set(got), key=str):
        if want[k] != got[k]:
            print(f"  {k}: expected {want[k]} alerts, got {got[k]}")
    print(f"  {sum(got.values())} seed alerts, {sum(want.values())} expected")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
