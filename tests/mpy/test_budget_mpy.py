"""Steady-state allocation of the core tasks and the MemoryError path (DESIGN §3.1).

A collection of the payload computer's heap lasts about 25 ms, longer than the APT's
10 ms period: wherever it falls in a pass it costs the APT a deadline.  So the periodic
tasks allocate nothing in steady state and no collection is due during a pass.  Proven
here like the APT's tick (tests/mpy/test_control_mpy.py): after warm-up calls, each task
runs repeatedly under ``micropython.heap_lock()``, where any allocation raises
MemoryError.  The tasks catch some errors themselves (a failing housekeeping fill is
counted, a sensor error is skipped), so each test also checks those counters stayed put
and the packets went out.  On CPython the same code runs without the lock.

The board: the core devices of the simulator (power, storage, watchdog) plus a UART
sink and temperature sensors that allocate nothing themselves (the simulated UART copies
every write into its buffer, which is the test bench's memory, not the flight's).
"""

from flight import ccsds, cbor, cobs
from flight.app import EV_EVENTS_DEFERRED, FlightApp
from flight.apt import ADCS
from flight.keys import Keyring
from flight.scheduler import EV_TASK_OUT_OF_MEMORY, Task
from flight.tm import APID_ADCS, APID_EVENT, MapPacker, TmSender
from hal.clock import VirtualClock
from hal.interfaces import Board
from hal.sim.link import MemLink
from hal.sim.power import SimPower
from hal.sim.storage import MemStorage
from hal.sim.watchdog import SimWatchdog
from heaplock import locked

try:
    import micropython
except ImportError:  # CPython: the heap lock is a MicroPython facility
    micropython = None


class SinkLink:
    """A UART that takes every octet (counted) and receives nothing."""

    def __init__(self):
        self.writes = 0
        self.octets = 0

    def read_into(self, buf):
        return 0

    def write(self, data):
        self.writes += 1
        self.octets += len(data)
        return len(data)


class ConstTemp:
    """A temperature sensor reading a constant (a float made once)."""

    def __init__(self, t):
        self.t = t

    def init(self):
        pass

    def read_c(self):
        return self.t


def _app(link=None):
    clock = VirtualClock()
    board = Board(link=link if link is not None else SinkLink(), storage=MemStorage(),
                  power=SimPower(), watchdog=SimWatchdog(clock), clock=clock,
                  temps=[ConstTemp(25.0), ConstTemp(26.5)], name="budget")
    # a usable (test) key: without one the payload stays in SAFE, which is not steady state
    app = FlightApp(board, keyring=Keyring({1: bytes(range(32))}))
    app.boot()
    assert app.modes.request("STANDBY") is None
    app.run_for(3000000)  # boot events drained, event log flushed, every task warm
    return app


def test_hk_health_and_idle_tc_tasks_allocate_nothing():
    app = _app()
    link = app.board.link
    sched = app.sched
    hk, health, tc = sched.task("hk").fn, sched.task("health").fn, sched.task("tc").fn
    for fn in (hk, health, tc):
        fn()  # the first calls build the per-APID frame buffers
    w0 = link.writes
    e0 = (app.hk_packer.errors, app.tm.link_errors, app.tm.dropped, app.events.persist_errors)
    steps = app._hk_steps  # one packet per cycle of steps (collect, encode: halves; send, log)
    locked(hk, 2 * steps)
    locked(health, 20)
    locked(tc, 20)
    # (an allocation would raise MemoryError out of the task, or be counted below)
    assert (app.hk_packer.errors, app.tm.link_errors, app.tm.dropped,
            app.events.persist_errors) == e0
    assert link.writes == w0 + 2, (link.writes, w0)  # two housekeeping packets went out
    assert link.octets > 2 * app.hk_packer.size


def test_adcs_feedback_packet_allocates_nothing_and_decodes_as_the_map():
    app = _app()
    link = app.board.link
    values = {"err_x_urad": 12.5, "err_y_urad": -3.25, "valid": 1, "state": 3,
              "offload": 0, "fsm_x_urad": 150.0, "fsm_y_urad": -75.5}
    app.send_adcs(values)
    w0 = link.writes
    locked(lambda: app.send_adcs(values), 10)
    assert link.writes == w0 + 10 and app.tm.link_errors == 0
    # The in-place map is the map: same keys and values as the general encoder's.
    body = bytes(app._adcs_packer.pack(values))
    assert cbor.decode(body) == cbor.decode(cbor.encode(values)) == values
    values["state"] = 99  # above a one-octet integer: the caller encodes it generally
    assert MapPacker(ADCS).pack(values) is None


