#!/usr/bin/env python3
"""Checks tunwatch's output formats (tests/t_formats.sh).

usage:
  format_check.py lines FORMAT OUTPUT          every line valid in FORMAT (ecs, asim, cef, native)
  format_check.py golden HOST (FORMAT IN OUT)...  IN with the run id and HOST (this machine's
                                               host name) masked, into OUT, for golden files
  format_check.py captures DIR NAME...         for each NAME, DIR/NAME.{native,ecs,asim,cef}:
                                               every line valid, and the four describe the same
                                               alerts and events line by line; prints "ok   NAME"
                                               or "FAIL NAME: why" for each
  format_check.py asim_query ASIM NATIVE       the ASIM form of the seed's hunting query selects
                                               exactly the LocaltoNet connection alerts
  format_check.py dump FILE                    the lines test_format wrote (TW_FORMAT_LINES):
                                               valid, and hostile values read back as written

CEF lines are read with a parser written from the CEF specification: the header is seven
'|'-separated fields after "CEF:" (with \\| and \\\\ escapes), the extension is key=value pairs
whose keys are letters and digits and whose values escape \\, = and line breaks (\\n, \\r).
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigma_events  # noqa: E402

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
KEY = re.compile(r"[A-Za-z0-9]+")

ECS_KEYS = {"@timestamp", "ecs", "event", "source", "destination", "network", "observer",
            "related", "tunwatch"}
ECS_TOP = ECS_KEYS | {"rule", "threat", "dns", "tls", "http", "url", "user_agent", "process",
                      "user"}
ASIM_COMMON = {"TimeGenerated", "EventStartTime", "EventEndTime", "EventCount", "EventVendor",
               "EventProduct", "EventSchema", "EventSchemaVersion", "EventType", "EventResult",
               "EventSeverity", "Dvc", "DvcHostname", "SrcIpAddr", "SrcPortNumber", "DstIpAddr",
               "DstPortNumber", "NetworkProtocol", "AdditionalFields"}
ASIM_NS = ASIM_COMMON | {"NetworkSessionId", "NetworkDirection", "DstHostname", "DstFQDN"}
ASIM_DNS = ASIM_COMMON | {"DnsQuery", "DnsQueryType", "DnsQueryTypeName", "DnsSessionId"}
CEF_SEVERITY = {"1", "3", "5", "8", "10"}


# CEF's keys for the stream's, the hello's and the DNS message's oddities (native:
# stream_flags, tls.flags, dns_oddities).
CEF_FLAG_KEYS = ("tunwatchStreamFlags", "tunwatchTlsFlags", "tunwatchDnsOddities")


class Bad(Exception):
    pass


def parse_cef(line):
    """(header fields, {key: value}) of one CEF line, unescaped; Bad if malformed."""
    if not line.startswith("CEF:"):
        raise Bad("no CEF: prefix")
    header, i = [], 4
    field = []
    while len(header) < 7:
        if i >= len(line):
            raise Bad("header ends early")
        c = line[i]
        if c == "\\":
            if i + 1 >= len(line) or line[i + 1] not in "\\|":
                raise Bad(f"bad header escape at {i}")
            field.append(line[i + 1])
            i += 2
            continue
        if c == "|":
            header.append("".join(field))
            field = []
        else:
            field.append(c)
        i += 1
    ext = line[i:]
    # Split on unescaped '=': each key is the word before it, after the last space.
    pairs, pos, start = {}, 0, 0
    eqs = []
    while pos < len(ext):
        if ext[pos] == "\\":
            pos += 2
            continue
        if ext[pos] == "=":
            eqs.append(pos)
        pos += 1
    keys = []
    for n, eq in enumerate(eqs):
        sp = ext.rfind(" ", 0, eq)
        key = ext[sp + 1:eq]
        if not KEY.fullmatch(key):
            raise Bad(f"bad extension key {key!r}")
        keys.append((key, sp + 1, eq))
    if ext and (not keys or keys[0][1] != 0):
        raise Bad("extension does not start with a key")
    for n, (key, kstart, eq) in enumerate(keys):
        end = keys[n + 1][1] - 1 if n + 1 < len(keys) else len(ext)
        raw = ext[eq + 1:end]
        val, j = [], 0
        while j < len(raw):
            if raw[j] == "\\":
                nxt = raw[j + 1] if j + 1 < len(raw) else ""
                if nxt not in ("\\", "=", "n", "r"):
                    raise Bad(f"bad escape in {key}")
                val.append({"\\": "\\", "=": "=", "n": "\n", "r": "\r"}[nxt])
                j += 2
                continue
            val.append(raw[j])
            j += 1
        if key in pairs:
            raise Bad(f"key {key} twice")
        pairs[key] = "".join(val)
    return header, pairs


def check_line(fmt, line):
    """The parsed line; Bad when it breaks FORMAT's rules."""
    if "\n" in line or "\r" in line:
        raise Bad("raw line break")
    if fmt == "cef":
        header, ext = parse_cef(line)
        if header[:3] != ["0", "tunwatch", "tunwatch"]:
            raise Bad("header version, vendor or product")
        if header[6] not in CEF_SEVERITY:
            raise Bad(f"severity {header[6]!r}")
        for k in ("rt", "src", "spt", "dst", "dpt", "proto", "dvchost", "deviceExternalId",
                  "cs5", "cn1"):
            if k not in ext:
                raise Bad(f"no {k}")
        for n in range(1, 7):
            if (f"cs{n}" in ext) != (f"cs{n}Label" in ext):
                raise Bad(f"cs{n} without its label")
        if not UUID.fullmatch(ext["cs5"]):
            raise Bad("cs5 is not a run id")
        return {"header": header, "ext": ext}
    o = json.loads(line)
    if fmt == "ecs":
        if not ECS_KEYS <= o.keys():
            raise Bad(f"lacks {sorted(ECS_KEYS - o.keys())}")
        if not o.keys() <= ECS_TOP:
            raise Bad(f"unexpected top-level keys {sorted(o.keys() - ECS_TOP)}")
        ev = o["event"]
        if ev["kind"] not in ("alert", "event") or ev["category"] != ["network"]:
            raise Bad("event.kind/category")
        if ev["dataset"] != "tunwatch." + ev["kind"]:
            raise Bad("event.dataset")
        if not set(ev["type"]) <= {"connection", "protocol", "info"}:
            raise Bad("event.type")
        if o["network"]["direction"] not in ("inbound", "outbound", "internal", "external",
                                             "unknown"):
            raise Bad("network.direction")
        if (ev["kind"] == "alert") != ("rule" in o):
            raise Bad("rule only on alerts")
        if not UUID.fullmatch(o["tunwatch"]["run_id"]):
            raise Bad("run id")
    elif fmt == "asim":
        want = ASIM_DNS if o.get("EventSchema") == "Dns" else ASIM_NS
        if not want <= o.keys():
            raise Bad(f"lacks {sorted(want - o.keys())}")
        if o.get("NetworkDirection", "NA") not in ("Inbound", "Outbound", "Local", "External",
                                                   "NA"):
            raise Bad("NetworkDirection")
        if o["EventSeverity"] not in ("Informational", "Low", "Medium", "High"):
            raise Bad("EventSeverity")
        if not UUID.fullmatch(o["AdditionalFields"]["sensor_run_id"]):
            raise Bad("run id")
    elif fmt == "native":
        if not UUID.fullmatch(o["sensor"]["run_id"]):
            raise Bad("run id")
        if ("interface" in o) == ("pcap_filename" in o):
            raise Bad("one of interface and pcap_filename")
    return o


