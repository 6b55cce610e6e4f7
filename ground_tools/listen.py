"""``vector-tc listen``: live telemetry.

On a terminal: a housekeeping table updated in place (rich ``Live``) with every field of
the exported dictionary, its unit and its limit state (warn: yellow, alarm: red), the
scheduler's per-task statistics from the diagnostic set (APID 0x0A5) when one arrives,
and events / verification reports scrolling above it, coloured by severity.  Not on a
terminal: one plain line per packet (housekeeping: every ``field=value unit``).
ADCS feedback (APID 0x0A4, ~5/s while tracking) would bury the events, so it is
summarised: the live table shows the newest values, plain output one ``ADCS`` line every
``ADCS_SUMMARY_S`` seconds (packets since, newest values at 4 significant digits, units);
``--adcs`` prints every ADCS packet at full precision.  Telemetry text is never parsed as
rich markup.  ``--json``: one JSON object per packet (``{"apid", "kind", "seq", "body"}``, plus
``"units"`` for housekeeping; frames that do not decode give ``{"error": REASON,
"detail": ...}``).
"""

import json
import sys
import time

from ground_tools import dictionary, tmdecode, wire

SEV_STYLE = {"INFO": "cyan", "WARN": "yellow", "ERROR": "bold red",
             "CRITICAL": "bold white on red"}
LIMIT_STYLE = {"warn": "yellow", "alarm": "bold red"}
HK_KINDS = ("hk", "hk_diag")


def event_line(b):
    return "%10.3f  %-8s %-22s %s%s" % (
        b.get("time", 0.0) or 0.0, b.get("severity", "?"), b.get("name", "?"),
        b.get("text", ""), (" %s" % json.dumps(wire.jsonable(b["args"])))
        if b.get("args") else "")


def verify_line(b):
    ok = b.get("ok")
    s = "TC seq %s %-8s %-4s %s" % (b.get("tc_seq"), b.get("stage"), "ok" if ok else "FAIL",
                                    b.get("name", ""))
    if not ok:
        s += " %s %s" % (b.get("reason"), b.get("detail", ""))
    elif b.get("result") is not None:
        s += " %s" % json.dumps(wire.jsonable(b["result"]), sort_keys=True)
    return s


ADCS_SUMMARY_S = 10.0
# Raw values that mean "not measured", shown as such (not as a 0 B warning or a 655 %
# packet error rate): heap_free is 0 when the port has no gc.mem_free
# (flight/scheduler.py); framer_per 65535 and framer_ber -1 before the framer's first
# window (flight/framer_ctl.py, their declarations).
ZERO_UNKNOWN = {"heap_free": "n/a (port cannot tell)"}
NO_DATA = {"heap_free": 0, "framer_per": 65535, "framer_ber": -1.0}  # raw values


def no_data(f, name, v):
    """True when ``v`` (the decoder's physical value) is field ``name``'s "not measured"
    value."""
    return name in NO_DATA and v == tmdecode.physical(f, NO_DATA[name])


def value_text(f, name, v):
    """``value unit`` of one field as the operator reads it."""
    if no_data(f, name, v):
        return ZERO_UNKNOWN.get(name, "n/a (no data yet)")
    return tmdecode.format_value(f, v)


def adcs_line(b, d=None, full=False, count=None):
    """``ADCS name=value unit ...`` (4 significant digits unless ``full``)."""
    d = d if d is not None else dictionary.default()
    fields = {f["name"]: f for f in d["telemetry"]["adcs"]["fields"]}
    parts = []
    for name, v in b.items():
        f = fields.get(name, {})
        if full:
            text = repr(v) + (" " + f["unit"] if f.get("unit") else "")
        else:
            text = tmdecode.format_value(f, v)
        parts.append("%s=%s" % (name, text.replace(" ", "")))
    head = "ADCS" if count is None else "ADCS (%d packets)" % count
    return "%s %s" % (head, " ".join(parts))


def hk_line(b, kind="hk", d=None):
    """Every field of a housekeeping set: ``name=value unit`` in declared order."""
    fields = dictionary.hk_fields(d, kind)
    parts = []
    for name, v in b.items():
        f = fields.get(name, {})
        # (one token a field: "12.5mV"; a field with no data reads "n/a")
        text = "n/a" if no_data(f, name, v) else value_text(f, name, v).replace(" ", "")
        parts.append("%s=%s" % (name, text))
    return "%s %s" % (kind.upper(), " ".join(parts))


def tm_json(tm, d=None):
    """The JSON object of one packet (``units`` of the fields for housekeeping)."""
    obj = tm.to_json()
    if tm.kind in HK_KINDS and isinstance(tm.body, dict):
        fields = dictionary.hk_fields(d, tm.kind)
        obj["units"] = {n: fields[n]["unit"] for n in tm.body if fields.get(n, {}).get("unit")}
    return obj


def plain_line(tm, d=None):
    b = tm.body if isinstance(tm.body, dict) else {"value": tm.body}
    if tm.kind in HK_KINDS:
        return hk_line(b, tm.kind, d)
    if tm.apid == wire.APID_EVENT:
        return "EVENT " + event_line(b)
    if tm.apid == wire.APID_VERIFY:
        return "VERIFY " + verify_line(b)
    return "%s %s" % (tm.kind.upper(), json.dumps(wire.jsonable(tm.body), sort_keys=True))


