"""The tc task under a TC flood, on every interpreter (VM, unix port, M7 image): its work
per run is bounded by frames AND by the task's own time, the time counted as the
scheduler charges it (issue 11: on a clock whose ``now_us`` does not move inside a task
— the target bench's, charging the measured CPU after the task — the time bound never
fired); and garbage that decodes as COBS is rejected with the heap locked (0 bytes).

Time is a fake CPU counter installed as the clock's ``cpu_now_us`` (as hal/sim/world.py
installs the flight CPU), moved by the work the test wraps: no wall clock anywhere."""

from flight import cobs
from flight.app import FlightApp
from flight.keys import DEV_KEY_ID, Keyring
from flight.tc import encode_tc
from flight.tm import APID_EVENT
from hal.clock import VirtualClock
from hal.interfaces import Board
from hal.sim.power import SimPower
from hal.sim.storage import MemStorage
from hal.sim.watchdog import SimWatchdog
from sim.rng import Rng

try:
    import micropython
except ImportError:  # CPython: nothing to lock
    micropython = None

FORGED_KEY = bytes(range(100, 132))  # not the board's key: every frame is AUTH


class _Link:
    """The OBC link of these tests: reads copy out of a preallocated buffer octet by
    octet (hal/sim/link.py's MemLink slices: it allocates, and the garbage test holds
    the heap lock over a whole tick); what the payload sends is counted and dropped."""

    def __init__(self):
        self._rx = bytearray(4096)
        self._n = 0
        self._p = 0
        self.tx_bytes = 0

    def init(self):
        pass

    def inject(self, data):
        n = self._n
        assert n + len(data) <= len(self._rx)
        self._rx[n:n + len(data)] = data
        self._n = n + len(data)

    def rx_pending(self):
        return self._n - self._p

    def read_into(self, buf):
        p = self._p
        n = min(len(buf), self._n - p)
        rx = self._rx
        i = 0
        while i < n:
            buf[i] = rx[p + i]
            i += 1
        self._p = p + n
        return n

    def write(self, data):
        self.tx_bytes += len(data)
        return len(data)

    def take(self):
        return b""


def _app():
    clock = VirtualClock()
    board = Board(link=_Link(), storage=MemStorage(), power=SimPower(),
                  watchdog=SimWatchdog(clock), clock=clock, name="mpy")
    app = FlightApp(board, keyring=Keyring())
    app.boot()
    app._drain_events(1000)
    board.link.take()
    # The target bench's clock: CPU charged after the task (virtual now_us frozen inside
    # it) at cpu_scale board µs per counted µs; the counter is the test's.
    cpu = [0]
    clock.charge_cpu = True
    clock.cpu_scale = 10.0
    clock.cpu_now_us = lambda: cpu[0]
    app.limits.budget.clock = clock  # as the target bench hands it its charging clock
    return app, board, cpu


def _forged(n):
    out = bytearray()
    for i in range(n):
        out.extend(cobs.encode(encode_tc(FORGED_KEY, DEV_KEY_ID, 1000 + i, 1, {}, seq=i)))
        out.append(0)
    return bytes(out)


def _count_calls(app, cpu, us_each):
    n = [0]
    process = app._process_tc

    def counted(pkt):
        n[0] += 1
        cpu[0] += us_each
        return process(pkt)

    app._process_tc = counted
    return n


