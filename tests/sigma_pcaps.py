#!/usr/bin/env python3
"""SigmaHQ's rules over the project's captures, against two oracles.

usage: sigma_pcaps.py SIGMA_DIR OUTPUT.ndjson NAMES.tsv [OUTPUT.ndjson NAMES.tsv ...]

Each OUTPUT is `tunwatch --events -R SIGMA_DIR -r CAPTURE` (process fields off, as for a
capture file), NAMES.tsv the capture's names as tshark decodes them (pcaps/*.names.tsv).

1. Every alert, and only those: each event is evaluated with tests/sigma_events.py's own
   Sigma evaluator against every corpus rule tunwatch loads without process fields
   (network_connection events named by the DNS answer cache, or whose SNI is the name that
   was resolved, also against each CNAME target); the alerts must be exactly those.
2. The tunnel rules (the loaded rules whose hostname values name ngrok, trycloudflare,
   argotunnel, devtunnels or localto(net)): the (rule, name) pairs they fire on, for DNS
   questions and TLS SNI, must equal the pairs computed from NAMES.tsv and the rules'
   values (every capture's clients are inside the home networks: Initiated is true).
Prints what fired, per capture and rule.
"""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigma_events as se  # noqa: E402

TUNNEL_WORDS = ("ngrok", "trycloudflare", "argotunnel", "devtunnels", "localto")
PROCESS = {"Image", "ProcessId", "User"}


