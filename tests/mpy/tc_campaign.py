"""The telecommand mutation campaign under MicroPython (MicroPython-clean; CPython too):
≥ 5,000 random and mutated frames through the whole pipeline (UART → tc task → deframer
→ pipeline → reports), with the simulator's seeded generator, sim/rng.py (MicroPython's
``random`` seeds differently).  Used by tests/mpy/test_tc_robust_frames_mpy.py (every
frame counted) and tests/mpy/test_tc_robust_heap_mpy.py (no heap growth).

:class:`Pipe` audits every injection: no exception escapes; every non-empty
0x00-delimited block is a deframer drop or a frame delivered to the pipeline; every
delivered frame is counted once as accepted or rejected with a reason, and gets exactly
one acceptance report; nothing accepted → ``app.snapshot()`` unchanged, but for the
anti-replay marks of TCs rejected after their authentication (CCSDS SDLS, issue 12 item
3), which only rise.  The flood limits (flight/tclimit.py) are opened wide so every frame
is accounted for one by one; they have their own tests.  ``log_capacity`` and
``allow_reboot`` (no REBOOT spelled by a mutation) and :meth:`Pipe.quiesce` serve the
heap runs: see tests/mpy/test_tc_robust_heap_mpy.py.
"""

import struct

from obc import fix_crc

from flight import cbor, ccsds, cobs, mac
from flight.app import FlightApp
from flight.keys import DEV_KEY, DEV_KEY_ID, Keyring
from flight.cmddict import ACCEPT_REASONS as REASONS
from flight.cmddict import COMMANDS
from flight.tc import encode_tc
from flight.tm import APID_TC, APID_VERIFY
from hal.clock import VirtualClock
from hal.interfaces import Board
from hal.sim.link import MemLink
from hal.sim.power import SimPower
from hal.sim.storage import MemStorage
from hal.sim.watchdog import SimWatchdog

OP = {}
for _c in COMMANDS:  # records by position: (opcode, name, ...) (flight.cmddict C_*)
    OP[_c[1]] = _c[0]
REBOOT_HEAD = cbor.encode([OP["REBOOT"], {}])[:3]  # a CBOR body that spells REBOOT
N_FRAMES = 5000
KEY2 = bytes(range(3, 35))


def octets(rng, n):
    """n random octets from the simulator's generator (sim/rng.py)."""
    b = bytearray(n)
    for i in range(n):
        b[i] = rng.randbelow(256)
    return bytes(b)


def blocks_in(wire):
    n = 0
    for b in wire.split(b"\x00")[:-1]:
        if b:
            n += 1
    return n


AUTHENTIC = ("DECODE", "UNKNOWN_OPCODE", "BAD_ARG", "WRONG_MODE", "BUSY")


def without_replay(snap):
    snap = dict(snap)
    snap.pop("replay")
    st = {}
    for k in snap["storage"]:
        if not k.startswith("replay."):
            st[k] = snap["storage"][k]
    snap["storage"] = st
    return snap


def marks_rose(before, after):
    """The anti-replay marks only went up (an authentic rejected TC spent its counter)."""
    b = before["replay"]
    a = after["replay"]
    for k in b:
        assert k in a and a[k] >= b[k], (b, a)
    assert a != b