def read(fmt, path):
    out = []
    with open(path, encoding="utf-8", newline="\n") as fp:
        for n, line in enumerate(fp, 1):
            try:
                out.append(check_line(fmt, line.rstrip("\n")))
            except (Bad, ValueError, KeyError, IndexError) as e:
                raise SystemExit(f"{path}:{n}: not valid {fmt}: {e}")
    return out


def golden(fmt, path, host, out):
    with open(path, encoding="utf-8", newline="\n") as fp, \
            open(out, "w", encoding="utf-8", newline="\n") as w:
        for line in fp:
            # Only the run id: rule ids are UUIDs too, and must stay as they are.
            o = check_line(fmt, line.rstrip("\n"))
            run = (o["ext"]["cs5"] if fmt == "cef" else o["tunwatch"]["run_id"] if fmt == "ecs"
                   else o["AdditionalFields"]["sensor_run_id"])
            line = line.replace(run, "RUN_ID")
            if fmt == "cef":
                line = line.replace(f" dvchost={host} ", " dvchost=HOST ")
            elif fmt == "ecs":
                line = line.replace(f'"observer":{{"hostname":{json.dumps(host)},',
                                    '"observer":{"hostname":"HOST",')
            elif fmt == "asim":
                line = line.replace(f'"DvcHostname":{json.dumps(host)},', '"DvcHostname":"HOST",')
            w.write(line)


