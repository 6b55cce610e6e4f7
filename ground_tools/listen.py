"""``vector-tc listen``: live telemetry.

On a terminal: a housekeeping table updated in place (rich ``Live``) with every field of
the exported dictionary, its unit and its limit state (warn: yellow, alarm: red), the
scheduler's per-task statistics from the diagnostic set (APID 0x0A5) when one arrives,
and events / verification reports scrolling above it, coloured by severity.  Not on a
terminal: one plain line per packet (housekeeping: every ``field=value unit``).
``--json``: one JSON object per packet (``{"apid", "kind", "seq", "body"}``, plus
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


def hk_line(b, kind="hk", d=None):
    """Every field of a housekeeping set: ``name=value unit`` in declared order."""
    fields = dictionary.hk_fields(d, kind)
    parts = []
    for name, v in b.items():
        f = fields.get(name, {})
        parts.append("%s=%s" % (name, tmdecode.format_value(f, v).replace(" ", "")))
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


def hk_table(hk, received, errors, diag=None, d=None):
    from rich.table import Table

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
            text = tmdecode.format_value(f, v)
            style = LIMIT_STYLE.get(tmdecode.limit_state(f, v))
            if name == "mode":
                style = {"SAFE": "bold yellow", "STANDBY": "green",
                         "SESSION": "bold green"}.get(v)
            t.add_row(f.get("owner", ""), name, "[%s]%s[/]" % (style, text) if style else text)
    t.add_row("", "link", "%d packets, %d bad frames" % (received, errors))
    outer.add_row(t)
    if diag:
        outer.add_row(task_table(diag))
    return outer


def task_table(diag):
    """Per-task scheduler statistics of a diagnostic set ({task}_{stat} fields)."""
    from rich.table import Table

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
        s.add_row("[red]%s[/]" % task if miss else task, *cells)
    return s


def listen(glink, as_json=False, duration=None, count=None, out=None, tty=None):
    """Print telemetry until ``duration`` s or ``count`` packets (or Ctrl-C)."""
    out = out or sys.stdout
    tty = out.isatty() if tty is None else tty
    end = None if duration is None else time.monotonic() + duration
    state = {"n": 0, "hk": None, "diag": None, "err": 0}

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
                line = json.dumps(tm_json(item), sort_keys=True) if as_json else plain_line(item)
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
                live.console.print("[red]bad frame: %s[/]" % item, markup=True, highlight=False)
                return
            state["n"] += 1
            b = item.body if isinstance(item.body, dict) else {}
            if item.kind in HK_KINDS:
                state["hk" if item.kind == "hk" else "diag"] = b
                live.update(hk_table(state["hk"], state["n"], state["err"], state["diag"]))
            elif item.apid == wire.APID_EVENT:
                live.console.print(event_line(b), style=SEV_STYLE.get(b.get("severity"), ""),
                                   markup=False, highlight=False)
            elif item.apid == wire.APID_VERIFY:
                live.console.print(verify_line(b), style="green" if b.get("ok") else "bold red",
                                   markup=False, highlight=False)
            else:
                live.console.print(plain_line(item), markup=False, highlight=False)

        glink.on_tm = on_tm
        while not done():
            glink.poll(0.1)
            glink.inbox.clear()
    return state["n"]
