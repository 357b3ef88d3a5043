#!/usr/bin/env python3
"""Checks tunwatch NDJSON output against the names tshark decodes from the same capture.

usage: e2e_check.py OUTPUT.ndjson NAMES.tsv

OUTPUT is `tunwatch --events` output. NAMES.tsv is the table pcaps/gen.sh writes next to each
capture (tshark fields: frame, ip.src, ipv6.src, tcp.srcport, udp.srcport, dns.qry.name,
dns.qry.type, tls SNI). Every line must be valid JSON with the documented keys, and the multiset
of (evidence, source address, name) over the events must equal tshark's.
"""
import collections
import json
import sys

ALERT_KEYS = {"type", "rule", "timestamp", "flow_id", "category", "evidence", "name",
              "name_normalized", "event"}
RULE_KEYS = {"id", "title", "level", "tags", "file"}


def strip_port(host):
    """host[:port] or [v6][:port] -> host (brackets removed)."""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def main():
    out_path, tsv_path = sys.argv[1], sys.argv[2]
    errors = []
    ours = collections.Counter()
    with open(out_path, "rb") as fp:
        for n, raw in enumerate(fp, 1):
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                errors.append(f"{out_path}:{n}: not valid JSON: {e}")
                continue
            if obj.get("type") == "alert":
                missing = ALERT_KEYS - obj.keys()
                missing |= {"rule." + k for k in RULE_KEYS - obj.get("rule", {}).keys()}
                if missing:
                    errors.append(f"{out_path}:{n}: alert lacks {sorted(missing)}")
                continue
            if obj.get("type") != "event":
                errors.append(f"{out_path}:{n}: unknown type {obj.get('type')!r}")
                continue
            ev = obj["event"]
            if obj["evidence"] == "dns_answer":
                continue  # named from an earlier DNS answer: no tshark column to compare with
            if obj["evidence"] == "dns_response":
                continue  # a response's question, not a name sent: tests/dns_answer_check.py
            ours[(obj["evidence"], ev["SourceIp"], obj["name"])] += 1

    theirs = collections.Counter()
    with open(tsv_path, encoding="utf-8") as fp:
        header = fp.readline().rstrip("\n").split("\t")
        col = {name: i for i, name in enumerate(header)}
        for line in fp:
            f = line.rstrip("\n").split("\t")
            src = f[col["ip.src"]] or f[col["ipv6.src"]]
            qnames = f[col["dns.qry.name"]]
            sni = f[col["tls.handshake.extensions_server_name"]]
            if qnames:
                for q in qnames.split(","):
                    theirs[("dns_query", src, q)] += 1
            if sni:
                theirs[("tls_sni", src, sni)] += 1
            # An HTTP request: its Host field, else the target of a request that names its
            # host (CONNECT's authority, an absolute URI); the port is not part of the name.
            host = f[col["http.host"]] if "http.host" in col else ""
            uri = f[col["http.request.uri"]] if "http.request.uri" in col else ""
            if not host and uri and not uri.startswith("/") and uri != "*":
                host = uri.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
            if host:
                theirs[("http_host", src, strip_port(host))] += 1

    for key in sorted(set(ours) | set(theirs)):
        if ours[key] != theirs[key]:
            errors.append(f"{key}: tunwatch {ours[key]}, tshark {theirs[key]}")
    for e in errors:
        print("  " + e)
    print(f"  {sum(ours.values())} names from tunwatch, {sum(theirs.values())} from tshark, "
          f"{len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
