#!/usr/bin/env python3
"""tunwatch's dns events against tshark's decode of the same DNS responses.

usage: dns_answer_check.py OUTPUT.ndjson CAPTURE

OUTPUT is `tunwatch --events` over CAPTURE. Every DNS response tshark decodes (UDP, and TCP
with reassembly) must be one dns event, in capture order, with the same question name, RCODE
and answers: A and AAAA addresses, CNAME targets, MX exchanges, TXT strings, and SVCB/HTTPS
records rebuilt from tshark's fields (priority, target, alpn, port, ipv4hint, ech as base64,
ipv6hint, dohpath) in tunwatch's presentation form. Prints what it compared.
"""
import base64
import collections
import json
import subprocess
import sys

FIELDS = ["dns.id", "dns.qry.name", "dns.flags.rcode", "dns.a", "dns.aaaa", "dns.cname",
          "dns.txt", "dns.mx.mail_exchange", "dns.svcb.svcpriority", "dns.svcb.targetname",
          "dns.svcb.svcparam.key", "dns.svcb.svcparam.alpn", "dns.svcb.svcparam.port",
          "dns.svcb.svcparam.ipv4hint.ip", "dns.svcb.svcparam.echconfig",
          "dns.svcb.svcparam.ipv6hint.ip", "dns.svcb.svcparam.value", "dns.resp.type"]
KEYS = {0: "mandatory", 1: "alpn", 2: "no-default-alpn", 3: "port", 4: "ipv4hint", 5: "ech",
        6: "ipv6hint", 7: "dohpath"}


def tshark_responses(cap):
    cmd = ["tshark", "-n", "-r", cap, "-o", "tcp.desegment_tcp_streams:TRUE",
           "-Y", "dns.flags.response==1 && (udp.port==53 || tcp.port==53)", "-T", "json"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [p["_source"]["layers"] for p in json.loads(out or "[]")]


def svcb_text(t):
    """One SVCB/HTTPS record of the response (the captures hold one a response)."""
    prio = t["dns.svcb.svcpriority"][0]
    target = t["dns.svcb.targetname"][0]
    parts = [prio, "." if target == "<Root>" else target]
    alpn = iter(t.get("dns.svcb.svcparam.alpn", []))
    v4 = t.get("dns.svcb.svcparam.ipv4hint.ip", [])
    v6 = t.get("dns.svcb.svcparam.ipv6hint.ip", [])
    values = iter(t.get("dns.svcb.svcparam.value", []))
    for k in map(int, t.get("dns.svcb.svcparam.key", [])):
        name = KEYS.get(k, f"key{k}")
        if k == 1:
            parts.append("alpn=" + ",".join(alpn))  # one alpn parameter a record
        elif k == 2:
            parts.append(name)
        elif k == 3:
            parts.append("port=" + t["dns.svcb.svcparam.port"][0])
        elif k == 4:
            parts.append("ipv4hint=" + ",".join(v4))
        elif k == 5:
            ech = bytes.fromhex(t["dns.svcb.svcparam.echconfig"][0])
            parts.append("ech=" + base64.b64encode(ech).decode())
        elif k == 6:
            parts.append("ipv6hint=" + ",".join(v6))
        else:
            parts.append(f"{name}=" + bytes.fromhex(next(values)).decode("latin-1"))
    return " ".join(parts)


def is_placeholder(name):
    """tshark's stand-in for a name it could not decode ("<Name contains a pointer that
    loops>"); "<Root>" is the root, a name."""
    return name.startswith("<") and name.endswith(">") and name != "<Root>"


def want_answers(t):
    types = [int(x) for x in t.get("dns.resp.type", [])]
    out = list(t.get("dns.a", [])) + list(t.get("dns.aaaa", [])) + list(t.get("dns.cname", []))
    out += list(t.get("dns.mx.mail_exchange", []))
    if 16 in types:
        out.append("".join(t.get("dns.txt", [])))  # the captures' TXT records hold one string
    if 64 in types or 65 in types:
        out.append(svcb_text(t))
    return collections.Counter(out)


def main():
    out_path, cap = sys.argv[1], sys.argv[2]
    got = []
    with open(out_path, encoding="utf-8") as fp:
        for line in fp:
            o = json.loads(line)
            if o["type"] == "event" and o["category"] == "dns":
                got.append(o)
    want = tshark_responses(cap)
    # A question tshark cannot decode either (a compression pointer that loops: dnsmasq's reply
    # to a query whose name points forward past its question keeps that pointer) makes the
    # response malformed: no event, counted dns_malformed.
    loops = [t for t in want if is_placeholder((t.get("dns.qry.name") or ["<Root>"])[0])]
    want = [t for t in want if t not in loops]
    fails = 0
    if len(got) != len(want):
        print(f"  dns events: {len(got)}, tshark responses: {len(want)}")
        fails += 1
    kinds = collections.Counter()
    for o, t in zip(got, want):
        ev = o["event"]
        qname = (t.get("dns.qry.name") or ["<Root>"])[0]
        qname = "." if qname == "<Root>" else qname  # tunwatch's presentation form
        tid = int(t["dns.id"][0], 16)
        if ev["trans_id"] != tid or o["name"].lower() != qname.lower():
            print(f"  response {tid} {qname}: tunwatch has {ev['trans_id']} {o['name']}")
            fails += 1
            continue
        if ev["rcode"] != int(t["dns.flags.rcode"][0]):
            print(f"  {qname}: rcode {ev['rcode']}, tshark {t['dns.flags.rcode'][0]}")
            fails += 1
        w = want_answers(t)
        g = collections.Counter(ev.get("answers", []))
        # types tshark has no field for here (SOA, ...) are left out of both sides
        g = collections.Counter({a: n for a, n in g.items() if not a.startswith("\\# ")})
        if g != w:
            print(f"  {qname}: answers {sorted(g.elements())}, tshark {sorted(w.elements())}")
            fails += 1
        for ty in t.get("dns.resp.type", []):
            kinds[ty] += 1
    if loops:
        print(f"  {len(loops)} responses whose question tshark cannot decode either: no event")
    print(f"  dns answers vs tshark: {len(got)} responses, record types "
          + ", ".join(f"{k}:{n}" for k, n in sorted(kinds.items())) + f"; {fails} failures")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
