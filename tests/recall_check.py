#!/usr/bin/env python3
"""Recall of tunwatch's names against tshark's decode of the same capture.

usage: recall_check.py TUNWATCH CAPTURE [--min PERCENT] [--show N] [--workers N[,N...]]
                       [--tshark-opt OPT]... [--tunwatch-opt OPT]... [--keep DIR]
                       [--tshark-cache FILE]

Runs `TUNWATCH --events -r CAPTURE` (once for each --workers value, default 1) and tshark
over CAPTURE, and compares, as multisets of (kind, name lowercased, source address, source
port):

  dns_query     every question name of every DNS query tshark decodes on UDP or TCP port 53
                (mDNS, LLMNR and DNS tshark finds on other ports are left out: tunwatch reads
                port 53, as the corpus oracle's dns_query rows without nonstd_port);
                tunwatch's events of evidence dns_query
  dns_response  the question name of every DNS response, with the address and port of the
                client (the response's destination); tunwatch's events of category dns
                (evidence dns_response), whose SourceIp/SourcePort are the client's
  tls_sni       every server_name of every TLS ClientHello over TCP; evidence tls_sni
  quic_sni      the same for ClientHellos tshark decrypts from QUIC Initials; evidence quic_sni
  http_host     the Host of every HTTP request (port removed); evidence http_host

Packets quoted inside ICMP errors are left out (as the corpus oracle does). A name is counted
once per occurrence: a DNS query sent twice is two rows on both sides. A
name tunwatch cut (name_truncated: it keeps the last 1,099 bytes) matches the longer name it
ends.
With tunnels (VXLAN, GRE, ...) tshark lists every layer's addresses; the innermost one is
the packet's. The address is compared in tshark's text form (IPv6 compressed, as tunwatch
writes it). Trailing dots are removed from both sides (tshark never shows one).

Prints, per kind, the rows tshark decodes, those tunwatch reports, the recall (matched /
tshark's), the names only tunwatch reports (not counted against recall: tshark misses some,
e.g. TLS on ports it does not decode), then the first N missed rows with tshark's frame
numbers. Exits 1 when the recall over all kinds of any run is below --min (default 99.9), 2
on an error (tunwatch or tshark failed).

tshark runs with TCP reassembly, out-of-order reassembly and IP reassembly on, and TLS decoded
on port 8443 too (tests/bench/twgen.c puts 5% of TLS flows there); --tshark-opt adds options
(e.g. "-d tcp.port==4433,tls"), --tunwatch-opt tunwatch's (e.g. "--checksums off" for public
captures with rewritten addresses, as tshark does not check checksums).
"""
import argparse
import collections
import ipaddress
import json
import os
import subprocess
import sys
import tempfile

from e2e_check import strip_port  # one host[:port] reading for every checker

# The tree's rules (the names are events whatever the rules; -R keeps a binary outside the
# tree from looking for installed ones).
RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rules")

KINDS = ("dns_query", "dns_response", "tls_sni", "quic_sni", "http_host")

FIELDS = ["frame.number", "frame.protocols", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport",
          "udp.srcport", "tcp.dstport", "udp.dstport", "dns.flags.response",
          "dns.count.queries", "dns.qry.name", "tls.handshake.extensions_server_name",
          "quic.version", "http.host"]

TSHARK_OPTS = ["-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tcp.reassemble_out_of_order:TRUE",
               "-o", "ip.defragment:TRUE", "-o", "ipv6.defragment:TRUE",
               "-o", "tls.desegment_ssl_records:TRUE",
               "-o", "tls.desegment_ssl_application_data:TRUE", "-d", "tcp.port==8443,tls"]


def norm_name(name):
    name = name.lower()
    if name.endswith(".") and name != ".":
        name = name[:-1]
    return name


def norm_addr(addr):
    try:
        return str(ipaddress.ip_address(addr))
    except ValueError:
        return addr


def last(value):
    """The innermost layer's value of a field tshark lists once per layer."""
    return value.split("|")[-1] if value else ""


