#!/usr/bin/env python3
"""Runs tunwatch over the public capture corpus and compares its names with tshark's oracle.

usage: corpus_check.py TUNWATCH CORPUS_DIR KNOWN_DIFFS.tsv [--write-known]

For every capture in CORPUS_DIR/pcaps: tunwatch must exit 0 (or 1 for a link type it
reports as unsupported), never crash, and every output line must be valid JSON. Then the
DNS query names (port 53), TLS SNI names and QUIC Initial SNI names, each with its source
address, are compared with the oracle rows of kind dns_query (without nonstd_port), tls_sni and
quic_sni as multisets. Names the oracle marks name_not_plain_ascii are compared after
decoding both sides' escapes to bytes; a U+FFFD in a lossy oracle name stands for any run of
non-ASCII bytes.

tunwatch runs with --checksums off: tshark's oracle does not check checksums, and many public
captures have rewritten addresses or offloaded checksums (with the default, auto, the packets
a receiver would drop are not read: 41 oracle rows of these captures; pcaps/tls_decoy.pcap and
pcaps/offload.pcap test the validation). IP reassembly stays on.

Agreement = matched rows / (oracle rows + names only tunwatch reports); it must be >= 99.5%.
Each remaining difference must be listed, with its reason, in KNOWN_DIFFS.tsv
(file, kind, src, name, side, reason); differences not listed, and listed ones that no longer
occur, fail the test.
"""
import collections
import json
import os
import re
import subprocess
import sys

from e2e_check import strip_port  # one host[:port] reading for every checker
from same_set import same_line  # one notion of "the same line" for every comparison

TARGET = 0.995


def decode_ours(name):
    """tunwatch presentation form (\\DDD, \\. and \\\\ escapes) -> bytes."""
    out = bytearray()
    i = 0
    b = name.encode("utf-8", "surrogateescape")
    while i < len(b):
        if b[i] == 0x5C and i + 3 < len(b) + 0 and b[i + 1:i + 4].isdigit():
            out.append(int(b[i + 1:i + 4]))
            i += 4
        elif b[i] == 0x5C and i + 1 < len(b):
            out.append(b[i + 1])
            i += 2
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


C_ESC = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92, '"': 34,
         "'": 39, "?": 63, "0": 0}


def decode_tshark(name):
    """tshark's rendering (\\ooo octal, C escapes, UTF-8) -> bytes, or a regex if lossy."""
    out = bytearray()
    i = 0
    lossy = False
    parts = []
    while i < len(name):
        c = name[i]
        if c == "\\" and i + 3 < len(name) + 0 and re.match(r"[0-7]{3}", name[i + 1:i + 4]):
            out.append(int(name[i + 1:i + 4], 8))
            i += 4
        elif c == "\\" and i + 1 < len(name) and name[i + 1] in C_ESC:
            out.append(C_ESC[name[i + 1]])
            i += 2
        elif c == "\ufffd":
            # One group for a run of replacement characters: adjacent groups would make
            # the match backtrack exponentially on a miss.
            lossy = True
            parts.append(re.escape(bytes(out)))
            parts.append(b"[\\x80-\\xff]+")
            out = bytearray()
            while i < len(name) and name[i] == "\ufffd":
                i += 1
        else:
            out += c.encode("utf-8")
            i += 1
    if lossy:
        parts.append(re.escape(bytes(out)))
        return re.compile(b"".join(parts) + b"\\Z", re.S)
    return bytes(out)


def frame_counters(stderr):
    """The summary's counters of frames and their decoding, which do not depend on how many
    workers read the capture: the decode line (but its bypassed flows, each worker's own), the
    IP reassembly and checksum validation line (its state and counts) and the defrag_*
    anomalies."""
    text = stderr.decode(errors="replace")
    decode = re.search(r"^  decode: (.*?); bypassed", text, re.M)
    reasm = re.search(r"ip reassembly: (.*)$", text, re.M)
    anom = re.search(r"^  skipped/anomalies: (.*)$", text, re.M)
    words = anom.group(1).split() if anom else []
    defrag = [(words[i], words[i + 1]) for i in range(0, len(words) - 1, 2)
              if words[i].startswith("defrag_")]
    return (decode.group(1) if decode else None, reasm.group(1) if reasm else None, defrag)


