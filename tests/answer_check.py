#!/usr/bin/env python3
"""Checks the DNS-answer correlation of tunwatch's output for pcaps/resolve_connect.pcap
against what pcaps/README.md says a correct sensor reports: which connection is named from
which answer (with which CNAME chain and evidence), which must stay unnamed, and which
alerts fire through a CNAME target. Usage: answer_check.py OUTPUT.ndjson"""
import json
import sys

# (source ip, destination ip, destination port, proto) -> (evidence, name, cname chain)
NAMED = {
    ("10.20.0.2", "10.20.0.11", 5000, "tcp"): ("dns_answer", "x7k2.localto.net", ""),
    ("10.20.0.2", "10.20.0.12", 5001, "tcp"): ("dns_answer", "q1w2.tcp.eu.ngrok.io", ""),
    ("10.20.0.2", "10.20.0.13", 5002, "tcp"):
        ("dns_answer", "files.example-corp.com", "amber-fox.trycloudflare.com"),
    ("10.20.0.2", "10.20.0.13", 443, "tcp"):
        ("tls_sni", "files.example-corp.com", "amber-fox.trycloudflare.com"),
    ("10.20.0.2", "10.20.0.14", 19132, "udp"): ("dns_answer", "ranch-lime.gl.at.ply.gg", ""),
    ("fd20::2", "fd20::15", 5003, "tcp"):
        ("dns_answer", "rnkqz-203-0-113-9.a.free.pinggy.link", ""),
    ("10.20.0.3", "10.20.0.17", 5000, "tcp"): ("dns_answer", "7.tcp.ngrok.io", ""),
    ("10.20.0.2", "10.20.0.18", 5004, "tcp"): ("dns_answer", "r2d2.localtonet.com", ""),
}
# never resolved; resolved by another client only
UNNAMED = {("10.20.0.2", "10.20.0.16", 5000, "tcp"), ("10.20.0.2", "10.20.0.17", 5000, "tcp")}
# connections whose alert comes from a CNAME target, with the name that matched
VIA_CNAME = {("10.20.0.2", "10.20.0.13", 5002, "tcp"), ("10.20.0.2", "10.20.0.13", 443, "tcp")}

problems = []
seen = {}
cname_alerts = set()
cname_query_events = 0
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    ev = o["event"]
    if o["category"] == "dns":
        continue  # DNS responses themselves: tests/dns_answer_check.py
    if o["category"] == "dns_query":
        if o["type"] == "event" and o["evidence"] == "dns_answer":
            cname_query_events += 1
            if (o["name"], o["dns_answer"]["name"]) != ("amber-fox.trycloudflare.com",
                                                        "files.example-corp.com"):
                problems.append(f"unexpected CNAME target event {o['name']}")
        continue
    key = (ev["SourceIp"], ev["DestinationIp"], ev["DestinationPort"], ev["Protocol"])
    if o["type"] == "alert":
        if "matched" in o:
            if o["matched"] != {"name": "amber-fox.trycloudflare.com", "via": "cname"}:
                problems.append(f"{key}: matched {o['matched']}")
            cname_alerts.add(key)
        continue
    if key in seen:
        problems.append(f"{key}: more than one network_connection event")
    ans = o.get("dns_answer") or {}
    seen[key] = (o["evidence"], o["name"], ans.get("cname_chain", ""))
    if o["evidence"] == "tls_sni" and ans.get("name") != o["name"]:
        problems.append(f"{key}: cached name {ans.get('name')} not reported with the SNI")

for key, want in NAMED.items():
    if seen.get(key) != want:
        problems.append(f"{key}: want {want}, got {seen.get(key)}")
for key in UNNAMED:
    if key in seen:
        problems.append(f"{key}: must stay unnamed, got {seen[key]}")
if cname_alerts != VIA_CNAME:
    problems.append(f"alerts through the CNAME chain on {sorted(cname_alerts)}, want {sorted(VIA_CNAME)}")
if cname_query_events != 1:
    problems.append(f"{cname_query_events} CNAME target events, want 1")
for p in problems:
    print("  " + p)
print(f"  {len(NAMED)} named and {len(UNNAMED)} unnamed connections checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
