"""`vector-tc listen` operator defects (issue 15 item 7): no literal markup, telemetry
text shown as sent, ADCS summarised (full precision on request), every HK field with its
dictionary unit, no meaningless heap figure."""

import io
import re
import struct

from ground_tools import dictionary, tmdecode, wire
from ground_tools.listen import ADCS_SUMMARY_S, listen


def _hk(**over):
    """A decoded housekeeping body as wire gives it: every declared field."""
    fields = dictionary.default()["telemetry"]["hk"]["fields"]
    raw = struct.pack(tmdecode.fmt(fields), *[0 for _ in fields])
    body = tmdecode.decode_packed(fields, raw)
    body.update(over)
    return body


class Feed:
    """A link that delivers a fixed list of packets, one per poll, on a virtual clock
    (so the ADCS rate limit is tested without wall-clock bounds)."""

    def __init__(self, items, dt=0.2):
        self.items = list(items)
        self.inbox = []
        self.on_tm = None
        self.t = 0.0
        self.dt = dt

    def clock(self):
        return self.t

    def poll(self, _timeout):
        if self.items:
            self.t += self.dt
            self.on_tm(self.items.pop(0))


def _adcs(i):
    return wire.Tm(wire.APID_ADCS, i, {"err_x_urad": 1.23456789 + i, "err_y_urad": -2.5,
                                       "valid": "YES", "state": "TRACK", "offload": "NO",
                                       "fsm_x_urad": 10.0, "fsm_y_urad": 0.125})


def _event(i):
    return wire.Tm(wire.APID_EVENT, i, {"time": 12.5, "severity": "WARN", "name": "APT_LOST",
                                        "text": "beacon lost [bold]x[/]",
                                        "args": {"window": [16, 16]}})


def _run(items, tty, **kw):
    f = Feed(items)
    out = io.StringIO()
    n = listen(f, count=len(items), out=out, tty=tty, clock=f.clock, **kw)
    assert n == len(items)
    return out.getvalue()


def _stream():
    """30 s of ADCS at 5/s with an event every 5 s and housekeeping every second."""
    items = []
    for i in range(150):
        items.append(_adcs(i))
        if i % 25 == 0:
            items.append(_event(i))
        if i % 5 == 0:
            items.append(wire.Tm(wire.APID_HK, i, _hk(mode="SESSION")))
    return items


def test_plain_adcs_is_summarised_and_events_stay_visible():
    items = _stream()
    lines = _run(items, tty=False).splitlines()
    adcs = [x for x in lines if x.startswith("ADCS")]
    events = [x for x in lines if x.startswith("EVENT")]
    assert len(events) == 6
    # 150 packets in ~(150 + 36) × 0.2 s: one summary per ADCS_SUMMARY_S, not 150 lines
    assert 2 <= len(adcs) <= 1 + (len(items) * 0.2) / ADCS_SUMMARY_S
    counted = [int(re.search(r"\((\d+) packets\)", x).group(1)) for x in adcs]
    assert counted[0] == 1 and sum(counted) <= 150 and max(counted) > 10
    # 4 significant digits with the dictionary's unit, not 1.23456789
    assert "err_x_urad=" in adcs[0] and "urad" in adcs[0]
    assert "1.23456789" not in "\n".join(adcs)


def test_plain_adcs_full_precision_on_request():
    lines = _run([_adcs(0), _adcs(1), _adcs(2)], tty=False, adcs_all=True).splitlines()
    assert len(lines) == 3
    assert "err_x_urad=1.23456789urad" in lines[0]


def test_event_text_and_args_shown_as_sent():
    for tty in (False, True):
        text = _run([_event(0)], tty=tty)
        assert "beacon lost [bold]x[/]" in text
        assert '{"window": [16, 16]}' in text
        assert '"window": ,' not in text


def test_live_table_no_literal_markup_units_and_heap():
    text = _run([wire.Tm(wire.APID_HK, 1, _hk(mode="SESSION", heap_free=0))]
                + [_adcs(i) for i in range(20)], tty=True)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "SESSION" in plain
    assert "[bold green]" not in plain and "[/]" not in plain
    assert "heap_free" in plain and "n/a" in plain
    assert not re.search(r"heap_free\s+-1", plain)
    # ADCS lives in the table (newest values, how many arrived), not as 20 scrolled lines
    assert plain.count("err_x_urad") <= 4 and "(20 packets)" in plain
    for f in dictionary.default()["telemetry"]["hk"]["fields"]:
        if f["unit"] and f["name"] != "heap_free":
            assert re.search(r"%s\s+\S+ %s" % (re.escape(f["name"]), re.escape(f["unit"])),
                             plain), f["name"]


def test_plain_hk_every_field_with_unit_and_no_negative_heap():
    line, = _run([wire.Tm(wire.APID_HK, 1, _hk(heap_free=0, uptime=12.5))],
                 tty=False).splitlines()
    for f in dictionary.default()["telemetry"]["hk"]["fields"]:
        assert " %s=" % f["name"] in line
        if f["unit"] and f["name"] != "heap_free":
            assert re.search(r" %s=\S*%s( |$)" % (re.escape(f["name"]),
                                                  re.escape(f["unit"])), line), f["name"]
    assert "heap_free=n/a" in line and "heap_free=-1" not in line
    line, = _run([wire.Tm(wire.APID_HK, 1, _hk(heap_free=50000))], tty=False).splitlines()
    assert "heap_free=50000B" in line
