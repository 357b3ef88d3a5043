#!/usr/bin/env python3
"""Checks that the bundled rules fire on QUIC SNI and HTTP Host names as on TLS SNI.

usage: alert_check.py OUTPUT.ndjson CAPTURE-NAME (quic.pcap or http.pcap)

OUTPUT is `tunwatch --events -R rules` over pcaps/quic.pcap or pcaps/http.pcap. Every
network_connection event (evidence quic_sni, tls_sni or http_host) must have exactly the alerts
of the bundled rule file that covers its name (by the table below, which mirrors
rules/README.md), on the same flow with the same evidence; a name no rule covers
(www.debian.org, an address literal in Host) none. Among them: cloudflared's names
quic.cftunnel.com (QUIC on UDP 7844), h2.cftunnel.com (TLS on TCP 7844, and an HTTP request)
and region1.v2.argotunnel.com.
"""
import collections
import json
import sys

# name suffix (or the whole name) -> the rule file that must fire
RULE_OF = [
    (".trycloudflare.com", "rules/tunnel_trycloudflare.yml"),
    (".cftunnel.com", "rules/tunnel_cloudflare_tunnel.yml"),
    (".argotunnel.com", "rules/tunnel_cloudflare_tunnel.yml"),
    (".localto.net", "rules/tunnel_localtonet.yml"),
    (".localtonet.com", "rules/tunnel_localtonet.yml"),
    (".ngrok-free.app", "rules/tunnel_ngrok.yml"),
    (".ngrok-agent.com", "rules/tunnel_ngrok.yml"),
    (".ngrok.io", "rules/tunnel_ngrok.yml"),
    (".devtunnels.ms", "rules/tunnel_devtunnels.yml"),
    (".loca.lt", "rules/tunnel_localtunnel.yml"),
    (".serveo.net", "rules/tunnel_serveo.yml"),
    (".lhr.life", "rules/tunnel_localhost_run.yml"),
    (".pinggy.link", "rules/tunnel_pinggy.yml"),
    ("bore.pub", "rules/tunnel_bore.yml"),
]
NO_RULE = {"www.debian.org", "10.20.0.1", "fd20::1"}  # and the address literals in Host
# cloudflared's names each capture must hold (and so alert on)
MUST_SEE = {
    "quic.pcap": {("quic_sni", "quic.cftunnel.com"), ("quic_sni", "region1.v2.argotunnel.com"),
                  ("tls_sni", "h2.cftunnel.com")},
    "http.pcap": {("http_host", "h2.cftunnel.com")},
}


def rule_for(name):
    for suffix, rule in RULE_OF:
        if name == suffix or (suffix.startswith(".") and name.endswith(suffix)):
            return rule
    return None


def main():
    events, alerts = collections.Counter(), collections.Counter()
    with open(sys.argv[1]) as fp:
        for line in fp:
            o = json.loads(line)
            k = (o["flow_id"], o["evidence"], o["name_normalized"])
            if o["type"] == "alert":
                alerts[k + (o["rule"]["file"],)] += 1
            elif o["category"] == "network_connection":
                events[k] += 1  # one per request of a keep-alive connection
    errors = []
    seen = collections.Counter()
    for k, n in sorted(events.items()):
        flow, evidence, name = k
        want = None if name in NO_RULE else rule_for(name)
        if want is None and name not in NO_RULE:
            errors.append(f"{k}: name not in the table")
            continue
        got = {a[3]: n for a, n in alerts.items() if a[:3] == k}
        expect = {want: n} if want else {}
        if got != expect:
            errors.append(f"{k}: alerts {got}, want {expect}")
        seen[(evidence, name)] += n
    missing = MUST_SEE[sys.argv[2]] - set(seen)
    if missing:
        errors.append(f"events missing: {sorted(missing)}")
    for e in errors:
        print("  " + e)
    print(f"  {sum(events.values())} names checked against the bundled rules, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