class Pipe:
    def __init__(self, log_capacity=None, allow_reboot=True):
        self.log_capacity = log_capacity
        self.allow_reboot = allow_reboot
        self.reboots = 0
        self._boot(MemStorage())
        self.counter = 0
        self.seq = 0
        self.tm = cobs.Deframer(max_frame=TM_MAX)
        self.accepted_pkts = []
        self.blocks = 0
        self.delivered = 0
        self.dropped = 0
        self.accepted = 0
        self.rejected = {}
        for r in REASONS:
            self.rejected[r] = 0
        self.injections = 0
        self.state_checks = 0

    def _boot(self, storage):
        self.clock = VirtualClock()
        self.board = Board(link=MemLink(), storage=storage, power=SimPower(),
                           watchdog=SimWatchdog(self.clock), clock=self.clock, name="mpy")
        self.app = FlightApp(self.board, keyring=Keyring({DEV_KEY_ID: DEV_KEY, 2: KEY2}))
        self.app.tc.limit = None  # every rejection reported: counted one by one here
        self.app.limits.budget.max_frames = 1 << 20
        self.app.limits.budget.backlog = 1 << 20
        self.app.boot()
        # Both parameter slots written once (a fuzzed PARAM_SAVE then overwrites a slot
        # of the same size): the flash image starts at its steady size, so a first save
        # during the heap measurement is not taken for growth.
        self.app.params.save()
        self.app.params.save()
        if self.log_capacity is not None:
            self.app.events.persist_capacity = self.log_capacity

    def reboot(self):
        """A REBOOT got through (a mutated body can spell one): a new payload on the same
        storage, as the board would; the OBC keeps its counter, old TCs stay replays."""
        self._boot(self.board.storage)
        self.tm = cobs.Deframer(max_frame=TM_MAX)
        self.reboots += 1

    def valid(self, opcode, args, counter=None):
        if counter is None:
            self.counter += 1
            counter = self.counter
        self.seq = (self.seq + 1) & 0x3FFF
        return encode_tc(DEV_KEY, DEV_KEY_ID, counter, opcode, args, seq=self.seq)

    def signed_body(self, body, key=DEV_KEY, kid=DEV_KEY_ID):
        self.counter += 1
        self.seq = (self.seq + 1) & 0x3FFF
        hdr = ccsds.pack_header(ccsds.TYPE_TC, APID_TC, self.seq, len(body) + 22)
        trailer = bytes([kid]) + struct.pack(">I", self.counter)
        tag = mac.mac(key, [hdr, body, trailer])
        return ccsds.build_packet(ccsds.TYPE_TC, APID_TC, self.seq, body + trailer + tag)

    def counts(self):
        a = self.app
        d = a.deframer
        return a.tc.accepted, a.tc.rejected_total(), d.frames, d.oversize + d.decode_errors

    def inject(self, wire):
        app = self.app
        nb = blocks_in(wire)
        before = app.snapshot()
        rej0 = dict(app.tc.rejected)
        held0 = app.tc.held_tcs
        acc0, nrej0, fr0, dr0 = self.counts()
        self.board.link.inject(wire)
        app._task_tc()
        while self.board.link.rx_pending():
            app._task_tc()
        acc1, nrej1, fr1, dr1 = self.counts()
        d_acc = acc1 - acc0
        d_fr = fr1 - fr0
        assert d_fr + (dr1 - dr0) == nb, (d_fr, dr1 - dr0, nb)
        assert d_acc + (nrej1 - nrej0) == d_fr
        n_acc_rep = 0
        n_ok = 0
        n_done = 0
        by_reason = {}
        for pkt in self.tm.feed(self.board.link.take()):
            h, body = ccsds.parse_packet(pkt, ptype=ccsds.TYPE_TM)
            if h[ccsds.H_APID] != APID_VERIFY:
                continue
            r = cbor.decode(body)
            if r["stage"] == "accept":
                n_acc_rep += 1
                if r["ok"]:
                    n_ok += 1
                else:
                    by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + 1
            else:
                n_done += 1
        assert n_acc_rep == d_fr and n_ok == d_acc and n_done == d_acc
        for r in REASONS:
            d = app.tc.rejected[r] - rej0[r]
            assert by_reason.get(r, 0) == d, (r, d, by_reason)
            self.rejected[r] += d
        if d_acc == 0:
            after = app.snapshot()
            authentic = 0
            for r in AUTHENTIC:
                authentic += app.tc.rejected[r] - rej0[r]
            held = app.tc.held_tcs != held0  # (authentic, of a held key id: AUTH, spent)
            if authentic or held:
                marks_rose(before, after)
                before = without_replay(before)
                after = without_replay(after)
            if held:  # (and its TC_KEY_HELD in the persistent log: docs/security.md O1)
                for snap in (before, after):
                    for k in ("evlog0", "evlog1", "evlog2"):
                        snap["storage"].pop(k, None)
            assert after == before
            self.state_checks += 1
        self.blocks += nb
        self.delivered += d_fr
        self.dropped += dr1 - dr0
        self.accepted += d_acc
        self.injections += 1
        if app.reboot_requested:
            self.reboot()
        return d_acc

    def tick(self, us):
        """Let the scheduler run (time tags execute, housekeeping, event-log flush)."""
        self.app.run_for(us)
        self.tm.feed(self.board.link.take())
        assert self.app.sched.task("tc").faults == 0
        if self.app.reboot_requested:  # a time-tagged REBOOT
            self.reboot()

    def quiesce(self):
        """Comparable state for a heap measurement: no time tags, events sent, TM taken,
        and the frame buffers scrubbed (see ``SCRUB``)."""
        self.inject(cobs.encode(self.valid(OP["TIMETAG_CLEAR"], {})) + b"\x00")
        self.tick(1100000)
        while self.app.events.pending():
            self.app._task_tc()
        self.inject(SCRUB)
        self.tm.feed(self.board.link.take())
        self.tm.feed(SCRUB_TM)  # the OBC side's buffers too, in place (no new garbage)


# A maximum-length frame of 0x55 octets (rejected: LENGTH): overwrites the deframer's and
# the UART's buffers completely, so no stale frame octets stay there to look like heap
# pointers to MicroPython's conservative collector at a measurement.
SCRUB = cobs.encode(b"\x55" * 1024) + b"\x00"
TM_MAX = 2048  # the OBC side's TM deframer (above any TM packet)
SCRUB_TM = cobs.encode(b"\x55" * TM_MAX) + b"\x00"