def hk_table(hk, received, errors, diag=None, d=None, adcs=None):
    from rich.table import Table
    from rich.text import Text

    outer = Table.grid(padding=(0, 2))
    t = Table(title="housekeeping", box=None, pad_edge=False)
    for col in ("owner", "field", "value"):
        t.add_column(col, style="bold" if col == "field" else None)
    if hk is None:
        t.add_row("", "waiting", "for the first housekeeping packet...")
    else:
        fields = dictionary.hk_fields(d)
        for name, v in hk.items():
            f = fields.get(name, {})
            text = value_text(f, name, v)
            style = LIMIT_STYLE.get(tmdecode.limit_state(f, v))
            if no_data(f, name, v):
                style = None
            if name == "mode":
                style = {"SAFE": "bold yellow", "STANDBY": "green",
                         "SESSION": "bold green"}.get(v)
            # Text, not a markup string: telemetry is shown as sent, styled by the table
            t.add_row(Text(f.get("owner", "")), Text(name), Text(text, style=style or ""))
    if adcs is not None:
        t.add_row(Text("apt"), Text("adcs"), Text("(%d packets) %s" % (
            adcs[0], adcs_line(adcs[1], d)[5:])))
    t.add_row("", "link", "%d packets, %d bad frames" % (received, errors))
    outer.add_row(t)
    if diag:
        outer.add_row(task_table(diag))
    return outer


def task_table(diag):
    """Per-task scheduler statistics of a diagnostic set ({task}_{stat} fields)."""
    from rich.table import Table
    from rich.text import Text

    tasks = []
    stats = []
    for name in diag:
        if name.endswith("_runs"):
            tasks.append(name[:-len("_runs")])
    for name in diag:
        if tasks and name.startswith(tasks[0] + "_"):
            stats.append(name[len(tasks[0]) + 1:])
    s = Table(title="tasks (diagnostic housekeeping)", box=None)
    s.add_column("task", style="bold")
    for st in stats:
        s.add_column(st.replace("_", " "), justify="right")
    for task in tasks:
        cells = [str(diag.get("%s_%s" % (task, st), "")) for st in stats]
        miss = diag.get(task + "_deadline_misses", 0)
        s.add_row(Text(task, style="red" if miss else ""), *cells)
    return s


def listen(glink, as_json=False, duration=None, count=None, out=None, tty=None,
           adcs_all=False, clock=time.monotonic):
    """Print telemetry until ``duration`` s or ``count`` packets (or Ctrl-C).
    ``adcs_all``: every ADCS packet at full precision instead of a summary."""
    out = out or sys.stdout
    tty = out.isatty() if tty is None else tty
    end = None if duration is None else time.monotonic() + duration
    state = {"n": 0, "hk": None, "diag": None, "err": 0, "adcs": None, "adcs_n": 0,
             "adcs_t": None}

    def adcs_summary(item):
        """The ADCS line to print now, or None (summarised: at most one per
        ADCS_SUMMARY_S, counting the packets it stands for)."""
        b = item.body if isinstance(item.body, dict) else {"value": item.body}
        if adcs_all:
            return adcs_line(b, full=True)
        state["adcs_n"] += 1
        state["adcs"] = (state["adcs_n"], b)
        now = clock()
        if state["adcs_t"] is not None and now - state["adcs_t"] < ADCS_SUMMARY_S:
            return None
        state["adcs_t"] = now
        line = adcs_line(b, count=state["adcs_n"])
        state["adcs_n"] = 0
        return line

    def done():
        return (count is not None and state["n"] >= count) or (
            end is not None and time.monotonic() >= end)

    if as_json or not tty:
        def on_tm(item):
            if count is not None and state["n"] >= count:
                return  # one read may bring several packets (a busy host reads late)
            if isinstance(item, wire.WireError):
                state["err"] += 1
                obj = {"error": item.reason, "detail": str(item)}
                line = json.dumps(obj) if as_json else "BAD FRAME %s" % item
            else:
                state["n"] += 1
                if as_json:
                    line = json.dumps(tm_json(item), sort_keys=True)
                elif item.apid == wire.APID_ADCS:
                    line = adcs_summary(item)
                    if line is None:
                        return
                else:
                    line = plain_line(item)
            out.write(line + "\n")
            out.flush()

        glink.on_tm = on_tm
        while not done():
            glink.poll(0.1)
            glink.inbox.clear()
        return state["n"]

    from rich.console import Console
    from rich.live import Live

    console = Console(file=out, force_terminal=True)
    with Live(hk_table(None, 0, 0), console=console, refresh_per_second=4,
              transient=False) as live:
        def on_tm(item):
            if isinstance(item, wire.WireError):
                state["err"] += 1
                live.console.print("bad frame: %s" % item, style="red", markup=False,
                                   highlight=False)
                return
            state["n"] += 1
            b = item.body if isinstance(item.body, dict) else {}
            if item.kind in HK_KINDS or (item.apid == wire.APID_ADCS and not adcs_all):
                if item.apid == wire.APID_ADCS:  # newest values in the table, no scrolling
                    state["adcs"] = ((state["adcs"] or (0,))[0] + 1, b)
                else:
                    state["hk" if item.kind == "hk" else "diag"] = b
                live.update(hk_table(state["hk"], state["n"], state["err"], state["diag"],
                                     adcs=state["adcs"]))
            elif item.apid == wire.APID_ADCS:
                live.console.print(adcs_line(b, full=True), markup=False, highlight=False,
                                   soft_wrap=True)
            elif item.apid == wire.APID_EVENT:
                live.console.print(event_line(b), style=SEV_STYLE.get(b.get("severity"), ""),
                                   markup=False, highlight=False, soft_wrap=True)
            elif item.apid == wire.APID_VERIFY:
                live.console.print(verify_line(b), style="green" if b.get("ok") else "bold red",
                                   markup=False, highlight=False, soft_wrap=True)
            else:
                live.console.print(plain_line(item), markup=False, highlight=False,
                                   soft_wrap=True)

        glink.on_tm = on_tm
        while not done():
            glink.poll(0.1)
            glink.inbox.clear()
    return state["n"]