def same_lines(stdout):
    """The output's lines as a sorted list, as tests/same_set.py compares them (flow ids and
    the run id aside): what must not depend on how many workers read the capture. A line that
    is not JSON stays as it is (the one-worker run reports it)."""
    out = []
    for line in stdout.splitlines():
        try:
            out.append(same_line(json.loads(line.decode("utf-8"))))
        except (UnicodeDecodeError, ValueError):
            out.append(line.decode("utf-8", "replace"))
    return sorted(out)


def run_tw(tw, pcap, workers, checksums):
    return subprocess.run([tw, "-q", "-r", pcap, "--events", "--checksums", checksums, "-o", "-",
                           "--workers", str(workers)],
                          capture_output=True,
                          timeout=120)


def run_counts(tw, pcap, workers):
    """A run with checksums auto (the default): its status, frame counters and lines, which
    must not depend on how many workers read the capture."""
    p = run_tw(tw, pcap, workers, "auto")
    return p.returncode, frame_counters(p.stderr), same_lines(p.stdout)


def run_names(tw, pcap):
    """One worker, checksums off (tshark validates none): the problems found (exit status,
    invalid JSON) and the names, to compare with tshark's."""
    p = run_tw(tw, pcap, 1, "off")
    problems = []
    events = []
    if p.returncode < 0 or p.returncode > 1:
        problems.append(f"exit status {p.returncode}: {p.stderr.decode(errors='replace')[-300:]}")
    for n, line in enumerate(p.stdout.splitlines(), 1):
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            problems.append(f"line {n}: invalid JSON: {e}")
            continue
        # The oracle holds names read off the wire; dns_answer events name a flow from an
        # earlier DNS answer, which tshark has no column for.
        if obj.get("type") == "event" and obj["evidence"] in ("dns_query", "tls_sni", "quic_sni",
                                                                "http_host"):
            events.append((obj["evidence"], obj["event"]["SourceIp"], obj["name"]))
    return problems, events


def load_oracle(path, placeholders):
    rows = []
    with open(path, encoding="utf-8", errors="surrogateescape") as fp:
        header = fp.readline().rstrip("\n").split("\t")
        col = {h: i for i, h in enumerate(header)}
        for line in fp:
            f = line.rstrip("\n").split("\t")
            kind = f[col["kind"]]
            detail = f[col["detail"]] if len(f) > col["detail"] else ""
            if kind == "dns_query" and "nonstd_port" in detail:
                continue
            if kind not in ("dns_query", "tls_sni", "quic_sni", "http_host"):
                continue
            name = f[col["name"]]
            if name.startswith("<") and name.endswith(">") and name != "<Root>":
                # tshark's placeholder for a name it could not decode ("<Unknown extended
                # label>", "<Name contains a pointer that loops>"): there is no name to report.
                placeholders.append((kind, f[col["src"]], name))
                continue
            if kind == "http_host":
                name = strip_port(name)  # tunwatch names the host; http.host keeps the port
            rows.append((kind, f[col["src"]], name, detail))
    return rows


