#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Deterministic generator of N Sigma rules with a realistic mix of hostname selections.

    python3 tests/bench/sigma_rules.py -n 50000 [--non-trie PCT] -o RULES.yml

One YAML file, one rule document each (separated by '---'), alternating network_connection
(DestinationHostname) and dns_query (QueryName). Every rule has at least one hostname
indicator. Two families:

  suffix-trie rules (100 - PCT %): `|endswith` (one value or a list), plain equals,
      `selection and not filter`, `1 of selection*` over endswith and equals selections;
  other rules (PCT %, default 30): `|contains`, `|startswith`, wildcard values
      (`*tunnel12345*.example.com`, `api-12345-?.example.net`), `|contains|all`, and
      `1 of selection*` mixing endswith with contains -- indicators the suffix trie cannot index.

Some network_connection rules also require `Initiated: 'true'` and/or a `DestinationPort`.
Every 150th rule (about 333 of 50,000) targets names the bench capture carries
(tests/bench/twgen.c: benign names 'PREFIX.siteN.DOMAIN' derived from N alone, and names
under tunnel services) so that the alert path is exercised; the others use unique tokens
that never occur in the capture.
"""
import argparse
import sys

MASK = (1 << 64) - 1

# tests/bench/twgen.c: tw_prefixes, tw_domains, tw_benign_name()
PREFIXES = ["www", "api", "cdn", "static", "img", "login", "mail", "assets", "m", "app"]
DOMAINS = ["example-cdn.com", "example.com", "example.net", "example.org",
           "shop-example.com", "news-example.net", "video-example.org", "cloud-example.io"]
TUNNEL_HITS = [("endswith", ".ngrok-free.app"), ("contains", "trycloudflare"),
               ("endswith", ".localto.net"), ("contains", ".devtunnels."),
               ("startswith", "x."), ("endswith", ".loca.lt")]


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def benign(i):
    """(prefix, domain, full name) of twgen's benign name i."""
    _, h = splitmix64(0xB0B0 + i)
    p = PREFIXES[h % len(PREFIXES)]
    d = DOMAINS[(h >> 16) % len(DOMAINS)]
    return p, d, "%s.site%u.%s" % (p, i, d)


def rule_id(i):
    st, a = splitmix64(0x50C1A000 + i)
    _, b = splitmix64(st)
    return "%08x-%04x-4%03x-8%03x-%012x" % (a >> 32, (a >> 16) & 0xFFFF, a & 0xFFF,
                                              (b >> 48) & 0xFFF, b & 0xFFFFFFFFFFFF)


def q(s):
    return "'" + s.replace("'", "''") + "'"


def sel(lines, name, field, mod, values):
    key = field + ("|" + mod if mod else "")
    if len(values) == 1:
        lines.append("    %s:\n        %s: %s\n" % (name, key, q(values[0])))
    else:
        lines.append("    %s:\n        %s:\n" % (name, key) +
                     "".join("            - %s\n" % q(v) for v in values))


TRIE_KINDS = ["endswith", "endswith_list", "equals", "filter", "one_of"]
OTHER_KINDS = ["contains", "startswith", "wildcard", "contains_all", "one_of_mixed"]


