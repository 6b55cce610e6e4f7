"""Robustness of the telecommand pipeline under MicroPython: ≥ 5,000 random and mutated
frames through the whole pipeline (UART → tc task → deframer → pipeline → reports), with
the simulator's seeded generator, sim/rng.py (MicroPython's ``random`` seeds differently).

Per injection: no exception escapes; every non-empty 0x00-delimited block is a deframer
drop or a frame delivered to the pipeline; every delivered frame is counted once as
accepted or rejected with a reason, and gets exactly one acceptance report; nothing
accepted → ``app.snapshot()`` unchanged, but for the anti-replay marks of TCs rejected
after their authentication (CCSDS SDLS, issue 12 item 3), which only rise.  The flood
limits (flight/tclimit.py) are opened wide so every frame is accounted for one by one;
they have their own tests.

Heap growth.  ``gc.collect(); gc.mem_alloc()`` measures the live heap only where
``gc.collect()`` really collects (a board, the unix port).  In the WebAssembly VM the
tests run in, the heap grows automatically and ``gc.collect()`` only marks a collection
as pending until control returns to JavaScript (ports/webassembly/main.c,
MICROPY_GC_SPLIT_HEAP_AUTO), so inside one test the figure only ever rises.  Hence:

* ``test_no_heap_growth`` measures ``gc.mem_alloc()`` when the collector is effective
  (probed), and in every interpreter measures what the application *retains*: the size
  of the object graph reachable from the FlightApp (containers, strings, buffers), which
  is where a leak would have to live;
* ``heap_phases`` runs the same campaign in 500-frame chunks chained by
  ``js.setTimeout``, so each chunk ends with a real collection at top level (as a board
  collects in idle time) and the figures follow such collections:
  tests/test_tc_robustness.py runs it in the VM and checks ``gc.mem_alloc()`` there.

The persistent event log keeps the active half of its entries in RAM, and the AUTH audit
entry written every hundredth forged frame fills it until it switches blobs: bounded
(tests/test_events.py) but up to ~10 KiB at the default 128 entries, which would hide a
leak.  The heap runs therefore configure the log at ``HEAP_LOG_CAPACITY`` = 4 entries,
and turn a mutation that spells REBOOT into an unknown opcode (a reboot leaves a whole
dead app that one stale word can keep; reboots are covered by the counting run and the
CPython campaign); everything else is the flight configuration.

Slack (``HEAP_SLACK`` 3 KiB, ``RETAINED_SLACK`` 1 KiB): at both measurement points the
time-tag queue is cleared, the event ring drained to TM, the TM taken and the frame
buffers scrubbed, but bounded stores still differ in content: the event log's active
blob (0-1 entries of ~100 octets in RAM and in the simulated flash; which events land
there, e.g. a task overrun, depends on the host's speed), the replay and parameter
records (a few octets with the counter's CBOR width and the values), the scheduler's
statistics.  MicroPython's collector is also conservative: a stale word in a live buffer
(a MAC, a record) that looks like a heap address keeps a dead block, until that buffer
is rewritten: so the end figure is the lowest of the last three chunk marks (a leak rises
in every chunk, such a false retention does not last).  Measured in the VM: +0.6 to
+1.3 KiB over 5,000 frames.  A leak of a single 16-octet heap block per frame would add
80 KiB: 26 times the slack.
"""

import gc
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
from sim.rng import Rng

try:
    import micropython
except ImportError:  # CPython: nothing to lock
    micropython = None

OP = {}
for _c in COMMANDS:  # records by position: (opcode, name, ...) (flight.cmddict C_*)
    OP[_c[1]] = _c[0]
REBOOT_HEAD = cbor.encode([OP["REBOOT"], {}])[:3]  # a CBOR body that spells REBOOT
N_FRAMES = 5000
WARMUP = 600
HEAP_SLACK = 3072
HEAP_FRAMES = 15000  # heap_phases: 30 chunks, so that its second half is past the fill-up
HEAP_FILL = 4 * HEAP_SLACK  # bounded stores filling up in the first half (see above)
RETAINED_SLACK = 1024
HEAP_LOG_CAPACITY = 4  # persistent event log entries in the heap runs (see above)
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
            if authentic:
                marks_rose(before, after)
                before = without_replay(before)
                after = without_replay(after)
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