def command(rng, pipe):
    k = rng.randbelow(12)
    if k == 0:
        return OP["PING"], {}
    if k == 1:
        return OP["PARAM_SET"], {"name": "limit_persist", "value": rng.randbelow(60)}
    if k == 2:
        return OP["PARAM_SET"], {"name": "temp_max_c", "value": rng.randbelow(200) - 50.0}
    if k == 3:
        return OP["PARAM_GET"], {"name": ("limit_persist", "tm_events_per_tick", "nope")[rng.randbelow(3)]}
    if k == 4:
        return OP["TIMETAG"], {"time": pipe.app.now_s() + 1e6 + rng.randbelow(1000), "opcode": OP["PING"]}
    if k == 5:  # clears seldom, so the queue fills up (BUSY) between clears
        if rng.randbelow(8) == 0:
            return OP["TIMETAG_CLEAR"], {}
        return OP["TIMETAG"], {"time": pipe.app.now_s() + 2e6, "opcode": OP["PING"]}
    if k == 6:
        return OP["SET_MODE"], {"mode": "STANDBY"}
    if k == 7:
        return OP["EVENT_LOG_DUMP"], {"max": rng.randbelow(8)}
    if k == 8:  # any opcode, mostly unknown ones (REBOOT excluded: it ends the run)
        op = rng.randbelow(256)
        return (OP["PING"] if op == OP["REBOOT"] else op), {}
    if k == 9:
        return OP["SET_TIME"], {"time": rng.randbelow(100000) * 1.0}
    if k == 10:
        return OP["PARAM_SET"], {"name": "limit_persist", "value": "x", "extra": rng.randbelow(3)}
    return OP["SESSION_END"], {}  # SESSION_END: never in SESSION here, so WRONG_MODE


def mutate(rng, pipe):
    """Wire octets (ending with 0x00) of one injection."""
    k = rng.randbelow(16)
    op, args = command(rng, pipe)
    if k == 0:
        return [pipe.valid(op, args)]
    if k == 1:  # CBOR mutated, then signed: decoder / dictionary / arguments
        b = bytearray(cbor.encode([op, args]))
        for _ in range(1 + rng.randbelow(2)):
            b[rng.randbelow(len(b))] = rng.randbelow(256)
        b = bytes(b[:len(b) - rng.randbelow(2)])
        if not pipe.allow_reboot and b[:3] == REBOOT_HEAD:
            b = b"\x82\x18\x7f" + b[3:]  # a mutation that spells REBOOT: unknown instead
        return [pipe.signed_body(b)]
    p = pipe.valid(op, args)
    if k == 2:  # bit flips
        q = bytearray(p)
        for _ in range(1 + rng.randbelow(3)):
            q[rng.randbelow(len(q))] ^= 1 << rng.randbelow(8)
        return [bytes(q)]
    if k == 3:  # bit flip, CRC made consistent: header / auth / counter
        q = bytearray(p)
        q[rng.randbelow(len(q) - 2)] ^= 1 << rng.randbelow(8)
        return [fix_crc(q)]
    if k == 4:  # truncation
        return [p[:rng.randbelow(len(p))]]
    if k == 5:  # extension
        return [p + octets(rng, 1 + rng.randbelow(20))]
    if k == 6:  # length-field lie (CRC consistent)
        q = bytearray(p)
        struct.pack_into(">H", q, 4, rng.randbelow(65536))
        return [fix_crc(q)]
    if k == 7:  # forged MAC
        return [fix_crc(p[:-18] + octets(rng, 16) + b"\x00\x00")]
    if k == 8:  # wrong key / key id
        kid = (DEV_KEY_ID, 2, 9)[rng.randbelow(3)]
        return [pipe.signed_body(cbor.encode([op, args]), key=KEY2, kid=kid)]
    if k == 9:  # counter tampered
        q = bytearray(p)
        struct.pack_into(">I", q, len(q) - 22, rng.next_u32())
        return [fix_crc(q)]
    if k == 10 and pipe.accepted_pkts:  # replay
        return [pipe.accepted_pkts[rng.randbelow(len(pipe.accepted_pkts))]]
    if k == 11:  # older counter
        c = pipe.counter - rng.randbelow(40)
        return [pipe.valid(op, args, counter=c if c > 0 else 0)]
    if k == 12:  # random octets
        return [octets(rng, rng.randbelow(60))]
    if k == 13:  # bad COBS
        e = bytearray(cobs.encode(p))
        i = rng.randbelow(len(e))
        if rng.randbelow(2):
            e[i] = 1 + rng.randbelow(255)
        else:
            e[i] = 0
        return bytes(e) + b"\x00"
    if k == 14:  # oversize block
        return b"\x55" * (1030 + rng.randbelow(200)) + b"\x00"
    return [pipe.valid(OP["PING"], {}), p[:10], pipe.valid(op, args)]  # several frames at once


def campaign(pipe, rng, n_frames):
    n = 0
    while n < n_frames:
        m = mutate(rng, pipe)
        if isinstance(m, list):
            wire = b""
            for p in m:
                wire += cobs.encode(p) + b"\x00"
        else:
            wire = m
        acc = pipe.inject(wire)
        if acc and isinstance(m, list) and len(pipe.accepted_pkts) < 32:
            pipe.accepted_pkts.append(m[0])  # then frozen: no test-side heap churn
        b = blocks_in(wire)
        n += b if b else 1
        if pipe.injections % 400 == 0:
            pipe.tick(300000)
    return n
