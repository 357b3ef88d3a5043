#!/usr/bin/env python3
"""Checks the "process" objects that a live tunwatch with process attribution wrote.

usage: proc_check.py poll MANIFEST OUTPUT
       proc_check.py verdict --mode attrib|off [--each-kind] [--image-rule ID] MANIFEST OUTPUT STDERR

MANIFEST describes the traffic t_live_proc.sh made, one line each:

    RUN KIND NAME PID UID USER IMAGE COMM LOCAL
        a client run (or, for LOCAL "destination", a connection to a server of this host):
        every line named NAME must come from this flow; when it says "attributed" the process
        must be exactly PID/UID/USER/IMAGE/COMM on side LOCAL ("source" or "destination")
    FOREIGN NAME
        a flow between two addresses that are not this host's: its lines have no "process"

poll: exit 0 as soon as every NAME of MANIFEST has an alert line in OUTPUT (a last line still
being written is tolerated); exit 1 otherwise, quietly.

verdict: prints one "ok   ..." or "FAIL ..." line per check, "note ..." lines, and the
attribution rate per client kind ("live-proc: rate KIND A/N ..."), then exits 0 only when no
check failed. With --mode attrib:

  - every line of OUTPUT is a JSON object ending with a newline;
  - every NAME has at least one alert line, and every line (event or alert) of a RUN has a
    "process" object with the expected "local" side, the same object on each of its lines;
    a DNS response's line (category "dns") has none: its query's line names the process;
    an "attributed" one has exactly the expected pid, uid, user, image and comm (a wrong
    attribution is a failure however rare), an "unattributed" one has a reason and no pid;
  - a FOREIGN name's lines have no "process" key;
  - some run is attributed; with --each-kind, each KIND has at least one attributed run;
  - STDERR's summary has a "processes:" line whose counts equal the event lines: attributed,
    unattributed (plus those written unattributed because the queue was full), not local
    (event lines without "process"), and the count of every reason;
  - with --image-rule, the rule (Image|endswith '/openssl' and an ngrok-free.app host) fired
    for exactly the attributed runs of kind "openssl", once each, and for nothing else.

With --mode off: no line has a "process" key, every NAME still alerts, STDERR has no
"processes:" line, and the --image-rule was skipped (it needs attribution) and never fired.
"""
import collections
import json
import re
import sys

KIND_ORDER = ["dig-udp", "dig-tcp", "curl", "openssl", "server"]


def read_manifest(path):
    runs, foreign = {}, set()
    with open(path, encoding="utf-8") as fp:
        for line in fp:
            f = line.split()
            if not f:
                continue
            if f[0] == "RUN" and len(f) == 10:
                _, kind, name, pid, uid, user, image, comm, local, who = f
                runs[name] = {"kind": kind, "pid": int(pid), "uid": int(uid), "user": user,
                              "image": image, "comm": comm, "local": local, "who": who}
            elif f[0] == "FOREIGN" and len(f) == 2:
                foreign.add(f[1])
            else:
                raise ValueError(f"{path}: bad manifest line {line!r}")
    return runs, foreign


def read_output(path, poll, errors):
    try:
        with open(path, "rb") as fp:
            data = fp.read()
    except FileNotFoundError:
        if not poll:
            errors.append(f"{path}: missing")
        return []
    lines = data.split(b"\n")
    tail = lines.pop()
    if tail and not poll:
        errors.append(f"{path}: last line has no newline: {tail[:80]!r}")
    objs = []
    for n, raw in enumerate(lines, 1):
        try:
            obj = json.loads(raw.decode("utf-8"))
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except (UnicodeDecodeError, ValueError) as e:
            if not poll:
                errors.append(f"{path}:{n}: not valid JSON ({e}): {raw[:120]!r}")
            continue
        objs.append((n, obj))
    return objs


SUMMARY_RE = re.compile(r"^\s*processes: (\d+) events attributed, (\d+) unattributed, "
                        r"(\d+) not local, (\d+) written unattributed \(queue full\)(?:; (.*))?$")


def read_summary(path):
    """The last "processes:" line of STDERR: (attributed, unattributed, not_local,
    queue_full, {reason: n}), or None."""
    found = None
    with open(path, encoding="utf-8", errors="replace") as fp:
        for line in fp:
            if "processes:" not in line:
                continue
            m = SUMMARY_RE.match(line.rstrip("\n"))
            if m is None:
                found = ("malformed", line.strip())
                continue
            reasons = {}
            for part in (m.group(5) or "").split(","):
                part = part.strip()
                if part:
                    r, _, n = part.rpartition(" ")
                    reasons[r] = int(n)
            found = tuple(int(m.group(i)) for i in range(1, 5)) + (reasons,)
    return found


