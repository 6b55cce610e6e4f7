"""The ADCS feedback packet (APID 0x0A4, flight/apt_feedback.py): its octets pinned for a
given APT state — the ground decodes them by the declared map, so a faster encoder must
write the same bytes — and its maths run under ``micropython.heap_lock()`` as
Apt.feedback runs it (0 bytes a run; the locked heap also keeps its calls' frames on the
C stack), here with an offload request counted (tests/mpy/test_budget_mpy.py: without).
Runs on CPython and on every MicroPython interpreter."""

from flight import apt_feedback as afb
from flight import ccsds, cbor, cobs
from flight.apt import ADCS
from flight.tm import APID_ADCS, TmSender
from hal.interfaces import APT_ACQUIRE, APT_LOST, APT_TRACK
from hal.sim.link import MemLink
from heaplock import locked
from test_budget_mpy import feedback_in_track

# The map of the state below, as the encoder before the heap-locked fill wrote it (and
# cbor.encode of the same values: checked below).
PIN = bytes.fromhex(
    "a76a6572725f785f75726164fbc081dc40000000006a6572725f795f75726164fb409220f800000000"
    "6576616c69640165737461746503676f66666c6f6164016a66736d5f785f75726164fbc0800dc00000"
    "00006a66736d5f795f75726164fb40a5457c00000000")


class Obj:
    pass


def _apt(state=APT_TRACK, valid=True, lim=600000, requests=0):
    law = Obj()
    law.u_x, law.u_y, law.sign_x, law.sign_y = -123456, 654321, -1, 1
    search = Obj()
    search.verified = False
    a = Obj()
    a.state, a.law, a.search, a.valid = state, law, search, valid
    a._offload_lim, a.offload_requests = lim, requests
    a.spot_x, a.ref_x = 640 * 64 + 37, 640 * 64
    a.spot_y, a.ref_y = 512 * 64 - 1000, 512 * 64
    return a


def _feedback():
    fb = afb.Feedback(ADCS)
    fb.scale(100.0)
    return fb


def test_the_packet_octets_are_pinned():
    fb = _feedback()
    apt = _apt()
    assert fb.fill(apt) == 2  # the 1st offload request: its event is due
    for _ in range(5):
        assert fb.fill(apt) == 1
    assert apt.offload_requests == 6
    assert bytes(fb.rec.buf) == PIN
    body = cbor.decode(PIN)
    assert body["state"] == APT_TRACK and body["valid"] == 1 and body["offload"] == 1
    assert cbor.decode(cbor.encode(body)) == body  # the general encoder: the same map
    # The frame on the wire: the ADCS APID around exactly these octets.
    link = MemLink()
    TmSender(link).send_raw(APID_ADCS, fb.rec.buf)
    assert link.take() == cobs.encode(ccsds.build_packet(ccsds.TYPE_TM, APID_ADCS, 0, PIN)) + b"\x00"


def test_offload_events_invalid_spot_and_states_that_send_nothing():
    fb = _feedback()
    apt = _apt(requests=48)
    assert fb.fill(apt) == 1 and fb.fill(apt) == 2 and apt.offload_requests == 50
    apt = _apt(lim=10 ** 6, valid=False)  # no offload; no spot: the error is the mirror's
    assert fb.fill(apt) == 1 and apt.offload_requests == 0
    body = cbor.decode(bytes(fb.rec.buf))
    assert body["offload"] == 0 and body["valid"] == 0
    assert body["err_x_urad"] == body["fsm_x_urad"] and body["err_y_urad"] == body["fsm_y_urad"]
    before = bytes(fb.rec.buf)
    for st in (APT_LOST, APT_ACQUIRE):  # ACQUIRE only once the beacon is verified
        assert fb.fill(_apt(state=st)) == 0
    assert bytes(fb.rec.buf) == before
    apt = _apt(state=APT_ACQUIRE)
    apt.search.verified = True
    assert fb.fill(apt) == 2 and cbor.decode(bytes(fb.rec.buf))["state"] == APT_ACQUIRE


def test_the_task_counting_offload_requests_allocates_nothing():
    r, sink, feedback = feedback_in_track()
    r.apt._offload_lim = 0  # every run asks for an offload; the 2nd..49th emit nothing
    r.apt.offload_requests = 1
    w0 = sink.writes
    locked(feedback, 10)
    assert sink.writes == w0 + 10 and r.app.tm.link_errors == 0
    assert r.apt.offload_requests == 11 and r.apt._fb.rec["offload"] == 1
