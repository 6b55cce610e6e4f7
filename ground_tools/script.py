"""``vector-tc run SCRIPT``: command sequences with telemetry checks.

One step per line; ``#`` starts a comment; blank lines are ignored; words are split like
a shell does (quote values with spaces)::

    send CMD [name=value ...]              # the TC must complete successfully
    reject REASON CMD [name=value ...]     # the TC must be rejected with REASON
    wait SECONDS KIND COND [and COND ...]  # telemetry condition within SECONDS
    sleep SECONDS
    echo TEXT

``KIND`` is ``hk``, ``hk_diag``, ``event``, ``verify``, ``adcs`` or ``any``.  ``COND`` is
``PATH OP VALUE``: ``PATH`` a housekeeping field of the exported dictionary (``mode``,
``tc_rej_auth``; ``hk_diag``: ``tc_deadline_misses``; physical values, enums by name —
a field the dictionary does not declare is a script error before anything is sent) or a
dotted path into a CBOR body (``result.value``; in a list of rows that start with a name
the name selects the row); ``OP`` one of ``== != < <= > >= contains``; ``VALUE`` a JSON
literal (``3``, ``1.5``, ``true``, ``null``, ``"text"``) or bare text.

A ``wait`` looks at the telemetry that arrived since the previous ``send``/``reject``
step's last report (an ``event`` or ``any`` wait: since its acceptance report, as the
events a command raises may come before its completion report), or since the script
started, plus what arrives until its timeout; consecutive waits after
one command all see that same window; ``sleep`` keeps listening.  The whole script is checked before the
first step runs (unknown commands, bad arguments, syntax); the run stops at the first
failing step and names its line.
"""

import json
import shlex
import time

from ground_tools import commands, dictionary, link, wire

KINDS = {"hk": wire.APID_HK, "hk_diag": wire.APID_HK_DIAG, "event": wire.APID_EVENT,
         "verify": wire.APID_VERIFY, "adcs": wire.APID_ADCS, "any": None}
OPS = ("==", "!=", "<=", ">=", "<", ">", "contains")



class ScriptError(Exception):
    """Syntax or argument error at a line (exit 2)."""

    def __init__(self, lineno, msg):
        Exception.__init__(self, "line %d: %s" % (lineno, msg))
        self.lineno = lineno


class StepFailed(Exception):
    def __init__(self, lineno, text, msg, code):
        Exception.__init__(self, "line %d: %s: %s" % (lineno, text, msg))
        self.lineno = lineno
        self.code = code


class Cond:
    def __init__(self, path, op, value):
        self.path = path
        self.op = op
        self.value = value

    def __str__(self):
        return "%s %s %s" % (".".join(self.path), self.op, json.dumps(self.value))

    def holds(self, body):
        try:
            v = resolve(body, self.path)
        except LookupError:
            return False
        w = self.value
        op = self.op
        try:
            if op == "==":
                return v == w
            if op == "!=":
                return v != w
            if op == "contains":
                return w in v
            if isinstance(v, bool) or isinstance(w, bool):
                return False
            if op == "<":
                return v < w
            if op == "<=":
                return v <= w
            if op == ">":
                return v > w
            if op == ">=":
                return v >= w
        except TypeError:
            return False
        return False


def resolve(obj, path):
    """Value at a dotted path (see module doc); LookupError when absent."""
    cur = obj
    for part in path:
        if isinstance(cur, dict):
            if part in cur:
                cur = cur[part]
                continue
            raise LookupError(part)
        if isinstance(cur, list):
            if part.lstrip("-").isdigit():
                try:
                    cur = cur[int(part)]
                    continue
                except IndexError:
                    raise LookupError(part) from None
            row = next((r for r in cur if isinstance(r, list) and r and r[0] == part), None)
            if row is None:
                raise LookupError(part)
            cur = row
            continue
        raise LookupError(part)
    return cur


def _check_fields(conds, kind, lineno):
    """Housekeeping conditions name declared fields (typos fail before the run)."""
    if kind not in ("hk", "hk_diag"):
        return
    fields = dictionary.hk_fields(kind=kind)
    for c in conds:
        if len(c.path) != 1 or c.path[0] not in fields:
            close = [n for n in fields if c.path[0][:4] in n][:4]
            raise ScriptError(lineno, "%s has no field %r%s" % (
                kind, ".".join(c.path), (" (did you mean %s?)" % ", ".join(close))
                if close else ""))


