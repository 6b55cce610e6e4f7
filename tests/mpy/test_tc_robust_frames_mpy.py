"""Robustness of the telecommand pipeline under MicroPython: ≥ 5,000 random and mutated
frames through the whole pipeline (UART → tc task → deframer → pipeline → reports), every
one counted and reported, no state change when nothing was accepted (the campaign and its
audit: tests/mpy/tc_campaign.py); and line-noise garbage (LENGTH, CRC, HEADER, bad COBS)
rejected and counted with the heap locked (issue 11).
"""

from obc import fix_crc
from tc_campaign import N_FRAMES, OP, Pipe, campaign

from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.cmddict import ACCEPT_REASONS as REASONS
from flight.tc import encode_tc
from sim.rng import Rng

try:
    import micropython
except ImportError:  # CPython: nothing to lock
    micropython = None


def test_5000_mutated_frames_all_counted_no_state_change():
    pipe = Pipe()
    rng = Rng(0x5EED)
    n = campaign(pipe, rng, N_FRAMES)
    assert n >= N_FRAMES and pipe.blocks >= N_FRAMES
    assert pipe.delivered + pipe.dropped == pipe.blocks
    total_rej = 0
    for r in REASONS:
        total_rej += pipe.rejected[r]
    assert pipe.accepted + total_rej == pipe.delivered
    a = pipe.app  # (this boot's counters)
    assert a.tc.accepted + a.tc.rejected_total() == a.deframer.frames
    # The campaign reached every stage of the pipeline.
    for r in REASONS:
        assert pipe.rejected[r] > 0, r
    assert pipe.accepted > 100 and pipe.dropped > 0
    assert pipe.state_checks > pipe.injections // 2


def _garbage_kinds():
    """One packet per rejection that line noise can produce (issue 11): each already
    past the pipeline's deframer, so the test feeds the pipeline itself."""
    good = encode_tc(DEV_KEY, DEV_KEY_ID, 1, OP["REBOOT"], {}, seq=1)
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 1
    bad_hdr = bytearray(good)
    bad_hdr[1] ^= 1  # another APID, the CRC fixed: a HEADER rejection
    return (("LENGTH", bytes(b"\x18\x00\x00")),  # shorter than a header and its CRC
            ("LENGTH", good + b"\x01"),  # the data length field disagrees
            ("CRC", bytes(bad_crc)),
            ("HEADER", fix_crc(bytes(bad_hdr))))


def test_garbage_is_rejected_and_counted_with_the_heap_locked():
    # Issue 11: under a TC flood (line-rate garbage) the tc path allocated ~1.3 kB per
    # frame that decoded as COBS (a header tuple, two exceptions, a formatted message),
    # which made the scheduler walk the heap in SESSION (one APT deadline per walk).  Past
    # the interval's individual reports (flight/tclimit.py), a LENGTH, CRC or HEADER
    # rejection and a frame that is not COBS allocate nothing: each still counted, by
    # reason, and summarised (TC_REJECTIONS).
    pipe = Pipe()
    app = pipe.app
    app.tc.limit = app.limits.summary  # the flight configuration: reports budgeted
    kinds = _garbage_kinds()
    for _ in range(3):  # the interval's individual reports and its first offender
        for reason, pkt in kinds:
            assert app.tc.process(pkt) == reason
    noise = bytearray(b"\x05abc\x00\x09\x01\x02\x00")  # truncated COBS blocks
    rej0 = dict(app.tc.rejected)
    sup0 = app.limits.summary.suppressed
    err0 = app.deframer.decode_errors
    ok = 0  # (a small int: a list growing under the lock would allocate)
    if micropython is not None:
        micropython.heap_lock()
    try:
        for _ in range(50):
            for reason, pkt in kinds:
                if app.tc.process(pkt) == reason:
                    ok += 1
            if len(app.deframer.feed(noise, len(noise))) == 0:
                ok += 1
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    assert ok == 250, ok
    rej = app.tc.rejected
    assert rej["LENGTH"] - rej0["LENGTH"] == 100
    assert rej["CRC"] - rej0["CRC"] == 50 and rej["HEADER"] - rej0["HEADER"] == 50
    assert app.limits.summary.suppressed - sup0 == 200
    assert app.deframer.decode_errors - err0 == 100