def test_tc_tick_bounded_by_time_on_a_charged_clock():
    app, board, cpu = _app()
    b = app.limits.budget
    TICK_US = b.max_us
    # each forged frame costs 50 counted µs = 500 board µs: the tick's time (max_us) is
    # spent after max_us / 500 frames (rounded up), well before the frame bound
    n = _count_calls(app, cpu, 50)
    board.link.inject(_forged(20))
    app._task_tc()
    k = -(-TICK_US // 500)
    assert b.max_frames > k
    assert n[0] == k, n[0]
    # the tick stopped: the frames of its read wait in the backlog, the rest in the UART
    assert b.pending() >= 1 and b.dropped == 0 and board.link.rx_pending() > 0
    assert app.tc.rejected["AUTH"] == n[0]
    app._task_tc()  # the next tick takes the backlog first, within its own bound
    assert n[0] == 2 * k, n[0]


def test_tc_tick_bounded_by_frames_when_frames_cost_no_time():
    app, board, cpu = _app()
    n = _count_calls(app, cpu, 0)
    board.link.inject(_forged(20))
    app._task_tc()
    assert n[0] == app.limits.budget.max_frames, n[0]


def test_event_drain_bounded_by_the_tick_time():
    app, board, cpu = _app()
    TICK_US = app.limits.budget.max_us
    send = app.tm.send
    sent = [0]

    def slow_send(apid, body):
        sent[0] += 1
        cpu[0] += 100  # 1000 board µs an event
        return send(apid, body)

    app.tm.send = slow_send
    for i in range(10):
        app.emit(0x25, [i], "uart: test")  # UART_ERROR: any event does
    app._task_tc()
    # tm_events_per_tick (4) would allow 4; the time: until TICK_US is spent
    k = -(-TICK_US // 1000)
    assert app.params["tm_events_per_tick"] > k
    assert sent[0] == k, sent[0]
    app._task_tc()
    assert sent[0] == 2 * k, sent[0]


def _cobs_garbage(rng, frames):
    """Frames that decode as COBS (each a COBS encoding of random octets) but are no TC:
    the deframer completes every one (a flood of line noise mostly does not decode; these
    are the frames that used to become a ``bytes`` object each)."""
    out = bytearray()
    for _ in range(frames):
        n = 8 + rng.randbelow(60)
        p = bytearray(n)
        for i in range(n):
            p[i] = rng.randbelow(256)
        out.extend(cobs.encode(bytes(p)))
        out.append(0)
    return bytes(out)


def test_garbage_flood_tick_allocates_nothing():
    app, board, cpu = _app()
    rng = Rng(11)
    # The interval's individual reports and its first offender: made before the lock
    board.link.inject(_cobs_garbage(rng, 12))
    app._task_tc()
    app._drain_events(1000)
    board.link.take()
    rej0 = app.tc.rejected["LENGTH"] + app.tc.rejected["CRC"] + app.tc.rejected["HEADER"]
    fr0 = app.deframer.frames
    wire = _cobs_garbage(rng, 6)  # 6 frames, two reads of the tick
    assert len(wire) <= 1024
    board.link.inject(wire)
    if micropython is not None:
        micropython.heap_lock()
    try:
        app._task_tc()
    finally:
        if micropython is not None:
            micropython.heap_unlock()
    rej = app.tc.rejected["LENGTH"] + app.tc.rejected["CRC"] + app.tc.rejected["HEADER"]
    assert app.deframer.frames - fr0 == 6
    assert rej - rej0 == 6  # each counted (summarised: TC_REJECTIONS)
    assert app.limits.budget.pending() == 0


def test_screen_passes_candidates_and_reported_rejections():
    app, board, cpu = _app()
    tc = app.tc
    good = encode_tc(FORGED_KEY, DEV_KEY_ID, 1, 1, {}, seq=1)
    buf = bytearray(64)
    buf[:len(good)] = good
    assert tc.screen(buf, len(good)) is False  # a candidate: verified by process()
    short = b"\x18\x00\x00\x00"
    buf[:4] = short
    # the interval's first rejections get their report (with detail): not taken
    assert tc.screen(buf, 4) is False
    for _ in range(8):
        tc.process(short)
    n0 = tc.rejected["LENGTH"]
    assert tc.screen(buf, 4) is True and tc.rejected["LENGTH"] == n0 + 1


def test_a_tick_whose_frames_spent_its_time_leaves_its_events_to_the_next():
    # A frame begun at the budget's end (a MAC: ~160 k instructions) and an event after
    # it (~100-200 k) made tc runs of 550-630 k under the target bench's flood, over half
    # the APT period: such a tick now sends no event, and the next sends one first.
    app, board, cpu = _app()
    TICK_US = app.limits.budget.max_us
    n = _count_calls(app, cpu, 50)  # 500 board µs a frame
    send = app.tm.send
    sent = []

    def slow_send(apid, body):
        if apid == APID_EVENT:  # (the rejections' reports are frames' work)
            sent.append(n[0])  # the frames processed before this event
            cpu[0] += 100  # 1000 board µs an event
        return send(apid, body)

    app.tm.send = slow_send
    app.emit(0x25, [1], "uart: test")  # an event waiting
    board.link.inject(_forged(20))
    app._task_tc()
    k = -(-TICK_US // 500)
    assert n[0] == k and sent == []  # frames to the budget's end, then no event
    assert app._events_owed
    app._task_tc()
    # the next tick: the owed event first (1000 µs), then frames in what is left
    assert sent and sent[0] == k, sent
    assert n[0] == k + -(-(TICK_US - 1000) // 500), n[0]
    assert not app._events_owed or app.events.pending() > 0
    # without frames, the events go as before: within the tick's time
    board2_app, board2, cpu2 = _app()
    sent2 = []
    s2 = board2_app.tm.send

    def slow2(apid, body):
        if apid == APID_EVENT:
            sent2.append(1)
            cpu2[0] += 100
        return s2(apid, body)

    board2_app.tm.send = slow2
    for i in range(5):
        board2_app.emit(0x25, [i], "uart: test")
    board2_app._task_tc()
    assert len(sent2) == -(-TICK_US // 1000) and not board2_app._events_owed
