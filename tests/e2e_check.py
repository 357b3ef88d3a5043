#!/usr/bin/env python3
"""Checks tunwatch NDJSON output against the names tshark decodes from the same capture.

usage: e2e_check.py OUTPUT.ndjson NAMES.tsv [EXTRA.tsv]

OUTPUT is `tunwatch --events` output. NAMES.tsv is the table pcaps/gen.sh writes next to each
capture (tshark fields: frame, ip.src, ipv6.src, tcp.srcport, udp.srcport, dns.qry.name,
dns.qry.type, tls SNI, http.host, http.request.uri, quic.version). Every line must be valid JSON
with the documented keys, and the multiset of (evidence, source address, source port, name)
over the events must equal tshark's, where:
  - a ClientHello in QUIC (quic.version set) is a quic_sni name, one over TCP a tls_sni name;
  - a ClientHello with several host_names is one tshark row (names comma separated) and one
    tunwatch event per name;
  - a name tunwatch cut (name_truncated: it keeps the end) matches the tshark name it ends;
  - the differences listed in NAMES.tsv's sibling F.known_diffs.tsv (evidence, source, name,
    tunwatch count, tshark count, reason; counted over every source port), where tshark 4.0
    does not decode what servers accept, must occur exactly as listed.
EXTRA.tsv, when given, has the same columns plus `reason`: names tshark cannot decode, which
gen.sh writes with the reason (pcaps/README.md).
"""
import collections
import json
import os
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


def is_placeholder(name):
    """tshark's stand-in for a name it could not decode ("<Name contains a pointer that
    loops>", "<Unknown extended label>"): there is no name to report."""
    return name.startswith("<") and name.endswith(">") and name != "<Root>"


def read_table(path, theirs):
    """Adds the names of one gen.sh table (tshark's columns) to the counter."""
    with open(path, encoding="utf-8") as fp:
        header = fp.readline().rstrip("\n").split("\t")
        col = {name: i for i, name in enumerate(header)}
        for line in fp:
            f = line.rstrip("\n").split("\t")
            # the innermost layer's: tshark lists every IP and UDP layer's (a tunnel's outer
            # first)
            src = (f[col["ip.src"]] or f[col["ipv6.src"]]).split(",")[-1]
            port = int((f[col["tcp.srcport"]] or f[col["udp.srcport"]]).split(",")[-1])
            qnames = f[col["dns.qry.name"]]
            sni = f[col["tls.handshake.extensions_server_name"]]
            quic = "quic.version" in col and f[col["quic.version"]] != ""
            for q in qnames.split(",") if qnames else []:
                if not is_placeholder(q):
                    theirs[("dns_query", src, port, q)] += 1
            for name in sni.split(",") if sni else []:
                theirs[("quic_sni" if quic else "tls_sni", src, port, name)] += 1
            # An HTTP request: its Host field, else the target of a request that names its
            # host (CONNECT's authority, an absolute URI); the port is not part of the name.
            host = f[col["http.host"]] if "http.host" in col else ""
            uri = f[col["http.request.uri"]] if "http.request.uri" in col else ""
            if not host and uri and not uri.startswith("/") and uri != "*":
                host = uri.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
            if host:
                theirs[("http_host", src, port, strip_port(host))] += 1


def main():
    out_path, tsv_path = sys.argv[1], sys.argv[2]
    errors = []
    ours = collections.Counter()
    cut = []
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
            key = (obj["evidence"], ev["SourceIp"], ev["SourcePort"], obj["name"])
            if obj.get("name_truncated"):
                cut.append(key)
            else:
                ours[key] += 1

    theirs = collections.Counter()
    for path in [tsv_path] + sys.argv[3:]:
        read_table(path, theirs)

    # A name kept by its end stands for the longer tshark name it ends.
    for ev, src, port, name in cut:
        full = [k for k in theirs if k[:3] == (ev, src, port) and len(k[3]) > len(name)
                and k[3].endswith(name) and ours[k] < theirs[k]]
        ours[full[0] if full else (ev, src, port, name)] += 1

    known = {}
    kpath = tsv_path[:-len(".names.tsv")] + ".known_diffs.tsv"
    if os.path.exists(kpath):
        with open(kpath, encoding="utf-8") as fp:
            for line in fp:
                if line.startswith("#") or not line.strip():
                    continue
                ev, src, name, n_ours, n_theirs, _reason = line.rstrip("\n").split("\t", 5)
                known[(ev, src, name)] = (int(n_ours), int(n_theirs))

    def summed(counter, k3):
        return sum(v for k, v in counter.items() if (k[0], k[1], k[3]) == k3)

    for k3, want in sorted(known.items()):
        got = (summed(ours, k3), summed(theirs, k3))
        if got != want:
            errors.append(f"{k3}: tunwatch {got[0]}, tshark {got[1]}; "
                          f"{os.path.basename(kpath)} says {want}")
    for key in sorted(set(ours) | set(theirs)):
        if (key[0], key[1], key[3]) in known:
            continue
        if ours[key] != theirs[key]:
            errors.append(f"{key}: tunwatch {ours[key]}, tshark {theirs[key]}")
    for e in errors:
        print("  " + e)
    print(f"  {sum(ours.values())} names from tunwatch, {sum(theirs.values())} from tshark, "
          f"{len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
