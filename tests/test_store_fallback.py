"""Issue 12 findings 13-14: every slot fallback is an event; time-tags lost at a reset are
reported; a parameter says when it takes effect.

Finding 13 attack: damage the newest slot of a two-slot record — the parameters fell back
to the previous set and the boot count repeated, with no event.  Finding 14 attack: queue
time-tags, reset the payload (watchdog, power) — they vanished with no event.
"""

import pytest

from flight import cbor
from flight.cmddict import BY_NAME
from flight.slotstore import SlotStore
from flight.tm import APID_EVENT
from tests.mpy.obc import Obc, ok_pair

PARAM_SET = BY_NAME["PARAM_SET"].opcode
PARAM_SAVE = BY_NAME["PARAM_SAVE"].opcode
TIMETAG = BY_NAME["TIMETAG"].opcode
PING = BY_NAME["PING"].opcode


def events(o, name):
    o.run(1100000)
    return [e for e in o.of(APID_EVENT) if e["name"] == name]


def newest(storage, name):
    """The blob name of the newest valid slot of the record ``name``."""
    st = SlotStore(storage, name)
    st.load()
    return st.blob(st.used)


@pytest.mark.parametrize("damage", ["flip", "torn", "garbage"])
def test_a_parameter_slot_fallback_is_an_event(damage):
    o = Obc()
    for v in (4, 5):
        ok_pair(o.send(PARAM_SET, {"name": "limit_persist", "value": v}))
        ok_pair(o.send(PARAM_SAVE))
    s = o.storage
    name = newest(s, "params")
    b = bytearray(s.blobs[name])
    if damage == "flip":
        b[len(b) // 2] ^= 0x04
    elif damage == "torn":
        b = b[:len(b) - 3]
    else:
        b = bytearray(b"\x13" * len(b))
    s.blobs[name] = bytes(b)
    o2 = o.reboot()
    assert o2.app.params["limit_persist"] == 4  # the previous set, as before ...
    ev = events(o2, "STORE_FALLBACK")  # ... but now said
    assert len(ev) == 1 and ev[0]["args"] == ["params"], ev
    assert name + " rejected" in ev[0]["text"] and "used" in ev[0]["text"]


def test_a_boot_record_fallback_is_an_event():
    o = Obc()
    o2 = o.reboot()
    assert o2.app.boot_count == 2
    s = o.storage
    name = newest(s, "boot")
    s.blobs[name] = s.blobs[name][:-1]  # torn
    o3 = o2.reboot()
    assert o3.app.boot_count == 2  # the count repeats (the newest record is gone) ...
    ev = events(o3, "STORE_FALLBACK")  # ... and the boot says so
    assert [e["args"] for e in ev] == [["boot"]] and name + " rejected" in ev[0]["text"]


def test_no_fallback_event_on_a_healthy_store():
    o = Obc()
    ok_pair(o.send(PARAM_SAVE))
    o2 = o.reboot()
    assert events(o2, "STORE_FALLBACK") == []


# ---------------------------------------------------------------------- finding 14
def queue(o, n):
    t = o.app.now_s() + 1000.0
    for i in range(n):
        ok_pair(o.send(TIMETAG, {"time": t + i, "opcode": PING}))


def test_time_tags_lost_at_a_reset_are_reported_at_the_next_boot():
    o = Obc()
    queue(o, 3)
    o2 = o.reboot()  # a watchdog reset / power cycle: no REBOOT command ran
    ev = events(o2, "TIMETAG_DROPPED")
    assert len(ev) == 1 and ev[0]["args"] == [3], ev
    assert "lost at reset" in ev[0]["text"] and ev[0]["text"].count("PING@") == 3
    assert o2.app.timetags.dropped == 3
    assert o2.of(161)[-1]["timetags_dropped"] == 3  # housekeeping counts it too
    # Reported once: the next boot has nothing to report.
    assert events(o2.reboot(), "TIMETAG_DROPPED") == []


def test_executed_and_cleared_time_tags_are_not_reported_as_lost():
    o = Obc()
    t = o.app.now_s() + 0.5
    ok_pair(o.send(TIMETAG, {"time": t, "opcode": PING}))
    queue(o, 2)
    o.run(1000000)  # the first came due and ran
    o.reports()  # (its completion report)
    assert o.app.timetags.executed == 1
    ok_pair(o.send(BY_NAME["TIMETAG_CLEAR"].opcode))
    assert events(o.reboot(), "TIMETAG_DROPPED") == []


def test_a_reboot_command_reports_its_drop_once():
    o = Obc()
    queue(o, 2)
    ok_pair(o.send(BY_NAME["REBOOT"].opcode))
    assert [e["args"] for e in events(o, "TIMETAG_DROPPED")] == [[2]]
    assert events(o.reboot(), "TIMETAG_DROPPED") == []


@pytest.mark.parametrize("blob", [b"", b"\xff" * 20, None])
def test_a_damaged_time_tag_record_never_breaks_the_boot(blob):
    o = Obc()
    queue(o, 1)
    s = o.storage
    for n in ("timetag.a", "timetag.b"):
        if blob is None:
            SlotStore(s, "timetag").save(cbor.encode([[1.0, "PING"], "x"]))  # CRC-valid junk
        elif n in s.blobs:
            s.blobs[n] = blob
    o2 = o.reboot()
    assert o2.app.modes.mode == "SAFE"
    ok_pair(o2.send(PING))  # booted and commandable
    assert [e["args"] for e in events(o2, "STORE_FALLBACK")] == [["timetag"]]


def test_a_torn_time_tag_write_loses_nothing_it_already_held():
    o = Obc()
    queue(o, 2)
    o.storage.tear_after = 5
    o.storage.tear_only = "timetag"
    queue(o, 1)  # this write is torn: the queue in RAM is whole, the record one behind
    assert len(o.app.timetags) == 3
    assert o.app.storage_errors >= 1
    ev = events(o.reboot(), "TIMETAG_DROPPED")
    assert ev and ev[0]["args"][0] >= 2


# ---------------------------------------------------------------------- when it applies
def test_a_parameter_says_when_it_takes_effect():
    from ground_tools.dictionary import build_dictionary

    o = Obc()
    rep = ok_pair(o.send(PARAM_SET, {"name": "timetag_capacity", "value": 8}))
    assert rep["result"]["applies"] == "now" and o.app.timetags.capacity == 8
    params = {p["name"]: p for p in build_dictionary()["parameters"]}
    assert params["timetag_capacity"]["applies"] == "now"
    assert all(p["applies"] in ("now", "calibration", "session", "reboot")
               for p in params.values())


def test_slot_blob_names_are_made_on_use_and_a_clean_load_holds_no_list():
    """The store keeps its record name only (the blob names are made when a slot is read
    or written); ``rejected`` is the empty tuple after a clean load, the list of what
    was rejected otherwise."""
    from hal.sim.storage import MemStorage

    storage = MemStorage()
    st = SlotStore(storage, "rec")
    assert (st.blob(0), st.blob(1)) == ("rec.a", "rec.b") and st.rejected == ()
    st.save(b"one")
    st.save(b"two")
    assert sorted(storage.blobs) == ["rec.a", "rec.b"]
    st2 = SlotStore(storage, "rec")
    assert st2.load() == b"two" and st2.rejected == [(0, 1, "older")]
    storage.write("rec.a", b"garbage")
    st3 = SlotStore(storage, "rec")
    assert st3.load() == b"two" and st3.fallback and st3.rejected[0][0] == 0
    assert st3.describe().startswith("rec.a rejected (")
    storage.delete("rec.a")
    st4 = SlotStore(storage, "rec")
    assert st4.load() == b"two" and st4.rejected == () and not st4.fallback