def load_rules(root):
    import glob
    import yaml
    rules = []
    for path in sorted(glob.glob(os.path.join(root, "**", "*.yml"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if not doc:
                    continue
                try:
                    r = se.Rule(doc)
                except (se.Unsupported, KeyError):
                    continue
                fields = {f for alts in r.sels.values() for conj in alts for f, *_ in conj}
                if fields & PROCESS:
                    continue
                r.fields = fields
                r.tunnel = any(
                    isinstance(v, str) and any(w in v.lower() for w in TUNNEL_WORDS)
                    for alts in r.sels.values() for conj in alts
                    for f, _, vals, _ in conj if f in se.NAME_FIELDS for v in vals)
                rules.append(r)
    return rules


def ev_fields(o):
    """The event's fields as rules see them: the name normalised (lowercased, one trailing
    dot removed), as tunwatch matches it; the output reports the name as seen."""
    def text(v):
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    ev = {k: [text(x) for x in v] if isinstance(v, list) else text(v)
          for k, v in o["event"].items()}
    ev["DestinationHostname" if o["category"] == "network_connection" else "QueryName"] = \
        o["name_normalized"]
    if o["category"] == "network_connection":
        v6 = ":" in ev.get("SourceIp", "")
        ev["SourceIsIpv6"] = ev["DestinationIsIpv6"] = "true" if v6 else "false"
    return ev


# An event holds at most this many bytes of a name: a longer one keeps its end (README,
# name_truncated), which is what suffix rules see.
NAME_KEPT = 1099


def names_from_tsv(path):
    """The names tshark decodes, plus those of the capture's .names.extra.tsv (names tshark
    cannot decode, with the reason; pcaps/README.md) when there is one, plus those
    F.known_diffs.tsv lists as read by tunwatch but not decoded by tshark (hellos that servers
    accept), each as an event holds it."""
    dns, sni = set(), set()

    def add(dest, n):
        n = n[-NAME_KEPT:]
        if dest is sni:
            n = se.sni_host(n)  # a server_name sent as host:port is matched as its host
        dest.add(n.lower().rstrip("."))

    extra = path[: -len(".names.tsv")] + ".names.extra.tsv"
    for p in [path] + ([extra] if os.path.exists(extra) else []):
        with open(p, encoding="utf-8") as fp:
            head = fp.readline().rstrip("\n").split("\t")
            for line in fp:
                row = dict(zip(head, line.rstrip("\n").split("\t")))
                for key, dest in (("dns.qry.name", dns),
                                  ("tls.handshake.extensions_server_name", sni)):
                    for n in (row.get(key) or "").split(","):
                        if n:
                            add(dest, n)
    known = path[:-len(".names.tsv")] + ".known_diffs.tsv"
    if os.path.exists(known):
        with open(known, encoding="utf-8") as fp:
            for line in fp:
                f = line.rstrip("\n").split("\t")
                if line.startswith("#") or len(f) < 5 or int(f[3]) <= int(f[4]):
                    continue
                add(dns if f[0] == "dns_query" else sni, f[2])
    return dns, sni


def main():
    rules = load_rules(sys.argv[1])
    tunnel = [r for r in rules if r.tunnel]
    print(f"sigma_pcaps: {len(rules)} rules evaluated, tunnel rules: "
          + ", ".join(sorted(r.id[:8] for r in tunnel)))
    fails = 0
    args = sys.argv[2:]
    for out_path, tsv in zip(args[0::2], args[1::2]):
        cap = os.path.basename(tsv).replace(".names.tsv", "")
        want, got = collections.Counter(), collections.Counter()
        by_cname = set()
        fired = collections.defaultdict(set)
        with open(out_path, encoding="utf-8") as fp:
            for line in fp:
                o = json.loads(line)
                key = (o["flow_id"], o["category"], o["evidence"], o["timestamp"])
                if o["type"] == "alert":
                    # An alert that fired on a CNAME target names the target in "matched".
                    via = (o.get("matched") or {}).get("name", o["name_normalized"])
                    got[key + (via, o["rule"]["id"])] += 1
                    if o.get("matched"):
                        by_cname.add(key + (via, o["rule"]["id"]))
                    fired[(o["rule"]["id"], o["rule"]["title"])].add(
                        (o["category"], o["evidence"], o["name_normalized"]))
                    continue
                ev = ev_fields(o)
                cat = o["category"]
                namef = "DestinationHostname" if cat == "network_connection" else "QueryName"
                variants = [(o["name_normalized"], ev)]
                da = o.get("dns_answer")
                if cat == "network_connection" and da and da.get("cname_chain") and \
                        (o["evidence"] == "dns_answer" or o["name_normalized"] == da["name"]):
                    for t in da["cname_chain"].split():
                        v = dict(ev)
                        v[namef] = t.lower().rstrip(".")
                        variants.append((v[namef], v))
                for r in rules:
                    if r.cat != cat:
                        continue
                    # One alert a rule: on the name itself, else on the first target that fires.
                    hit = next((n for n, v in variants if r.evaluate(v)), None)
                    if hit is not None:
                        want[key + (hit, r.id)] += 1
        for k in sorted(set(want) | set(got), key=str):
            if want[k] != got[k]:
                print(f"FAIL {cap}: {k}: oracle {want[k]} alerts, tunwatch {got[k]}")
                fails += 1
        # The tunnel rules over the names tshark sees.
        dns, sni = names_from_tsv(tsv)
        exp_pairs, got_pairs = set(), set()
        for r in tunnel:
            names = sni if r.cat == "network_connection" else dns
            namef = "DestinationHostname" if r.cat == "network_connection" else "QueryName"
            for n in names:
                ev = se.defaults(r.cat)
                ev[namef] = n
                if r.evaluate(ev):
                    exp_pairs.add((r.id, n))
        ids = {r.id for r in tunnel}
        for k in got:
            # tshark's server_name column holds the ClientHellos of TLS and of QUIC alike
            if k[-1] in ids and k[2] in ("dns_query", "tls_sni", "quic_sni") and k not in by_cname:
                got_pairs.add((k[-1], k[4]))
        for p in sorted(exp_pairs ^ got_pairs):
            print(f"FAIL {cap}: tunnel rule {p[0]} on {p[1]}: "
                  f"{'expected, not fired' if p in exp_pairs else 'fired, not expected'}")
            fails += 1
        for (rid, title), what in sorted(fired.items()):
            names = ", ".join(sorted(f"{n} ({c}/{e})" for c, e, n in what))
            print(f"  {cap}: {rid[:8]} {title}: {names}")
    print(f"sigma_pcaps: {'ok' if not fails else f'{fails} failures'}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