def _literal(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_conditions(tokens, lineno):
    conds = []
    i = 0
    while i < len(tokens):
        if len(tokens) - i < 3:
            raise ScriptError(lineno, "condition needs PATH OP VALUE, got %r" % " ".join(tokens[i:]))
        path, op, val = tokens[i], tokens[i + 1], tokens[i + 2]
        if op not in OPS:
            raise ScriptError(lineno, "unknown operator %r (use %s)" % (op, " ".join(OPS)))
        conds.append(Cond(path.split("."), op, _literal(val)))
        i += 3
        if i < len(tokens):
            if tokens[i] != "and":
                raise ScriptError(lineno, "expected 'and' between conditions, got %r" % tokens[i])
            i += 1
            if i == len(tokens):
                raise ScriptError(lineno, "condition expected after 'and'")
    if not conds:
        raise ScriptError(lineno, "wait needs a condition")
    return conds


def _seconds(text, lineno, what):
    try:
        v = float(text)
    except ValueError:
        raise ScriptError(lineno, "%s: %r is not a number of seconds" % (what, text)) from None
    if not v >= 0 or v > 86400:
        raise ScriptError(lineno, "%s: %r seconds out of range 0..86400" % (what, text))
    return v


class Step:
    def __init__(self, lineno, text, kind, **kw):
        self.lineno = lineno
        self.text = text
        self.kind = kind
        self.__dict__.update(kw)


class ScriptErrors(ScriptError):
    """Every error of a script (the check does not stop at the first)."""

    def __init__(self, errors):
        ScriptError.__init__(self, errors[0].lineno, str(errors[0]).split(": ", 1)[1])
        self.errors = errors


def _accept_reasons():
    from flight import cmddict

    return tuple(cmddict.ACCEPT_REASONS)


def parse_script(text):
    """Steps of a script; ScriptErrors listing every bad line."""
    steps, errors = [], []
    for lineno, raw in enumerate(text.splitlines(), 1):
        try:
            st = _parse_line(lineno, raw)
        except ScriptError as e:
            errors.append(e)
            continue
        if st is not None:
            steps.append(st)
    if errors:
        raise ScriptErrors(errors)
    return steps


def _parse_line(lineno, raw):
    try:
        toks = shlex.split(raw, comments=True)
    except ValueError as e:
        raise ScriptError(lineno, "cannot split line: %s" % e) from None
    if not toks:
        return None
    verb = toks[0].lower()
    line = " ".join(toks)
    try:
        if verb == "send":
            if len(toks) < 2:
                raise ScriptError(lineno, "send needs a command")
            cmd, args = commands.parse_command(toks[1], toks[2:])
            return Step(lineno, line, "send", cmd=cmd, args=args)
        elif verb == "reject":
            if len(toks) < 3:
                raise ScriptError(lineno, "reject needs REASON and a command")
            reason = toks[1].upper()
            if reason not in _accept_reasons():
                raise ScriptError(lineno, "unknown rejection reason %r (use %s)" % (
                    toks[1], ", ".join(_accept_reasons())))
            cmd, args = commands.parse_command(toks[2], toks[3:])
            return Step(lineno, line, "reject", cmd=cmd, args=args, reason=reason)
        elif verb == "wait":
            if len(toks) < 3:
                raise ScriptError(lineno, "wait needs SECONDS KIND CONDITION")
            secs = _seconds(toks[1], lineno, "wait")
            kind = toks[2].lower()
            if kind not in KINDS:
                raise ScriptError(lineno, "unknown telemetry kind %r (use %s)" % (
                    toks[2], ", ".join(KINDS)))
            conds = parse_conditions(toks[3:], lineno)
            _check_fields(conds, kind, lineno)
            return Step(lineno, line, "wait", seconds=secs, apid=KINDS[kind],
                        tm_kind=kind, conds=conds)
        elif verb == "sleep":
            if len(toks) != 2:
                raise ScriptError(lineno, "sleep takes one number of seconds")
            return Step(lineno, line, "sleep", seconds=_seconds(toks[1], lineno, "sleep"))
        elif verb == "echo":
            return Step(lineno, line, "echo", message=" ".join(toks[1:]))
        else:
            raise ScriptError(lineno, "unknown step %r (send, reject, wait, sleep, echo)"
                              % toks[0])
    except commands.ArgError as e:
        raise ScriptError(lineno, str(e)) from None


class Runner:
    def __init__(self, glink, timeout=10.0, out=print, counter=None, seq=None):
        self.link = glink
        self.timeout = timeout
        self.out = out
        self.after = 0
        self.after_events = 0
        self.last_seen = {}  # apid -> newest body seen, for failure messages
        # --counter / --seq: the first TC's values, each next TC one more
        self.counter = counter
        self.seq = seq

    def _command(self, st):
        counter, seq = self.counter, self.seq
        if counter is not None:
            self.counter += 1
        if seq is not None:
            self.seq = (self.seq + 1) & 0x3FFF
        return self.link.command(st.cmd, st.args, timeout=self.timeout, counter=counter,
                                 seq=seq)

    def run(self, steps):
        self.after = self.after_events = self.link.mark()
        for st in steps:
            getattr(self, "_" + st.kind)(st)
        return len(steps)

    def _send(self, st):
        res = self._command(st)
        self._after_command(res)
        if res.status == "completed":
            self.out("line %d: %s: completed%s" % (st.lineno, st.text, _result_text(res)))
            return
        raise StepFailed(st.lineno, st.text, _failure_text(res), res.exit_code)

    def _reject(self, st):
        res = self._command(st)
        self._after_command(res)
        if res.status == "rejected" and res.reason == st.reason:
            self.out("line %d: %s: rejected as expected" % (st.lineno, st.text))
            return
        if res.status == "timeout":
            raise StepFailed(st.lineno, st.text, _failure_text(res), link.EXIT_TIMEOUT)
        raise StepFailed(st.lineno, st.text, "expected rejection %s, got %s" % (
            st.reason, _failure_text(res) if res.status != "completed" else "completion"),
            link.EXIT_FAILED)

    def _after_command(self, res):
        if res.status == "completed" or res.status == "failed":
            self.after = self.link.completion_mark
            # the events a command raises (an event-log dump) may come between its
            # acceptance and its completion report: event waits look from the acceptance
            self.after_events = getattr(self.link, "accept_mark", self.after)
        else:
            self.after = self.after_events = self.link.mark()

    def _wait(self, st):
        apid = st.apid
        seen = self.last_seen

        def pred(tm):
            if apid is not None and tm.apid != apid:
                return False
            seen[tm.apid] = tm.body
            return all(c.holds(tm.body) for c in st.conds)

        t0 = time.monotonic()
        after = self.after_events if st.tm_kind in ("event", "any") else self.after
        tm = self.link.wait_for(pred, st.seconds, after=after, consume=False)
        if tm is None:
            last = seen.get(apid) if apid is not None else None
            hint = ""
            if last is not None:
                vals = []
                for c in st.conds:
                    try:
                        vals.append("%s = %s" % (".".join(c.path), json.dumps(
                            wire.jsonable(resolve(last, c.path)))))
                    except LookupError:
                        vals.append("%s absent" % ".".join(c.path))
                hint = " (last %s: %s)" % (st.tm_kind, ", ".join(vals))
            elif apid is not None:
                hint = " (no %s telemetry received)" % st.tm_kind
            raise StepFailed(st.lineno, st.text, "timed out after %g s%s" % (st.seconds, hint),
                             link.EXIT_TIMEOUT)
        self.out("line %d: %s: ok after %.1f s" % (st.lineno, st.text, time.monotonic() - t0))

    def _sleep(self, st):
        end = time.monotonic() + st.seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            self.link.poll(min(left, 0.05))
        self.out("line %d: %s" % (st.lineno, st.text))

    def _echo(self, st):
        self.out(st.message)


def _result_text(res):
    r = res.result
    return "" if r is None else " %s" % json.dumps(wire.jsonable(r), sort_keys=True)


def _failure_text(res):
    if res.status == "timeout":
        return "no %s report within the timeout" % ("acceptance" if res.accept is None
                                                    else "completion")
    rep = res.complete if res.status == "failed" else res.accept
    detail = (rep or {}).get("detail") or (rep or {}).get("result") or ""
    what = "rejected" if res.status == "rejected" else "completion failed"
    return "%s: %s%s" % (what, res.reason, (" (%s)" % detail) if detail else "")