def main():
    tw, corpus, known_path = sys.argv[1:4]
    write_known = "--write-known" in sys.argv
    pdir = os.path.join(corpus, "pcaps")
    crashes = []
    diffs = []
    placeholders = []
    total_rows = matched = extra = 0
    names = sorted(os.listdir(pdir))
    if not names:
        print(f"corpus: no capture in {pdir}")
        print("corpus: 0 passed, 1 failed, 0 skipped")
        return 1
    for name in names:
        problems, events = run_names(tw, os.path.join(pdir, name))
        crashes += [f"{name}: {p}" for p in problems]
        # Several workers (each reads the whole file and decodes its share; with two, the
        # second decodes every frame) count every frame and its decoding once, as one does.
        # Two give the same lines as one, DNS answer correlation included (the cache is
        # stamped: each lookup sees the answers of the frames before it). With checksums on
        # auto (the default) too: every worker decides on the same packets, as one does.
        rc, counters, lines = run_counts(tw, os.path.join(pdir, name), 1)
        for workers in (2, 3):
            rc_n, counters_n, lines_n = run_counts(tw, os.path.join(pdir, name), workers)
            if rc_n != rc or counters_n != counters:
                crashes.append(f"{name}: --workers {workers} counts {counters_n} (exit {rc_n}), "
                               f"one worker {counters} (exit {rc})")
            if lines_n != lines:
                only = len(set(lines) ^ set(lines_n))
                crashes.append(f"{name}: --workers {workers} writes {len(lines_n)} lines, one worker "
                               f"{len(lines)} ({only} differ)")
        oracle_path = os.path.join(corpus, "oracle", name + ".tsv")
        rows = load_oracle(oracle_path, placeholders) if os.path.exists(oracle_path) else []
        ours = collections.Counter(events)
        # Exact matches first, then escaped / lossy names by decoding both sides.
        pending = []
        for kind, src, oname, detail in rows:
            total_rows += 1
            key = (kind, src, oname if oname != "<Root>" else ".")
            if ours[key] > 0:
                ours[key] -= 1
                matched += 1
            else:
                pending.append((kind, src, oname, detail))
        for kind, src, oname, detail in pending:
            want = decode_tshark(oname) if oname != "<Root>" else b"."
            hit = None
            for (k, s, n), c in ours.items():
                if c <= 0 or k != kind or s != src:
                    continue
                got = decode_ours(n) if kind == "dns_query" else n.encode("utf-8", "replace")
                if (want.match(got) if hasattr(want, "match") else got == want):
                    hit = (k, s, n)
                    break
            if hit is not None:
                ours[hit] -= 1
                matched += 1
            else:
                diffs.append((name, kind, src, oname, "oracle_only"))
        for (k, s, n), c in sorted(ours.items()):
            for _ in range(c):
                extra += 1
                diffs.append((name, k, s, n, "tunwatch_only"))

    denom = total_rows + extra
    agreement = matched / denom if denom else 1.0
    print(f"corpus: {len(placeholders)} oracle rows hold a tshark placeholder instead of a name "
          f"(not compared)")
    print(f"corpus: {total_rows} oracle rows, {matched} matched, {total_rows - matched} only in "
          f"the oracle, {extra} only in tunwatch; agreement {agreement * 100:.2f}%")

    known = {}
    known_count = collections.Counter()
    if os.path.exists(known_path):
        with open(known_path, encoding="utf-8", errors="surrogateescape") as fp:
            for line in fp:
                if line.startswith("#") or not line.strip():
                    continue
                f = line.rstrip("\n").split("\t")
                known[tuple(f[:5])] = f[5] if len(f) > 5 else ""
                known_count[tuple(f[:5])] += 1
    if write_known:
        with open(known_path, "w", encoding="utf-8", errors="surrogateescape") as fp:
            fp.write("# file\tkind\tsrc\tname\tside\treason\n")
            for d in diffs:
                fp.write("\t".join(d) + "\t" + known.get(d, "TODO: explain") + "\n")
        print(f"wrote {len(diffs)} differences to {known_path}")
    failures = list(crashes)
    seen = collections.Counter(diffs)
    for d in sorted(seen):
        if seen[d] > known_count[d]:
            failures.append(f"new difference (x{seen[d] - known_count[d]}): " + "\t".join(d))
    for d in sorted(known_count):
        if known_count[d] > seen[d]:
            failures.append(f"pinned difference no longer occurs (x{known_count[d] - seen[d]}): "
                            + "\t".join(d))
    if agreement < TARGET:
        failures.append(f"agreement {agreement * 100:.2f}% < {TARGET * 100:.1f}%")
    for f in failures:
        print("  " + f)
    print(f"corpus: {0 if failures else 1} passed, {1 if failures else 0} failed, 0 skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