def key_of(fmt, o):
    """(alert?, rule id, source ip, source port, name as rules match it) of one line."""
    if fmt == "native":
        return (o["type"] == "alert", o.get("rule", {}).get("id"), o["event"]["SourceIp"],
                o["event"]["SourcePort"], o["name_normalized"])
    if fmt == "ecs":
        return (o["event"]["kind"] == "alert", o.get("rule", {}).get("id"), o["source"]["ip"],
                o["source"]["port"], o["tunwatch"]["name_normalized"])
    if fmt == "asim":
        return ("ThreatId" in o, o.get("ThreatId"), o["SrcIpAddr"], o["SrcPortNumber"],
                o["AdditionalFields"]["name_normalized"])
    h, e = o["header"], o["ext"]
    alert = "cs4" in e
    # CEF has the name as sent: a server_name sent as host:port is matched as its host.
    name = e["cs6"] if "cs6" in e else sigma_events.sni_host(e.get("dhost", ""))
    return (alert, e.get("cs4"), e["src"], int(e["spt"]), name.lower().rstrip("."))


def same(paths):
    fmts = ("native", "ecs", "asim", "cef")
    outs = {f: read(f, p) for f, p in zip(fmts, paths)}
    n = {f: len(v) for f, v in outs.items()}
    if len(set(n.values())) != 1:
        raise SystemExit(f"line counts differ: {n}")
    flagged = dict.fromkeys(CEF_FLAG_KEYS, 0)
    for i in range(n["native"]):
        keys = {f: key_of(f, outs[f][i]) for f in fmts}
        # CEF replaces bytes it cannot carry: compare its name only where the name is plain.
        plain = all(0x20 < ord(c) < 0x7f for c in keys["native"][4])
        ref = keys["native"]
        for f in fmts[1:]:
            k = keys[f] if (f != "cef" or plain) else keys[f][:4] + (ref[4],)
            if k != ref:
                raise SystemExit(f"line {i + 1}: {f} says {k}, native {ref}")
        # The stream's, the hello's and the DNS message's oddities, where native has them: the
        # same names in CEF's own keys, in the same order (and the DNS ones in ECS's and
        # ASIM's tunwatch fields).
        nat, cef = outs["native"][i], outs["cef"][i]["ext"]
        odd = nat.get("dns_oddities", [])
        for f, got in (("ecs", outs["ecs"][i]["tunwatch"]),
                       ("asim", outs["asim"][i]["AdditionalFields"])):
            if got.get("dns_oddities", []) != odd:
                raise SystemExit(f"line {i + 1}: {f} dns_oddities {got.get('dns_oddities')}, "
                                 f"native {odd}")
        for want, key in zip((nat.get("stream_flags", []), nat.get("tls", {}).get("flags", []),
                              odd), CEF_FLAG_KEYS):
            got = cef[key].split(",") if key in cef else []
            if got != want:
                raise SystemExit(f"line {i + 1}: cef {key} {got}, native {want}")
            flagged[key] += bool(want)
        # Every line names the sensor and run, the same in all four.
        run = {outs["native"][i]["sensor"]["run_id"], outs["ecs"][i]["tunwatch"]["run_id"],
               outs["asim"][i]["AdditionalFields"]["sensor_run_id"], outs["cef"][i]["ext"]["cs5"]}
        names = {outs["native"][i]["sensor"]["name"], outs["ecs"][i]["observer"]["name"],
                 outs["asim"][i]["Dvc"], outs["cef"][i]["ext"]["deviceExternalId"]}
        if len(names) != 1:
            raise SystemExit(f"line {i + 1}: sensor names differ: {names}")
        if len(run) != 4:  # four runs: four run ids
            raise SystemExit(f"line {i + 1}: run ids {run} are not one per run")
    return n["native"], flagged


