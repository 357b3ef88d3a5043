#!/usr/bin/env python3
"""Synthetic events for SigmaHQ's rules, with verdicts from an independent Sigma evaluator.

usage: sigma_events.py SIGMA_DIR CASES_OUT

For every rule under SIGMA_DIR that tunwatch can load with process fields on (logsource
network_connection, dns_query, dns, proxy or firewall; only fields tunwatch maps; no
`expand`) and that has hostname indicators (a plain or endswith value on DestinationHostname,
QueryName, query or cs-host), builds events from the rule's own values:

  - for each indicator value, a name that satisfies it (the value itself, or 'tw1' + the
    suffix), and the rest of the event from the selections the condition needs (the one
    holding the indicator, then the other selections that are not negated), kept only
    when this module's own evaluator says the whole condition holds: expected to match;
  - the same event with a name no indicator of the rule holds: expected not to match
    (checked with the evaluator too).

Rules whose condition the construction cannot satisfy are listed on stderr with why.
Cases are written one a line, tab-separated: rule id, 1 or 0, then key=value fields as
make_kv_sep() in tests/test_rules_util.h reads them (cat, name, qtype, proto, init, src,
dst, sport, dport, image, pid, user). The C test (test_sigma_cases in
tests/test_rules_sigma.c) loads SIGMA_DIR with process fields on and checks tunwatch's
verdict for each case.
"""
import glob
import ipaddress
import os
import re
import sys

import yaml

NAME_FIELDS = {"DestinationHostname", "QueryName"}


def sni_host(name):
    """A server_name as tunwatch matches it: without a trailing ':PORT' (1 to 5 digits, up to
    65535, after a host whose colons, if any, are inside brackets), as tw_tls_sni_host_len()."""
    host, sep, port = name.rpartition(":")
    if not sep or not host or not 1 <= len(port) <= 5 or \
            any(c not in "0123456789" for c in port) or int(port) > 65535:
        return name
    if ":" in host and not host.endswith("]"):
        return name
    return host
SIGMA = {
    "network_connection": {"DestinationHostname", "DestinationIp", "DestinationPort", "SourceIp",
                           "SourcePort", "Protocol", "Initiated", "Image", "ProcessId", "User",
                           "SourceIsIpv6", "DestinationIsIpv6"},
    "dns_query": {"QueryName", "QueryType", "DestinationIp", "DestinationPort", "SourceIp",
                  "SourcePort", "Protocol", "Image", "ProcessId", "User"},
}
# Fields of DNS responses (tunwatch's dns events, Zeek dns.log names): a dns rule that reads
# one of them is a rule on responses (category "dns"), evaluated on dns events only.
RESPONSE = {"answers", "TTLs", "rcode", "rcode_name", "Z", "AA", "TC", "RD", "RA", "rejected",
            "qtype", "trans_id", "ech_config"}
SIGMA["dns"] = SIGMA["dns_query"] | RESPONSE
MAPS = {
    "dns": {"query": "QueryName", "qtype_name": "QueryType", "record_type": "QueryType",
            "answer": "answers",
            "id.orig_h": "SourceIp", "id.orig_p": "SourcePort", "id.resp_h": "DestinationIp",
            "id.resp_p": "DestinationPort", "proto": "Protocol"},
    "proxy": {"cs-host": "DestinationHostname", "dst_ip": "DestinationIp", "c-ip": "SourceIp",
              "src_ip": "SourceIp", "dst_port": "DestinationPort", "src_port": "SourcePort"},
    "firewall": {"src_ip": "SourceIp", "dst_ip": "DestinationIp", "src_port": "SourcePort",
                 "dst_port": "DestinationPort"},
}
QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
          "SRV": 33, "ANY": 255}
NUMERIC = {"DestinationPort", "SourcePort", "ProcessId"}


class Unsupported(Exception):
    pass


def logsource(rule):
    ls = rule.get("logsource") or {}
    cat, svc = ls.get("category"), ls.get("service")
    if cat in ("network_connection", "dns_query"):
        return cat, None
    if cat == "dns" or (cat is None and svc == "dns"):
        return "dns_query", "dns"
    if cat in ("proxy", "firewall"):
        return "network_connection", cat
    raise Unsupported(f"logsource {cat or svc}")


def field_of(name, cat, fmap):
    if fmap:
        f = MAPS[fmap].get(name)
        if f is None and fmap == "dns" and (name in SIGMA[cat] or name in RESPONSE):
            f = name
    else:
        f = name if name in SIGMA[cat] else None
    if f is None:
        raise Unsupported(f"field {name}")
    return f


# ---------------------------------------------------------------------------------------
# Values: Sigma strings with wildcards and escapes, as regular expressions