class Verdict:
    def __init__(self):
        self.failed = 0

    def check(self, good, what, details=()):
        if good:
            print(f"ok   {what}")
        else:
            self.failed += 1
            print(f"FAIL {what}")
            for d in list(details)[:12]:
                print(f"     {d}")
            if len(details) > 12:
                print(f"     ... {len(details) - 12} more")


def expected_proc_errors(name, run, proc):
    """What is wrong with one line's "process" object of a RUN."""
    errs = []
    if not isinstance(proc, dict):
        return [f"{name}: no process object (got {proc!r})"]
    if proc.get("local") != run["local"]:
        errs.append(f"{name}: local {proc.get('local')!r}, want {run['local']!r}")
    st = proc.get("status")
    if st == "attributed":
        for k in ("pid", "uid", "user", "image", "comm"):
            if proc.get(k) != run[k]:
                errs.append(f"{name}: WRONG ATTRIBUTION {k} {proc.get(k)!r}, want {run[k]!r} "
                            f"({proc})")
        if "reason" in proc:
            errs.append(f"{name}: attributed with a reason: {proc}")
    elif st == "unattributed":
        if not isinstance(proc.get("reason"), str) or not proc.get("reason"):
            errs.append(f"{name}: unattributed without a reason: {proc}")
        if "pid" in proc or "image" in proc:
            errs.append(f"{name}: unattributed but names a process: {proc}")
    else:
        errs.append(f"{name}: status {st!r}")
    return errs