def rule(i, non_trie_pct):
    st, h = splitmix64(0x7275 + i)
    conn = i % 2 == 0
    field = "DestinationHostname" if conn else "QueryName"
    other = (h % 100) < non_trie_pct
    kind = (OTHER_KINDS if other else TRIE_KINDS)[(h >> 8) % 5]
    hit = i % 150 == 75
    tok = "%05u" % i
    own = ".t%s.bench-tunnel.net" % tok  # never in the capture
    # The names a hit rule targets: benign name k (skewed so that it occurs tens of times).
    k = 60 + (i * 7919) % 4000
    p, d, full = benign(k)
    tunnel = TUNNEL_HITS[(i // 150) % len(TUNNEL_HITS)] if hit and (i // 150) % 10 == 0 else None

    det = []
    cond = "selection"
    if tunnel and kind not in ("filter", "one_of", "one_of_mixed"):
        kind = tunnel[0]
    if kind in ("endswith", "endswith_list"):
        vals = [".site%u.%s" % (k, d) if hit else own]
        if kind == "endswith_list":
            vals += [".u%s-%u.bench-tunnel.org" % (tok, j) for j in range(1 + h % 3)]
        if tunnel:
            vals = [tunnel[1]]
        sel(det, "selection", field, "endswith", vals)
    elif kind == "equals":
        sel(det, "selection", field, None,
            [full if hit else "h%s.bench-tunnel.net" % tok, "h%s.bench-tunnel.com" % tok])
    elif kind == "filter":
        sel(det, "selection", field, "endswith", [".site%u.%s" % (k, d) if hit else own])
        sel(det, "filter", field, "endswith", [".corp.example", ".site%u.%s" % (k + 1, d)])
        cond = "selection and not filter"
    elif kind == "one_of":
        sel(det, "selection_suffix", field, "endswith", [".site%u.%s" % (k, d) if hit else own])
        sel(det, "selection_exact", field, None, ["e%s.bench-tunnel.net" % tok])
        cond = "1 of selection*"
    elif kind == "contains":
        sel(det, "selection", field, "contains",
            [tunnel[1] if tunnel else ("site%u." % k if hit else "tun%sx" % tok)])
    elif kind == "startswith":
        sel(det, "selection", field, "startswith",
            [tunnel[1] if tunnel else ("%s.site%u." % (p, k) if hit else "api%s-" % tok)])
    elif kind == "wildcard":
        if hit:
            v = "*.site%u.*" % k if h & 0x10000 else "%s.site%u.%s" % (p, k, d[:-1] + "?")
        elif h & 0x10000:
            v = "*tunnel%s*.example.com" % tok
        else:
            v = "api-%s-?.example.net" % tok
        sel(det, "selection", field, None, [v])
    elif kind == "contains_all":
        sel(det, "selection", field, "contains|all",
            ["site%u." % k, d] if hit else ["relay%s" % tok, ".bench-tunnel."])
    else:  # one_of_mixed
        sel(det, "selection_suffix", field, "endswith", [own])
        sel(det, "selection_contains", field, "contains",
            ["site%u." % k if hit else "mix%s-" % tok])
        cond = "1 of selection*"
    if conn and (h >> 20) % 4 == 0:
        det[0] += "        Initiated: 'true'\n"
    if conn and not hit and (h >> 24) % 5 == 0:
        det[0] += "        DestinationPort:\n            - 443\n            - 8443\n"
    return ("%stitle: Bench rule %u (%s%s)\n"
            "id: %s\n"
            "status: experimental\n"
            "description: Generated rule for the tunwatch benchmark\n"
            "author: tunwatch bench\n"
            "date: 2025-01-01\n"
            "tags:\n"
            "    - attack.command-and-control\n"
            "    - attack.t1572\n"
            "logsource:\n"
            "    category: %s\n"
            "detection:\n"
            "%s"
            "    condition: %s\n"
            "falsepositives:\n"
            "    - None, generated\n"
            "level: %s\n") % (
        "---\n" if i else "", i, kind, ", matches the bench capture" if hit else "",
        rule_id(i), "network_connection" if conn else "dns_query", "".join(det), cond,
        "high" if hit else "medium")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=50000, help="number of rules")
    ap.add_argument("--non-trie", type=int, default=30,
                    help="percent of rules with only contains/startswith/wildcard indicators")
    ap.add_argument("-o", required=True, help="output file ('-': stdout)")
    a = ap.parse_args()
    if a.n < 1 or not 0 <= a.non_trie <= 100:
        ap.error("bad -n or --non-trie")
    out = sys.stdout if a.o == "-" else open(a.o, "w")
    for i in range(a.n):
        out.write(rule(i, a.non_trie))
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