def pattern(value, mod):
    """Regex for a Sigma string under contains/startswith/endswith (case-insensitive)."""
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    body = "".join(out)
    if mod in ("contains", "endswith"):
        body = ".*" + body
    if mod in ("contains", "startswith"):
        body = body + ".*"
    return re.compile(body, re.S | re.I)


def parse_key(key):
    parts = key.split("|")
    mods = parts[1:]
    for m in mods:
        if m not in ("contains", "startswith", "endswith", "all", "cidr", "re", "i", "m", "s",
                     "exists", "cased", "gt", "gte", "lt", "lte"):
            raise Unsupported(f"modifier {m}")
    return parts[0], mods


def value_str(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def test_value(field_val, v, mods):
    """Whether field_val (str, list of str, or None) satisfies one value v under mods. A
    list matches when one of its values does; an empty list is null."""
    if isinstance(field_val, list):
        if "exists" in mods or v is None:
            return test_value(field_val[0] if field_val else None, v, mods)
        return any(test_value(x, v, mods) for x in field_val)
    if "exists" in mods:
        return (field_val is not None and field_val != "") == bool(v)
    if v is None:
        return field_val is None or field_val == ""
    if field_val is None:
        return False
    s = value_str(v)
    if "cidr" in mods:
        try:
            return ipaddress.ip_address(field_val) in ipaddress.ip_network(s, strict=False)
        except ValueError:
            return False
    if "re" in mods:
        flags = (re.I if "i" in mods else 0) | (re.M if "m" in mods else 0) | \
            (re.S if "s" in mods else 0)
        return re.search(s, field_val, flags) is not None
    for op in ("gt", "gte", "lt", "lte"):
        if op in mods:
            try:
                x = float(field_val)
            except ValueError:
                return False
            return {"gt": x > float(s), "gte": x >= float(s), "lt": x < float(s),
                    "lte": x <= float(s)}[op]
    mod = next((m for m in mods if m in ("contains", "startswith", "endswith")), None)
    p = pattern(s, mod)
    if "cased" in mods:
        p = re.compile(p.pattern, re.S)
    return p.fullmatch(field_val) is not None


class Rule:
    def __init__(self, doc):
        self.doc = doc
        self.id = doc["id"]
        self.cat, self.fmap = logsource(doc)
        det = doc["detection"]
        self.sels = {}
        for name, sel in det.items():
            if name in ("condition", "timeframe"):
                continue
            self.sels[name] = self.compile_sel(sel)
        if self.cat == "dns_query" and any(f in RESPONSE for alts in self.sels.values()
                                           for conj in alts for f, *_ in conj):
            self.cat = "dns"
        cond = det["condition"]
        self.conds = cond if isinstance(cond, list) else [cond]
        for c in self.conds:
            if "|" in c:
                raise Unsupported("aggregation")

    def compile_sel(self, sel):
        """A selection as a list of alternatives (OR); each a list of (field, mods, values)
        (AND), or ('keyword', value)."""
        alts = []
        items = sel if isinstance(sel, list) else [sel]
        for it in items:
            if not isinstance(it, dict):
                raise Unsupported("keyword")
            conj = []
            for key, vals in it.items():
                fname, mods = parse_key(key)
                if fname == "":
                    raise Unsupported("keyword")
                f = field_of(fname, self.cat, self.fmap)
                vals = vals if isinstance(vals, list) else [vals]
                conj.append((f, mods, vals, fname))
            alts.append(conj)
        return alts

    def sel_true(self, name, ev):
        for conj in self.sels[name]:
            ok = True
            for f, mods, vals, _ in conj:
                res = [test_value(ev.get(f), v, mods) for v in vals]
                if not (all(res) if "all" in mods else any(res)):
                    ok = False
                    break
            if ok:
                return True
        return False

    # Condition grammar: or > and > not; "x of pattern", "all of them".
    def evaluate(self, ev):
        return any(self.eval_cond(c, ev) for c in self.conds)

    def eval_cond(self, cond, ev):
        toks = re.findall(r"\(|\)|[A-Za-z0-9_*.-]+", cond)
        pos = [0]

        def peek():
            return toks[pos[0]].lower() if pos[0] < len(toks) else None

        def take():
            pos[0] += 1
            return toks[pos[0] - 1]

        def ids(pat):
            if pat == "them":
                return [n for n in self.sels if not n.startswith("_")]
            rx = re.compile("^" + re.escape(pat).replace(r"\*", ".*") + "$")
            return [n for n in self.sels if rx.match(n)]

        def unary():
            t = peek()
            if t == "not":
                take()
                return not unary()
            if t == "(":
                take()
                v = orx()
                take()
                return v
            if pos[0] + 1 < len(toks) and toks[pos[0] + 1].lower() == "of":
                q = take().lower()
                take()
                names = ids(take())
                vals = [self.sel_true(n, ev) for n in names]
                return all(vals) if q == "all" else sum(vals) >= int(q)
            return self.sel_true(take(), ev)

        def andx():
            v = unary()
            while peek() == "and":
                take()
                v = unary() and v
            return v

        def orx():
            v = andx()
            while peek() == "or":
                take()
                v = andx() or v
            return v

        return orx()

    def negated(self):
        """Selection names that appear after a 'not' in some condition."""
        out = set()
        for c in self.conds:
            for m in re.finditer(r"\bnot\s+(?:(?:1|all)\s+of\s+)?\(?\s*([A-Za-z0-9_*]+)", c):
                pat = m.group(1)
                rx = re.compile("^" + re.escape(pat).replace(r"\*", ".*") + "$")
                out |= {n for n in self.sels if rx.match(n)}
        return out

    def indicators(self):
        """(selection, alternative index, field, value) of exact and endswith name values."""
        out = []
        for name, alts in self.sels.items():
            for ai, conj in enumerate(alts):
                for f, mods, vals, _ in conj:
                    if f not in NAME_FIELDS:
                        continue
                    if [m for m in mods if m not in ("endswith", "all")]:
                        continue
                    for v in vals:
                        if isinstance(v, str) and not re.search(r"(?<!\\)[*?]", v):
                            out.append((name, ai, "endswith" in mods, v))
        return out


def defaults(cat):
    ev = {"SourceIp": "192.168.1.10", "DestinationIp": "203.0.113.7", "SourcePort": "50000",
          "DestinationPort": "443", "Protocol": "tcp"}
    if cat == "network_connection":
        ev.update({"Initiated": "true", "SourceIsIpv6": "false", "DestinationIsIpv6": "false"})
    else:
        ev.update({"QueryType": "A", "Protocol": "udp", "DestinationPort": "53"})
    return ev


def example(f, mods, v):
    """A field value satisfying (mods, v), or None if tunwatch cannot carry it."""
    if "exists" in mods:
        return "x" if v else None
    if v is None:
        return None
    s = value_str(v)
    if "cidr" in mods:
        net = ipaddress.ip_network(s, strict=False)
        return str(net.network_address + (1 if net.num_addresses > 1 else 0))
    if "re" in mods or "cased" in mods:
        raise Unsupported("no example for re")
    for op, d in (("gt", 1), ("gte", 0), ("lt", -1), ("lte", 0)):
        if op in mods:
            return str(int(float(s)) + d)
    plain = re.sub(r"(?<!\\)[*?]", "z", s).replace("\\*", "*").replace("\\?", "?") \
        .replace("\\\\", "\\")
    if "endswith" in mods:
        plain = "tw1" + plain
    elif "startswith" in mods:
        plain = plain + "tw1"
    elif "contains" in mods:
        plain = "tw1" + plain + "tw1"
    return plain


def representable(f, val):
    if f in NUMERIC:
        return val.isdigit() and int(val) < (65536 if f != "ProcessId" else 2 ** 31)
    if f in ("SourceIp", "DestinationIp"):
        try:
            ipaddress.ip_address(val)
        except ValueError:
            return False
        return True
    if f == "Protocol":
        return val.lower() in ("tcp", "udp")
    if f == "Initiated":
        return val.lower() in ("true", "false")
    if f == "QueryType":
        return val.upper() in QTYPES
    if f in ("SourceIsIpv6", "DestinationIsIpv6"):
        return val in ("true", "false")
    return True


def apply_conj(ev, conj, fixed):
    for f, mods, vals, _ in conj:
        if f in fixed:
            continue
        chosen = None
        for v in (vals if "all" not in mods else vals[:1]):
            x = example(f, mods, v)
            if x is not None and representable(f, x):
                chosen = x
                break
        if "all" in mods and len(vals) > 1 and "contains" in mods:
            chosen = "tw1" + "tw1".join(value_str(v) for v in vals) + "tw1"
        if chosen is None:
            raise Unsupported(f"no value tunwatch can carry for {f}")
        ev[f] = chosen
        fixed.add(f)


def family_fix(ev):
    """tunwatch events have one address family: make the other address match."""
    v6 = [k for k in ("SourceIp", "DestinationIp") if ":" in ev.get(k, "")]
    if v6:
        for k in ("SourceIp", "DestinationIp"):
            if ":" not in ev.get(k, ""):
                ev[k] = "fd00::10"
        if "SourceIsIpv6" in ev:
            ev["SourceIsIpv6"] = ev["DestinationIsIpv6"] = "true"


def to_kv(cat, ev):
    kv = {"cat": "d" if cat == "dns_query" else "n"}
    name = ev.get("QueryName", ev.get("DestinationHostname"))
    kv["name"] = name
    kv["src"], kv["dst"] = ev["SourceIp"], ev["DestinationIp"]
    kv["sport"], kv["dport"] = ev["SourcePort"], ev["DestinationPort"]
    kv["proto"] = "6" if ev["Protocol"].lower() == "tcp" else "17"
    if cat == "network_connection":
        kv["init"] = "t" if ev["Initiated"].lower() == "true" else "f"
    else:
        kv["qtype"] = str(QTYPES[ev["QueryType"].upper()])
    for f, k in (("Image", "image"), ("ProcessId", "pid"), ("User", "user")):
        if f in ev:
            kv[k] = ev[f]
    for k, v in kv.items():
        if "\t" in v or "\n" in v:
            raise Unsupported("tab or newline in a value")
    return kv


PROC_DEFAULTS = {"Image": "C:\\tw-test\\tw1.exe", "User": "tw-test-user", "ProcessId": "4242"}


def candidates(rule, name, namef, sel, ai, neg):
    """Events with the given name satisfying the selection alternative (when sel is
    positive) and, in later tries, the other positive selections and process defaults."""
    used = {f for alts in rule.sels.values() for conj in alts for f, *_ in conj}
    for extra in (False, True):
        for procdef in (False, True):
            ev = defaults(rule.cat)
            ev[namef] = name
            fixed = {namef}
            try:
                if sel is not None:
                    apply_conj(ev, rule.sels[sel][ai], fixed)
                if extra or sel is None:
                    for other, alts in rule.sels.items():
                        if other != sel and other not in neg:
                            apply_conj(ev, alts[0], fixed)
            except Unsupported as e:
                yield None, str(e)
                continue
            if procdef:
                for f, v in PROC_DEFAULTS.items():
                    if f in used and f not in ev:
                        ev[f] = v
            family_fix(ev)
            yield ev, None


def cases_for(rule):
    out = []
    if rule.cat == "dns":
        # make_kv_sep() builds queries and connections; sigma_pcaps.py checks these rules
        # over the captures' DNS responses.
        return out, "a rule on DNS responses (checked over the captures by sigma_pcaps.py)"
    neg = rule.negated()
    ind = rule.indicators()
    if not ind:
        return out, "no hostname indicator"
    why = "the constructed event does not satisfy the condition"
    namef = "QueryName" if rule.cat == "dns_query" else "DestinationHostname"
    for sel, ai, suffix, value in ind:
        name = ("tw1" + value if suffix else value).lower()
        if name.endswith("."):
            continue  # a name never ends with '.' after normalisation
        if sel in neg:
            # An indicator in a filter: an event the rule matches with a neutral name, then
            # the same event with the filter's name, which the rule must not match.
            for ev, err in candidates(rule, "tw-neutral.invalid", namef, None, 0, neg):
                if ev is None:
                    why = err
                    continue
                if not rule.evaluate(ev):
                    continue
                hit = dict(ev)
                hit[namef] = name
                if rule.evaluate(hit):
                    break
                out.append((1, to_kv(rule.cat, ev)))
                out.append((0, to_kv(rule.cat, hit)))
                break
            continue
        for ev, err in candidates(rule, name, namef, sel, ai, neg):
            if ev is None:
                why = err
                continue
            if not rule.evaluate(ev):
                continue
            out.append((1, to_kv(rule.cat, ev)))
            miss = dict(ev)
            miss[namef] = "tw-no-indicator.invalid"
            if not rule.evaluate(miss):
                out.append((0, to_kv(rule.cat, miss)))
            break
    return out, (None if out else why)


def main():
    root, dest = sys.argv[1], sys.argv[2]
    n_rules = n_cases = 0
    unsat = []
    with open(dest, "w", encoding="utf-8") as fp:
        for path in sorted(glob.glob(os.path.join(root, "**", "*.yml"), recursive=True)):
            with open(path, encoding="utf-8") as f:
                for doc in yaml.safe_load_all(f):
                    if not doc:
                        continue
                    try:
                        rule = Rule(doc)
                    except (Unsupported, KeyError):
                        continue
                    cases, why = cases_for(rule)
                    if why == "no hostname indicator":
                        continue
                    if not cases:
                        unsat.append((rule.id, os.path.relpath(path, root), why))
                        continue
                    n_rules += 1
                    for expect, kv in cases:
                        fields = "\t".join(f"{k}={v}" for k, v in kv.items())
                        fp.write(f"{rule.id}\t{expect}\t{fields}\n")
                        n_cases += 1
    print(f"sigma_events: {n_cases} cases for {n_rules} rules with hostname indicators")
    for rid, path, why in unsat:
        print(f"sigma_events: no event for {rid} ({path}): {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