def test_in_place_frames_equal_the_general_encoding():
    link = MemLink()
    tm = TmSender(link)
    bodies = [b"", b"\x00", b"\x01\x00\x00\x02", bytes(range(1, 200)), bytes(240),
              bytes(range(256)) * 2]  # the last two are long: built the general way
    seq = 0
    for body in bodies:
        tm.send_raw(APID_ADCS, body)
        want = cobs.encode(ccsds.build_packet(ccsds.TYPE_TM, APID_ADCS, seq, body)) + b"\x00"
        assert link.take() == want, body
        seq += 1
    for n in range(cobs.SHORT_MAX + 1):
        data = bytes((k * 7) % 5 for k in range(n))  # zeros every fifth octet
        frame = bytearray(n + 2)
        frame[1:1 + n] = data
        cobs.stuff_short(frame, n)
        assert bytes(frame) == cobs.encode(data) + b"\x00", n


def test_busy_link_queues_a_copy_and_keeps_the_order():
    link = MemLink()
    link.tx_capacity = 20  # takes 20 octets, then nothing until read
    tm = TmSender(link)
    tm.send_raw(APID_ADCS, bytes(30))  # partly written: the rest is queued
    tm.send_raw(APID_ADCS, b"\x05" * 30)  # the same frame buffer, reused: queued behind
    got = link.take()
    link.tx_capacity = 1 << 20
    tm.pump()
    got += link.take()
    want = b""
    for seq, body in ((0, bytes(30)), (1, b"\x05" * 30)):
        want += cobs.encode(ccsds.build_packet(ccsds.TYPE_TM, APID_ADCS, seq, body)) + b"\x00"
    assert got == want and tm.sent_packets == 2 and tm.queued_bytes() == 0


def test_memory_error_in_a_critical_task_reaches_safe_without_the_heap():
    link = MemLink()
    app = _app(link)
    assert app.modes.mode == "STANDBY"
    link.take()
    t = app.sched.task("health")
    e = MemoryError()
    if micropython is not None:
        micropython.heap_lock()
    try:
        app.sched._fault(t, e)  # as if the health task had raised it
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    # SAFE was entered with the heap locked, and the cause names the task.
    assert app.modes.mode == "SAFE"
    assert app.modes.last_safe_cause == "critical task health fault"
    if micropython is not None:  # events held without allocating, in order
        assert app.events.deferred >= 2
    app.sched.enable("health")
    app.run_for(200000)  # the tc task drains the events
    ids = []
    deframer = cobs.Deframer(max_frame=2048)
    for pkt in deframer.feed(link.take()):
        h, body = ccsds.parse_packet(pkt, ptype=ccsds.TYPE_TM)
        if h[ccsds.H_APID] == APID_EVENT:
            ids.append(cbor.decode(body)["id"])
    assert EV_TASK_OUT_OF_MEMORY in ids
    if micropython is not None:
        assert EV_EVENTS_DEFERRED in ids  # the late batch reported as its own event
        assert ids.index(EV_TASK_OUT_OF_MEMORY) < ids.index(EV_EVENTS_DEFERRED)


def test_event_emitted_on_an_exhausted_heap_is_held_then_sent():
    app = _app()
    ev = app.events
    ev.pop()
    while ev.pop() is not None:
        pass
    if micropython is not None:
        micropython.heap_lock()
    try:
        for _ in range(3):
            app.emit(EV_TASK_OUT_OF_MEMORY, None, "apt")
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    got = []
    while True:
        e = ev.pop()
        if e is None:
            break
        got.append((e[3], e[4]))
    assert got == [(EV_TASK_OUT_OF_MEMORY, "apt")] * 3
    assert ev.released == (3 if micropython is not None else 0)


