"""The audited injection of the telecommand robustness tests (issue 3): :class:`Pipe`, a
booted payload plus the OBC side, used by the seeded campaign
(tests/test_tc_robust_campaign.py), the hypothesis properties
(tests/test_tc_robust_hypothesis.py) and the fuzzed sequences (tests/test_fuzz_tc.py);
with the command opcodes they draw from (``OPS``) and a strategy of arbitrary CBOR
values (``cbor_values``).

Frames go through the *whole* pipeline — MemLink → the tc task (``FlightApp._task_tc``:
UART drain, COBS deframer, CRC, header, authentication, anti-replay, CBOR, dictionary,
arguments, mode, busy, execute, verification reports → TM on the link).  The tc task is
called directly between injections (not through the scheduler, which would contain an
exception as a task fault): any exception escaping the pipeline fails the test.

For every injection (:meth:`Pipe.inject`):

* each non-empty 0x00-delimited block on the wire is either a deframer drop (oversize or
  COBS error) or a frame delivered to the pipeline; every delivered frame is counted once,
  as accepted or as rejected with a reason: Δ(accepted) + Σ Δ(rejected[reason]) ==
  Δ(deframer.frames) and Δ(frames) + Δ(drops) == blocks sent;
* the TM carries exactly one acceptance report per delivered frame, with the reasons the
  counters say, and one completion report per accepted frame;
* when nothing was accepted, ``app.snapshot()`` (storage blobs included) is unchanged,
  but for the anti-replay marks of TCs rejected after their authentication (CCSDS SDLS,
  issue 12 item 3): those only rise, to the highest counter of such a TC.

The flood limits (flight/tclimit.py: per-tick frame budget, budgeted reports of
unauthenticated rejections) are opened wide here, so every frame is accounted for one by
one; they have their own tests (tests/test_tclimit.py, tests/test_security_tc.py).
Accepted REBOOTs reboot the payload on the same storage (a new FlightApp).
"""

from hypothesis import strategies as st

from flight import cbor, ccsds, cobs
from flight.keys import DEV_KEY, DEV_KEY_ID
from flight.cmddict import ACCEPT_REASONS as REASONS
from flight.tm import APID_VERIFY
from tests.mpy.obc import Obc, sign_body
from tests.tc_helpers import AUTHENTIC, EVLOG_BLOBS, without_replay

KEY2 = bytes(range(7, 39))
KEYS = {DEV_KEY_ID: DEV_KEY, 2: KEY2}

OPS = [0x01, 0x02, 0x03, 0x10, 0x11, 0x12, 0x13, 0x20, 0x30, 0x31, 0x32, 0x40, 0x50, 0x51,
       0x52, 0x53, 0x54, 0x55]


def unlimited(h):
    """``h`` with the flood limits opened wide (every frame processed and reported)."""
    h.app.tc.limit = None
    h.app.limits.budget.max_frames = 1 << 20
    h.app.limits.budget.backlog = 1 << 20
    return h


def marks_rose(before, after):
    """The anti-replay marks only went up (an authentic rejected TC spent its counter)."""
    b, a = before["replay"], after["replay"]
    assert set(b) <= set(a) and all(a[k] >= b[k] for k in b), (b, a)
    assert a != b


