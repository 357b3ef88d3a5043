#!/usr/bin/env python3
"""Checks tunwatch's --report against a computation of its own from the alerts.

usage: report_check.py ALERTS.ndjson REPORT.ndjson [NAMES_KEPT]

ALERTS is tunwatch's NDJSON output (alert lines; event lines are ignored), REPORT the
`--report-format json` table of the same run. For every (source address, rule id) of the alerts:
first and last timestamp, count, the distinct normalised names; the report must hold exactly
these rows, in the documented order (IPv4 before IPv6, addresses numerically, then rule title,
then rule id), with the names sorted: the NAMES_KEPT (default 8) smallest in byte order, more
flagged by names_truncated.
"""
import ipaddress
import json
import sys


def main():
    alerts_path, report_path = sys.argv[1], sys.argv[2]
    kept = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    rows = {}
    with open(alerts_path, encoding="utf-8") as fp:
        for line in fp:
            a = json.loads(line)
            if a.get("type") != "alert":
                continue
            key = (a["event"]["SourceIp"], a["rule"]["id"])
            r = rows.setdefault(key, {"title": a["rule"]["title"], "first": a["timestamp"],
                                      "last": a["timestamp"], "count": 0, "names": set()})
            # RFC 3339 UTC strings of one width compare as times
            r["first"] = min(r["first"], a["timestamp"])
            r["last"] = max(r["last"], a["timestamp"])
            r["count"] += 1
            r["names"].add(a["name_normalized"])

    def order(key):
        ip = ipaddress.ip_address(key[0])
        return (ip.version, int(ip), rows[key]["title"], key[1])

    want = sorted(rows, key=order)
    with open(report_path, encoding="utf-8") as fp:
        got = [json.loads(line) for line in fp if line.strip()]
    errors = []
    if len(got) != len(want):
        errors.append(f"{len(got)} report rows, {len(want)} (source, rule) pairs in the alerts")
    for key, g in zip(want, got):
        r = rows[key]
        if (g["source_ip"], g["rule"]["id"]) != key:
            errors.append(f"row {g['source_ip']} {g['rule']['id']}: expected {key} here")
            continue
        for what, mine, theirs in (("title", r["title"], g["rule"]["title"]),
                                   ("first_seen", r["first"], g["first_seen"]),
                                   ("last_seen", r["last"], g["last_seen"]),
                                   ("count", r["count"], g["count"])):
            if mine != theirs:
                errors.append(f"{key}: {what} {theirs!r}, expected {mine!r}")
        names = g["names"]
        # the smallest names in byte order, whatever order the alerts came in
        want_names = sorted(r["names"], key=lambda n: n.encode("utf-8"))[:kept]
        if names != want_names:
            errors.append(f"{key}: names {names}, expected {want_names}")
        if len(names) != min(kept, len(r["names"])) or \
                g["names_truncated"] != (len(r["names"]) > kept):
            errors.append(f"{key}: {len(names)} names (truncated {g['names_truncated']}), "
                          f"{len(r['names'])} distinct in the alerts")
    for e in errors[:20]:
        print(e)
    print(f"report: {len(got)} rows, {sum(r['count'] for r in rows.values())} alerts, "
          f"{len(errors)} differences")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