def tshark_output(capture, extra_opts, cache):
    """tshark's fields for capture, read from cache when it exists (else written there)."""
    if cache and os.path.exists(cache):
        with open(cache, "rb") as fp:
            return fp.read()
    cmd = ["tshark", "-n", "-r", capture] + TSHARK_OPTS + extra_opts + [
        "-Y", "dns || tls.handshake.type == 1 || http.request", "-T", "fields",
        "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in FIELDS:
        cmd += ["-e", f]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if res.returncode != 0:
        sys.stderr.write(res.stderr.decode("utf-8", "replace"))
        raise RuntimeError(f"tshark exited {res.returncode}")
    if cache:
        with open(cache + ".tmp", "wb") as fp:
            fp.write(res.stdout)
        os.replace(cache + ".tmp", cache)
    return res.stdout


def tshark_rows(capture, extra_opts, cache=None):
    """Counter of (kind, name, src, port) -> occurrences, and a dict of each key's frames."""
    out = tshark_output(capture, extra_opts, cache)
    rows = collections.Counter()
    frames = collections.defaultdict(list)
    col = {name: i for i, name in enumerate(FIELDS)}
    other_ports = [0]
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        f = line.split("\t")
        if len(f) < len(FIELDS):
            f += [""] * (len(FIELDS) - len(f))
        protos = f[col["frame.protocols"]].split(":")
        if "icmp" in protos or "icmpv6" in protos:
            continue  # a packet quoted in an ICMP error: not traffic of its own
        # the innermost IP layer's family: the last "ip" or "ipv6" in the protocol chain
        fam = [x for x in protos if x in ("ip", "ipv6")]
        v6 = bool(fam) and fam[-1] == "ipv6"
        if v6:
            src, dst = last(f[col["ipv6.src"]]), last(f[col["ipv6.dst"]])
        else:
            src, dst = last(f[col["ip.src"]]), last(f[col["ip.dst"]])
        src, dst = norm_addr(src), norm_addr(dst)
        sport = last(f[col["tcp.srcport"]]) or last(f[col["udp.srcport"]])
        dport = last(f[col["tcp.dstport"]]) or last(f[col["udp.dstport"]])
        sport = int(sport) if sport else 0
        dport = int(dport) if dport else 0

        def add(kind, name, addr, port):
            key = (kind, norm_name(name), addr, port)
            rows[key] += 1
            frames[key].append(f[col["frame.number"]])

        # DNS: one frame may hold several messages (TCP); each message lists its flag and
        # question count once and its names in order.
        responses = f[col["dns.flags.response"]].split("|") if f[col["dns.flags.response"]] else []
        counts = f[col["dns.count.queries"]].split("|") if f[col["dns.count.queries"]] else []
        names = f[col["dns.qry.name"]].split("|") if f[col["dns.qry.name"]] else []
        k = 0
        for i, resp in enumerate(responses):
            n = int(counts[i]) if i < len(counts) and counts[i].isdigit() else 1
            for name in names[k:k + n]:
                if 53 not in (sport, dport):
                    other_ports[0] += 1
                elif resp in ("1", "True"):
                    add("dns_response", name, dst, dport)
                else:
                    add("dns_query", name, src, sport)
            k += n
        sni = f[col["tls.handshake.extensions_server_name"]]
        quic = f[col["quic.version"]] != ""
        for name in sni.split("|") if sni else []:
            add("quic_sni" if quic else "tls_sni", name, src, sport)
        host = f[col["http.host"]]
        for h in host.split("|") if host else []:
            add("http_host", strip_port(h), src, sport)
    if other_ports[0]:
        print(f"recall: {os.path.basename(capture)}: {other_ports[0]} DNS names off port 53 "
              "(mDNS, LLMNR, tshark's heuristics) not counted")
    return rows, frames


def tunwatch_rows(tunwatch, capture, workers, keep, opts):
    """Counter of (kind, name, src, port) -> occurrences, and the keys of names cut."""
    rows = collections.Counter()
    cut = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(keep or tmp, "events.ndjson")
        cmd = [tunwatch, "-q", "--events", "-r", capture, "-R", RULES, "-o", out]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        cmd += opts
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        if res.returncode != 0:
            sys.stderr.write(res.stderr.decode("utf-8", "replace"))
            raise RuntimeError(f"tunwatch exited {res.returncode}")
        with open(out, "rb") as fp:
            for raw in fp:
                obj = json.loads(raw)
                if obj.get("type") not in ("event", "alert"):
                    continue
                if obj.get("type") == "alert":
                    continue  # --events writes every name as an event; alerts repeat them
                ev = obj.get("evidence")
                kind = "dns_response" if ev == "dns_response" else ev
                if kind not in KINDS:
                    continue
                e = obj.get("event", {})
                name = obj.get("name", "")
                key = (kind, norm_name(name), norm_addr(e.get("SourceIp", "")),
                       int(e.get("SourcePort", 0) or 0))
                if obj.get("name_truncated"):
                    cut[key] += 1
                else:
                    rows[key] += 1
    return rows, cut


def match_cut(theirs, ours, cut):
    """Counts each cut name as the tshark name it ends (same kind, source), if one is left."""
    for (kind, name, src, port), n in cut.items():
        for k, c in theirs.items():
            if n == 0:
                break
            if k[0] == kind and k[2] == src and k[3] == port and k[1].endswith(name):
                take = min(n, c - ours[k])
                if take > 0:
                    ours[k] += take
                    n -= take
        if n:
            ours[(kind, name, src, port)] += n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tunwatch")
    ap.add_argument("capture")
    ap.add_argument("--min", type=float, default=99.9)
    ap.add_argument("--show", type=int, default=20)
    ap.add_argument("--workers", default="1")
    ap.add_argument("--tshark-opt", action="append", default=[])
    ap.add_argument("--tunwatch-opt", action="append", default=[])
    ap.add_argument("--keep", help="directory to keep tunwatch's output in")
    ap.add_argument("--tshark-cache", help="file holding tshark's fields for CAPTURE: read "
                    "when it exists, else written (make bench keeps one per capture)")
    args = ap.parse_args()
    extra = []
    for o in args.tshark_opt:
        extra += o.split()
    topts = []
    for o in args.tunwatch_opt:
        topts += o.split()
    rc = 0
    try:
        theirs, frames = tshark_rows(args.capture, extra, args.tshark_cache)
        for w in args.workers.split(","):
            ours, cut = tunwatch_rows(args.tunwatch, args.capture, int(w), args.keep, topts)
            match_cut(theirs, ours, cut)
            label = os.path.basename(args.capture) + (f" --workers {w}" if w != "1" else "")
            rc = max(rc, report(label, theirs, frames, ours, args))
    except (RuntimeError, OSError, ValueError) as e:
        print(f"recall: {args.capture}: {e}")
        return 2
    return rc


def report(name, theirs, frames, ours, args):
    total_want = total_hit = 0
    missed = []
    for kind in KINDS:
        want = sum(c for k, c in theirs.items() if k[0] == kind)
        got = sum(c for k, c in ours.items() if k[0] == kind)
        hit = sum(min(c, ours[k]) for k, c in theirs.items() if k[0] == kind)
        extra_n = sum(c - theirs[k] for k, c in ours.items() if k[0] == kind and c > theirs[k])
        if want == 0 and got == 0:
            continue
        total_want += want
        total_hit += hit
        pct = 100.0 * hit / want if want else 100.0
        print(f"recall: {name}: {kind:<12} {hit}/{want} = {pct:.3f}%  "
              f"(tunwatch {got}, {extra_n} not in tshark)")
        for k, c in sorted(theirs.items()):
            if k[0] == kind and c > ours[k]:
                missed.append((k, c - ours[k], frames[k]))
    pct = 100.0 * total_hit / total_want if total_want else 100.0
    print(f"recall: {name}: all          {total_hit}/{total_want} = {pct:.3f}% "
          f"(minimum {args.min}%)")
    for (kind, nm, src, port), n, fr in missed[:args.show]:
        print(f"  missed {kind} {nm} {src} {port} x{n} (tshark frames {','.join(fr[:5])})")
    if len(missed) > args.show:
        print(f"  ... {len(missed) - args.show} more missed rows")
    return 0 if pct >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