def test_scheduler_collects_at_chosen_moments_only():
    import gc

    clock = VirtualClock()
    from flight.scheduler import Scheduler

    sched = Scheduler(clock, gc_threshold=0, gc_check_period_us=50000)
    quiet = [True]
    sched.gc_quiet = lambda: quiet[0]
    sched.gc_relaxed = 1 << 40  # "below" any heap: outside quiet time, every check
    sched.add(Task("a", 10000, lambda: None))
    sched.run_for(500000)
    assert sched.gc_runs == 0  # quiet (a pass): no collection above the floor
    sched.request_gc()
    sched.run_for(20000)
    assert sched.gc_runs == 1  # the requested one, in the next idle step
    quiet[0] = False
    sched.run_for(500000)
    if hasattr(gc, "mem_free"):
        assert sched.gc_runs >= 6  # relaxed outside quiet time: at every check
    else:  # CPython has no free-heap figure: only the requested collection
        assert sched.gc_runs == 1


def test_in_place_crc_matches_the_reference_on_every_interpreter():
    from flight.crc16 import CHECK, crc16, crc16_range, crc16_range_py

    buf = bytearray(b"xx123456789yy")
    assert crc16_range(buf, 2, 11) == crc16_range_py(buf, 2, 11) == CHECK
    data = bytes((k * 37 + 11) & 0xFF for k in range(300))
    for a, b in ((0, 0), (0, 1), (5, 160), (0, 300)):
        want = crc16(data[a:b])
        assert crc16_range(data, a, b) == crc16_range_py(data, a, b) == want
    assert crc16_range(data, 10, 20, crc16(data[:10])) == crc16(data[:20])


def feedback_in_track():
    """An app rig whose APT tracks a 4/-3 mrad error, its TM on a SinkLink, and the
    adcs_feedback task's function, run once (first use: the map is made)."""
    from flight import apt as A
    from kit import app_rig

    r = app_rig("apt", err=(0.004, -0.003))
    r.fsm.record = False  # (the fake's own step log would allocate)
    sink = SinkLink()
    r.app.tm.link = sink
    r.app.modes.request("STANDBY")
    r.app.modes.request("SESSION")
    r.app.modes.tick()  # the session sequence starts the APT
    r.until(A.TRACK, 200)
    r.tick(20)
    feedback = r.app.sched.task("adcs_feedback").fn
    feedback()
    return r, sink, feedback


def test_adcs_feedback_task_allocates_nothing_in_track():
    from flight import apt as A

    r, sink, feedback = feedback_in_track()
    w0 = sink.writes
    locked(feedback, 10)
    assert sink.writes == w0 + 10 and r.app.tm.link_errors == 0
    # The values are the float computation's (error_urad: mirror + residual).
    body = cbor.decode(bytes(r.apt._fb.rec.buf))
    from flight import apt_feedback as afb

    ex, ey = afb.error_urad(r.apt)
    fx, fy = r.apt.law.mirror_urad()
    assert abs(body["err_x_urad"] - ex) < 0.1 and abs(body["err_y_urad"] - ey) < 0.1
    assert abs(body["fsm_x_urad"] - fx) < 0.1 and abs(body["fsm_y_urad"] - fy) < 0.1
    assert abs(ex) > 1000 and body["state"] == A.TRACK and body["valid"] == 1
    assert dict((k, r.apt._fb.rec[k]) for k in r.apt._fb.rec) == body


class NoiseLink(SinkLink):
    """A UART receiving line noise: delimited blocks that do not decode, once per read
    while ``on``."""

    def __init__(self, noise):
        super().__init__()
        self.noise = noise
        self.reads = 0

    def read_into(self, buf):
        if self.reads <= 0:
            return 0
        self.reads -= 1
        n = len(self.noise)
        buf[0:n] = self.noise
        return n


def test_tc_task_on_line_noise_allocates_nothing():
    noise = (b"\xf0" + bytes(range(1, 40)) + b"\x00") * 3  # blocks announcing 239 octets
    link = NoiseLink(noise)
    app = _app(link)
    tc = app.sched.task("tc").fn
    link.reads = 2
    tc()
    d0 = app.deframer.decode_errors
    link.reads = 20
    locked(tc, 10)  # two reads a tick
    assert link.reads == 0 and app.deframer.decode_errors == d0 + 60
    assert app.tm.link_errors == 0


def test_copy_kernel_matches_its_twin():
    from flight.cobs import _copy, copy_py

    src = bytes(range(200))
    a = bytearray(64)
    b = bytearray(64)
    _copy(a, 3, src, 100, 50)
    copy_py(b, 3, src, 100, 50)
    assert a == b and a[3:53] == src[100:150] and a[:3] == bytes(3) and a[53:] == bytes(11)