def asim_query(asim_path, native_path):
    """The seed's query, as written (NetworkDirection =~ "true") and in its working form
    (NetworkDirection == "Outbound"), over imNetworkSession: the NetworkSession alert lines.
    KQL's endswith is case-insensitive, == on strings is not."""
    lines = [o for o in read("asim", asim_path) if o["EventSchema"] == "NetworkSession"]
    alerts = [o for o in lines if "ThreatId" in o]

    def host_ok(o):
        h = o["DstHostname"].lower()
        return h.endswith(".localto.net") or h.endswith(".localtonet.com")

    as_written = [o for o in alerts if host_ok(o) and o["NetworkDirection"].lower() == "true"]
    working = [o for o in alerts if host_ok(o) and o["NetworkDirection"] == "Outbound"]
    native = read("native", native_path)
    want = sorted((o["event"]["SourceIp"], o["event"]["SourcePort"], o["name"])
                  for o in native if o["type"] == "alert" and o["category"] == "network_connection"
                  and o["rule"]["file"].endswith("tunnel_localtonet.yml"))
    got = sorted((o["SrcIpAddr"], o["SrcPortNumber"], o["AdditionalFields"]["name"])
                 for o in working)
    if as_written:
        raise SystemExit(f"the seed query as written selects {len(as_written)} lines")
    if not want:
        raise SystemExit("the capture holds no LocaltoNet connection alert")
    if got != want:
        raise SystemExit(f"the working query selects {got}, the LocaltoNet alerts are {want}")
    print(f"  as written: 0 lines; NetworkDirection == \"Outbound\": {len(got)} lines, exactly "
          f"the {len(want)} LocaltoNet connection alerts")


HOSTILE = 'a"b\\c|d=e\nf\rg\th\u00ff\u0000\u00e9.localto.net'
HOSTILE_CEF = 'a"b\\c|d=e\nf\rg\ufffdh\ufffd\ufffd\u00e9.localto.net'


def dump(path):
    n = {"native": 0, "ecs": 0, "asim": 0, "cef": 0}
    hostile = {k: 0 for k in n}
    with open(path, encoding="utf-8", newline="\n") as fp:
        for i, raw in enumerate(fp, 1):
            fmt, line = raw.rstrip("\n").split("\t", 1)
            try:
                if fmt == "cef":
                    h, e = parse_cef(line)
                    o = {"header": h, "ext": e}
                    if e.get("dhost") == HOSTILE_CEF and e.get("cs1") == HOSTILE_CEF:
                        hostile[fmt] += 1
                        if h[4] != "id|x" or e.get("cs2") != "j=a|4\\":
                            raise Bad("hostile header or cs2 read back wrong")
                else:
                    o = json.loads(line)
                    name = {"native": lambda: o["name"], "ecs": lambda: o["tunwatch"]["name"],
                            "asim": lambda: o["AdditionalFields"]["name"]}[fmt]()
                    if name == HOSTILE:
                        hostile[fmt] += 1
            except (Bad, ValueError, KeyError) as e:
                raise SystemExit(f"{path}:{i}: {fmt} line not valid: {e}")
            n[fmt] += 1
    if min(n.values()) == 0 or min(hostile.values()) == 0:
        raise SystemExit(f"lines {n}, hostile names read back {hostile}")
    print(f"  test_format lines read back: {n}; hostile names intact: {hostile}")


def main(argv):
    cmd = argv[1]
    if cmd == "lines":
        print(f"  {len(read(argv[2], argv[3]))} {argv[2]} lines valid")
    elif cmd == "golden":
        for i in range(3, len(argv), 3):
            golden(argv[i], argv[i + 1], argv[2], argv[i + 2])
    elif cmd == "captures":
        failed = 0
        flagged = dict.fromkeys(CEF_FLAG_KEYS, 0)
        for name in argv[3:]:
            base = f"{argv[2]}/{name}"
            try:
                n, fl = same([f"{base}.{f}" for f in ("native", "ecs", "asim", "cef")])
                extra = "".join(f", {v} with {k}" for k, v in fl.items() if v)
                print(f"ok   {name}: {n} lines valid in native, ecs, asim, cef, the same alerts "
                      f"and events in each{extra}")
                for k, v in fl.items():
                    flagged[k] += v
            except SystemExit as e:
                failed += 1
                print(f"FAIL {name}: {e}")
        if len(argv) > 4 and not all(flagged.values()):
            # Over the bundled captures, some lines carry each kind of flag: a comparison
            # that met none checked nothing.
            failed += 1
            print(f"FAIL flags: lines with each kind of flag over all captures: {flagged}")
        sys.exit(1 if failed else 0)
    elif cmd == "asim_query":
        asim_query(argv[2], argv[3])
    elif cmd == "dump":
        dump(argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
