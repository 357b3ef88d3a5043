#!/usr/bin/env python3
"""Compares tunwatch's JA4 with Suricata 7's for every TLS and QUIC ClientHello of captures.

usage: ja4_suricata.py TUNWATCH CAPTURE...

Not part of `make check` (Suricata 7 comes from bookworm-backports and is not a test
dependency); run by hand where `suricata -V` says 7.x:

    python3 tests/ja4_suricata.py build/tunwatch pcaps/quic.pcap pcaps/http.pcap

Suricata logs a hello's JA4 in its eve `tls` record (custom field ja4) and, for QUIC, in the
`quic` object of an alert; a rule on `ja4.hash` that matches every fingerprint makes those
alerts. QUIC is looked for on UDP 443, 4433, 4434 and 7844 (Suricata's default: 443 and 80).
Hellos are paired by (client address, client port, transport). Prints one line per hello and
a total; exit 1 when a pair differs or tunwatch lacks a hello Suricata fingerprinted.
"""
import ipaddress
import json
import os
import subprocess
import sys
import tempfile

CONFIG = """%YAML 1.1
---
default-log-dir: {dir}
default-rule-path: {dir}
rule-files:
  - ja4.rules
logging:
  default-log-level: error
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert:
            tagged-packets: no
        - tls:
            custom: [sni, version, ja4]
app-layer:
  protocols:
    tls:
      enabled: yes
      ja4-fingerprints: yes
    quic:
      enabled: yes
      detection-ports:
        dp: 443,4433,4434,7844
"""
RULES = """alert quic any any -> any any (msg:"quic ja4"; ja4.hash; content:"_"; sid:1;)
alert tls any any -> any any (msg:"tls ja4"; ja4.hash; content:"_"; sid:2;)
"""


def key(ip, port, proto):
    return (str(ipaddress.ip_address(ip)), int(port), proto.lower())


def suricata(capture, work):
    with open(os.path.join(work, "s.yaml"), "w") as fp:
        fp.write(CONFIG.format(dir=work))
    with open(os.path.join(work, "ja4.rules"), "w") as fp:
        fp.write(RULES)
    eve = os.path.join(work, "eve.json")
    if os.path.exists(eve):
        os.unlink(eve)
    subprocess.run(["suricata", "-c", os.path.join(work, "s.yaml"), "-r", capture, "-k", "none",
                    "-l", work], check=True, stdout=subprocess.DEVNULL)
    found = {}
    with open(eve) as fp:
        for line in fp:
            o = json.loads(line)
            rec = o.get("quic") or o.get("tls") or {}
            if rec.get("ja4"):
                found[key(o["src_ip"], o["src_port"], o["proto"])] = (rec.get("sni", ""),
                                                                      rec["ja4"])
    return found


def tunwatch(binary, capture):
    out = subprocess.run([binary, "-q", "-r", capture, "--events", "-R", "rules"], check=True,
                         capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        o = json.loads(line)
        ja4 = o.get("tls", {}).get("ja4")
        if o["type"] == "event" and ja4:
            ev = o["event"]
            found[key(ev["SourceIp"], ev["SourcePort"], ev["Protocol"])] = (o["name"], ja4)
    return found


def main():
    binary, captures = sys.argv[1], sys.argv[2:]
    same = differ = only_tw = only_suri = 0
    with tempfile.TemporaryDirectory() as work:
        for cap in captures:
            suri, ours = suricata(cap, work), tunwatch(binary, cap)
            for k in sorted(set(suri) | set(ours)):
                s, t = suri.get(k), ours.get(k)
                if s and t and s[1] == t[1]:
                    same += 1
                    verdict = "same"
                elif s and t:
                    differ += 1
                    verdict = "DIFFER"
                elif t:
                    only_tw += 1
                    verdict = "tunwatch only"
                else:
                    only_suri += 1
                    verdict = "SURICATA ONLY"
                print(f"{cap} {k[2]} {k[0]}:{k[1]} {(t or s)[0]} tunwatch={t and t[1]} "
                      f"suricata={s and s[1]} {verdict}")
    print(f"{same} same, {differ} differ, {only_tw} tunwatch only, {only_suri} Suricata only")
    return 1 if differ or only_suri else 0


if __name__ == "__main__":
    sys.exit(main())