def verdict(mode, image_rule, each_kind, manifest, output, stderr_path):
    v = Verdict()
    runs, foreign = read_manifest(manifest)
    errors = []
    objs = read_output(output, False, errors)
    v.check(not errors, f"{output}: {len(objs)} lines, every one whole JSON", errors)

    by_name = collections.defaultdict(list)
    for n, obj in objs:
        by_name[obj.get("name")].append((n, obj))

    missing = [nm for nm in list(runs) + sorted(foreign)
               if not any(o.get("type") == "alert" for _, o in by_name.get(nm, []))]
    v.check(not missing, f"every client run and foreign flow alerted ({len(runs) + len(foreign)})",
            [f"no alert line for {nm}" for nm in missing])

    image_alerts = collections.Counter()
    if image_rule:
        for _, o in objs:
            if o.get("type") == "alert" and (o.get("rule") or {}).get("id") == image_rule:
                image_alerts[o.get("name")] += 1

    if mode == "off":
        with_proc = [f"line {n} ({o.get('name')}) has process {o['process']}"
                     for n, o in objs if "process" in o]
        v.check(not with_proc, "--local-processes off: no line has a \"process\" key", with_proc)
        summary = read_summary(stderr_path)
        v.check(summary is None, "--local-processes off: no \"processes:\" line in the summary",
                [f"got {summary}"])
        if image_rule:
            with open(stderr_path, encoding="utf-8", errors="replace") as fp:
                err = fp.read()
            why = []
            if "needs process attribution" not in err:
                why.append("stderr has no 'needs process attribution' line")
            if image_alerts:
                why.append(f"it fired: {dict(image_alerts)}")
            v.check(not why, "--local-processes off: the Image rule is skipped (needs "
                             "attribution) and never fires", why)
        return v.failed

    # ---- attribution on
    wrong, per_run = [], {}
    for name, run in runs.items():
        lines = by_name.get(name, [])
        objs_seen = set()
        status, reason = None, None
        for n, o in lines:
            proc = o.get("process")
            if o.get("category") == "dns":
                # A DNS response: not looked up, its query's line names the process.
                if proc is not None:
                    wrong.append(f"line {n}: {name}: a DNS response with a process: {proc}")
                continue
            for e in expected_proc_errors(name, run, proc):
                wrong.append(f"line {n}: {e}")
            objs_seen.add(json.dumps(proc, sort_keys=True))
            if isinstance(proc, dict) and o.get("type") == "alert" and status is None:
                status, reason = proc.get("status"), proc.get("reason")
        if len(objs_seen) > 1:
            wrong.append(f"{name}: its lines disagree: {sorted(objs_seen)}")
        per_run[name] = (status, reason)
    v.check(not wrong, f"every line of every run ({len(runs)}) has a process object on the "
                       f"right side; each attributed one names exactly the right "
                       f"pid/uid/user/image/comm", wrong)

    foreign_proc = [f"line {n} ({nm}): process {o['process']}"
                    for nm in sorted(foreign) for n, o in by_name.get(nm, []) if "process" in o]
    if foreign:
        v.check(not foreign_proc, f"flows between two foreign addresses ({len(foreign)}) have "
                                  f"no \"process\" key", foreign_proc)

    # rates per kind, and per user within a kind
    kinds = sorted({r["kind"] for r in runs.values()},
                   key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k))
    tot_a = tot_n = 0
    reasons_all = collections.Counter()
    none_attributed = []
    for kind in kinds:
        names = [nm for nm, r in runs.items() if r["kind"] == kind]
        att = [nm for nm in names if per_run[nm][0] == "attributed"]
        reasons = collections.Counter(per_run[nm][1] or "no_alert" for nm in names
                                      if per_run[nm][0] != "attributed")
        by_who = []
        for who in sorted({runs[nm]["who"] for nm in names}):
            w = [nm for nm in names if runs[nm]["who"] == who]
            by_who.append(f"{who} {sum(per_run[nm][0] == 'attributed' for nm in w)}/{len(w)}")
        why = ", ".join(f"{r} {c}" for r, c in sorted(reasons.items()))
        print(f"live-proc: rate {kind} {len(att)}/{len(names)} ({', '.join(by_who)})"
              + (f"; unattributed: {why}" if why else ""))
        tot_a += len(att)
        tot_n += len(names)
        reasons_all.update(reasons)
        if not att:
            none_attributed.append(f"{kind}: 0/{len(names)} attributed ({why})")
    why = ", ".join(f"{r} {c}" for r, c in sorted(reasons_all.items()))
    print(f"live-proc: rate total {tot_a}/{tot_n}" + (f"; unattributed: {why}" if why else ""))
    if each_kind:
        v.check(not none_attributed,
                f"every client kind has an attributed run ({', '.join(kinds)})", none_attributed)
    else:
        v.check(tot_a > 0, f"some run is attributed ({tot_a}/{tot_n})")

    # the summary line against the event lines
    summary = read_summary(stderr_path)
    if summary is None or summary[0] == "malformed":
        v.check(False, "summary has a well-formed \"processes:\" line",
                [f"got {summary[1]!r}" if summary else "no such line"])
    else:
        s_att, s_un, s_nl, s_qf, s_reasons = summary
        events = [o for _, o in objs if o.get("type") == "event"]
        e_att = sum(1 for o in events if (o.get("process") or {}).get("status") == "attributed")
        e_un = [o["process"] for o in events
                if (o.get("process") or {}).get("status") == "unattributed"]
        e_nl = sum(1 for o in events if "process" not in o and o.get("category") != "dns")
        e_reasons = collections.Counter(p.get("reason") for p in e_un)
        e_qf = e_reasons.pop("queue_full", 0)
        diffs = []
        if s_att != e_att:
            diffs.append(f"attributed: summary {s_att}, event lines {e_att}")
        if s_un + s_qf != len(e_un):
            diffs.append(f"unattributed: summary {s_un} + {s_qf} queue full, event lines "
                         f"{len(e_un)}")
        if s_qf != e_qf:
            diffs.append(f"queue full: summary {s_qf}, event lines {e_qf}")
        if s_nl != e_nl:
            diffs.append(f"not local: summary {s_nl}, event lines without process {e_nl}")
        if dict(e_reasons) != s_reasons:
            diffs.append(f"reasons: summary {s_reasons}, event lines {dict(e_reasons)}")
        v.check(not diffs, f"summary \"processes: {s_att} attributed, {s_un} unattributed, "
                           f"{s_nl} not local, {s_qf} queue full\" matches the event lines", diffs)
        if foreign:
            v.check(s_nl >= len(foreign), f"summary counts the foreign flows as not local "
                                          f"({s_nl} >= {len(foreign)})")

    if image_rule:
        want = collections.Counter(nm for nm, r in runs.items()
                                   if r["kind"] == "openssl" and per_run[nm][0] == "attributed")
        diffs = [f"{nm}: fired {image_alerts[nm]} times, want {want[nm]}"
                 for nm in sorted(set(want) | set(image_alerts)) if want[nm] != image_alerts[nm]]
        v.check(not diffs, f"the Image rule fired for exactly the attributed openssl runs "
                           f"({sum(want.values())})", diffs)
    return v.failed


def poll(manifest, output):
    runs, foreign = read_manifest(manifest)
    names = set(runs) | foreign
    alerted = {o.get("name") for _, o in read_output(output, True, [])
               if o.get("type") == "alert"}
    return 0 if names <= alerted else 1


def main(argv):
    if argv[:1] == ["poll"] and len(argv) == 3:
        return poll(argv[1], argv[2])
    if argv[:1] != ["verdict"]:
        print(__doc__, file=sys.stderr)
        return 2
    mode, image_rule, each_kind, args = None, None, False, []
    it = iter(argv[1:])
    for a in it:
        if a == "--mode":
            mode = next(it)
        elif a == "--image-rule":
            image_rule = next(it)
        elif a == "--each-kind":
            each_kind = True
        else:
            args.append(a)
    if mode not in ("attrib", "off") or len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    return 1 if verdict(mode, image_rule, each_kind, *args) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