# ------------------------------------------------------------------------- retained size
def _retained(root):
    """Octets (approximate) of the object graph reachable from ``root``: strings and
    buffers by length, containers by slots, instances through their ``__dict__``."""
    # The ids seen, in 64 small sets rather than one large one: a set of a few thousand
    # ids grows by doubling into one contiguous block, which a fixed, fragmented heap
    # (unix port, firmware) may not have although it has plenty of room.
    seen = [set() for _ in range(64)]
    stack = [root]
    total = 0
    while stack:
        x = stack.pop()
        i = id(x)
        bucket = seen[(i >> 4) & 63]
        if i in bucket:
            continue
        bucket.add(i)
        if isinstance(x, (bytes, bytearray, str)):
            total += len(x) + 8
        elif isinstance(x, (list, tuple)):
            total += 4 * len(x) + 8
            stack.extend(x)
        elif isinstance(x, dict):
            total += 8 * len(x) + 8
            for k in x:
                stack.append(k)
                stack.append(x[k])
        elif isinstance(x, (int, float, bool)) or x is None:
            total += 8
        elif isinstance(x, type) or callable(x):
            continue  # code, classes and bound methods: not per-frame data
        else:
            d = getattr(x, "__dict__", None)
            if isinstance(d, dict):
                total += 16
                stack.append(d)
    return total


def _gc_effective():
    gc.collect()
    a0 = gc.mem_alloc()
    # 16 KiB, not more: on a fixed heap (unix port, firmware) after the campaign a larger
    # contiguous block may not exist although the heap has room.
    junk = bytearray(16384)
    junk = None  # noqa: F841
    gc.collect()
    return gc.mem_alloc() < a0 + 8192


# ------------------------------------------------------------------------- tests
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


def test_no_heap_growth():
    pipe = Pipe(log_capacity=HEAP_LOG_CAPACITY, allow_reboot=False)
    rng = Rng(0xC0FFEE)
    campaign(pipe, rng, WARMUP)
    pipe.quiesce()
    r0 = _retained(pipe.app)
    measure = hasattr(gc, "mem_alloc") and _gc_effective()
    if measure:
        gc.collect()
        a0 = gc.mem_alloc()
    n = campaign(pipe, rng, N_FRAMES)
    pipe.quiesce()
    if measure:
        gc.collect()
        grown = gc.mem_alloc() - a0
        assert grown <= HEAP_SLACK, grown
    r1 = _retained(pipe.app)
    assert n >= N_FRAMES
    assert r1 - r0 <= RETAINED_SLACK, (r0, r1)
    assert r0 > 10000  # the walk saw the application (buffers, tables, storage)


def heap_phases(report, chunk=500):
    """Warm-up, then N_FRAMES in chunks of ``chunk`` frames; every chunk ends at the VM's
    top level (``js.setTimeout``), where the collection really runs, as a board collects
    in idle time; the figures are taken after such collections.  Calls ``report(dict)``.
    """
    import js

    st = {"pipe": Pipe(log_capacity=HEAP_LOG_CAPACITY, allow_reboot=False),
          "rng": Rng(0xC0FFEE), "n": 0, "marks": []}

    def step():
        a = gc.mem_alloc()  # first: nothing allocated since the collection
        st["marks"].append(a)
        if len(st["marks"]) == 1:
            st["a0"] = a
            st["r0"] = _retained(st["pipe"].app)
        if st["n"] >= HEAP_FRAMES:
            # The end figure is the lowest of the last three marks: a dead block kept by
            # a stale word is let go once that buffer is rewritten, a leak is not.  The
            # half-way figure likewise, from the three marks around the middle.
            marks = st["marks"]
            mid = len(marks) // 2
            report({"a0": st["a0"], "a1": min(marks[-3:]), "ahalf": min(marks[mid - 1:mid + 2]),
                    "r0": st["r0"], "r1": _retained(st["pipe"].app), "frames": st["n"],
                    "slack": HEAP_SLACK, "fill": HEAP_FILL, "marks": marks})
            return
        st["n"] += campaign(st["pipe"], st["rng"], chunk)
        st["pipe"].quiesce()
        gc.collect()
        js.setTimeout(step, 0)

    campaign(st["pipe"], st["rng"], WARMUP)
    st["pipe"].quiesce()
    gc.collect()
    js.setTimeout(step, 0)


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