class Pipe:
    """A booted payload plus the OBC side; injects wire bytes and audits each injection."""

    def __init__(self, rng):
        self.rng = rng
        self.h = unlimited(Obc(keys=dict(KEYS)))
        self.tm_deframer = cobs.Deframer(max_frame=65536)
        self.accepted_packets = []
        # Totals over every boot of the campaign.
        self.blocks = 0
        self.delivered = 0
        self.dropped = 0
        self.accepted = 0
        self.rejected = dict.fromkeys(REASONS, 0)
        self.injections = 0
        self.reboots = 0
        self.state_checks = 0

    @property
    def app(self):
        return self.h.app

    # ------------------------------------------------------------------ OBC side
    def next_counter(self):
        self.h.counter += 1
        return self.h.counter

    def valid(self, opcode, args, counter=None):
        kid = self.app.keyring.active
        if counter is None:
            counter = self.next_counter()
        self.h.seq = (self.h.seq + 1) & 0x3FFF
        return sign_body(KEYS[kid], kid, counter, cbor.encode([opcode, args]), seq=self.h.seq)

    def signed_body(self, body):
        kid = self.app.keyring.active
        self.h.seq = (self.h.seq + 1) & 0x3FFF
        return sign_body(KEYS[kid], kid, self.next_counter(), body, seq=self.h.seq)

    def take_tm(self):
        out = []
        for pkt in self.tm_deframer.feed(self.h.board.link.take()):
            hdr, body = ccsds.parse_packet(pkt, ptype=ccsds.TYPE_TM)
            if hdr[ccsds.H_APID] == APID_VERIFY:
                out.append(cbor.decode(body))
        return out

    # ------------------------------------------------------------------ audit
    def counters(self):
        a = self.app
        d = a.deframer
        return (a.tc.accepted, dict(a.tc.rejected), d.frames, d.oversize + d.decode_errors)

    def inject(self, wire):
        """Send ``wire`` (ends with 0x00), run the tc task, check every invariant."""
        assert wire.endswith(b"\x00")
        app = self.app
        blocks = sum(1 for b in wire.split(b"\x00")[:-1] if b)
        before = app.snapshot()
        acc0, rej0, fr0, dr0 = self.counters()
        held0 = app.tc.held_tcs
        self.h.board.link.inject(wire)
        app._task_tc()
        while app.board.link.rx_pending():  # more than one tick's worth of octets
            app._task_tc()
        acc1, rej1, fr1, dr1 = self.counters()
        d_acc = acc1 - acc0
        d_rej = {r: rej1[r] - rej0[r] for r in REASONS}
        d_fr = fr1 - fr0
        assert d_fr + (dr1 - dr0) == blocks, (wire, d_fr, dr1 - dr0, blocks)
        assert d_acc + sum(d_rej.values()) == d_fr
        reps = self.take_tm()
        acc_reps = [r for r in reps if r["stage"] == "accept"]
        assert len(acc_reps) == d_fr
        got = {}
        for r in acc_reps:
            if not r["ok"]:
                assert r["reason"] in REASONS
                got[r["reason"]] = got.get(r["reason"], 0) + 1
        assert got == {k: v for k, v in d_rej.items() if v}
        assert sum(1 for r in acc_reps if r["ok"]) == d_acc
        assert sum(1 for r in reps if r["stage"] == "complete") == d_acc
        if d_acc == 0:
            after = app.snapshot()
            held = app.tc.held_tcs != held0  # (authentic, of a held key id: AUTH, spent)
            if held or any(d_rej[r] for r in AUTHENTIC):
                marks_rose(before, after)
                before, after = without_replay(before), without_replay(after)
            if held:  # (and its TC_KEY_HELD in the persistent log: docs/security.md O1)
                for snap in (before, after):
                    for k in EVLOG_BLOBS:
                        snap["storage"].pop(k, None)
            assert after == before
            self.state_checks += 1
        self.blocks += blocks
        self.delivered += d_fr
        self.dropped += dr1 - dr0
        self.accepted += d_acc
        for r in REASONS:
            self.rejected[r] += d_rej[r]
        self.injections += 1
        if app.reboot_requested:
            self.reboot()
        return d_acc

    def send(self, packets):
        wire = b"".join(cobs.encode(p) + b"\x00" for p in packets)
        return self.inject(wire)

    def run_scheduler(self, us):
        self.app.run_for(us)
        self.take_tm()
        assert self.app.sched.task("tc").faults == 0
        if self.app.reboot_requested:  # a time-tagged REBOOT
            self.reboot()

    def reboot(self):
        counter = self.h.counter
        self.h = unlimited(self.h.reboot())
        self.h.counter = counter
        self.tm_deframer = cobs.Deframer(max_frame=65536)
        self.reboots += 1
        self.accepted_packets = self.accepted_packets[-50:]

    def totals_consistent(self):
        assert self.delivered + self.dropped == self.blocks
        assert self.accepted + sum(self.rejected.values()) == self.delivered


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 64), 2 ** 64 - 1)
    | st.floats(allow_nan=True) | st.text(max_size=12) | st.binary(max_size=12),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6) | st.integers(-5, 5), inner, max_size=4),
    max_leaves=12)
