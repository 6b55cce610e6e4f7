"""``vector-tc listen``: live telemetry.

On a terminal: a housekeeping table updated in place (rich ``Live``) with the scheduler's
task statistics, and events / verification reports scrolling above it, coloured by
severity.  Not on a terminal: one plain line per packet.  ``--json``: one JSON object per
packet (``{"apid", "kind", "seq", "body"}``; frames that do not decode give
``{"error": REASON, "detail": ...}``).
"""

import json
import sys
import time

from ground_tools import wire
from ground_tools.dictionary import SCHED_FIELDS

SEV_STYLE = {"INFO": "cyan", "WARN": "yellow", "ERROR": "bold red",
             "CRITICAL": "bold white on red"}
_SPECIAL = ("sched", "tc_rejected", "deframer")
_SHORT = {"overruns": "overrun", "late_starts": "late", "max_late_us": "max late us",
          "deadline_misses": "misses", "cpu_us": "cpu us", "enabled": "on"}


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


def hk_line(b):
    rej = b.get("tc_rejected") or {}
    return "HK t=%.1f mode=%s boot=%s tc ok=%s rej=%s heap=%s" % (
        b.get("time", 0.0) or 0.0, b.get("mode"), b.get("boot_count"), b.get("tc_accepted"),
        sum(v for v in rej.values() if isinstance(v, int)), b.get("heap_free"))


def plain_line(tm):
    b = tm.body if isinstance(tm.body, dict) else {"value": tm.body}
    if tm.apid == wire.APID_HK:
        return hk_line(b)
    if tm.apid == wire.APID_EVENT:
        return "EVENT " + event_line(b)
    if tm.apid == wire.APID_VERIFY:
        return "VERIFY " + verify_line(b)
    return "%s %s" % (tm.kind.upper(), json.dumps(wire.jsonable(tm.body), sort_keys=True))


def _fmt(v):
    if isinstance(v, float):
        return "%.3f" % v
    if isinstance(v, (dict, list)):
        return json.dumps(wire.jsonable(v))
    return str(v)


def hk_table(hk, received, errors):
    from rich.table import Table

    outer = Table.grid(padding=(0, 2))
    t = Table(title="housekeeping", show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    if hk is None:
        t.add_row("waiting", "for the first housekeeping packet...")
    else:
        for k, v in hk.items():
            if k in _SPECIAL:
                continue
            style = None
            if k == "mode":
                style = {"SAFE": "bold yellow", "STANDBY": "green", "SESSION": "bold green"}.get(v)
            t.add_row(k, "[%s]%s[/]" % (style, _fmt(v)) if style else _fmt(v))
        rej = {k: v for k, v in (hk.get("tc_rejected") or {}).items() if v}
        t.add_row("tc_rejected", ", ".join("%s=%s" % kv for kv in rej.items()) or "none")
        if "deframer" in hk:
            t.add_row("deframer", "frames/oversize/errors %s" % _fmt(hk["deframer"]))
    t.add_row("link", "%d packets, %d bad frames" % (received, errors))
    s = Table(title="tasks", box=None)
    s.add_column("task", style="bold")
    for f in SCHED_FIELDS:
        s.add_column(_SHORT.get(f, f), justify="right")
    for row in (hk or {}).get("sched") or []:
        if not isinstance(row, list) or not row:
            continue
        cells = [_fmt(x) for x in row[1:1 + len(SCHED_FIELDS)]]
        miss = row[5] if len(row) > 5 else 0
        name = "[red]%s[/]" % row[0] if miss else str(row[0])
        s.add_row(name, *cells)
    outer.add_row(t)
    outer.add_row(s)
    return outer


def listen(glink, as_json=False, duration=None, count=None, out=None, tty=None):
    """Print telemetry until ``duration`` s or ``count`` packets (or Ctrl-C)."""
    out = out or sys.stdout
    tty = out.isatty() if tty is None else tty
    end = None if duration is None else time.monotonic() + duration
    state = {"n": 0, "hk": None, "err": 0}

    def done():
        return (count is not None and state["n"] >= count) or (
            end is not None and time.monotonic() >= end)

    if as_json or not tty:
        def on_tm(item):
            if isinstance(item, wire.WireError):
                state["err"] += 1
                obj = {"error": item.reason, "detail": str(item)}
                line = json.dumps(obj) if as_json else "BAD FRAME %s" % item
            else:
                state["n"] += 1
                line = json.dumps(item.to_json(), sort_keys=True) if as_json else plain_line(item)
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
            if item.apid == wire.APID_HK:
                state["hk"] = b
                live.update(hk_table(b, state["n"], state["err"]))
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
