"""The health task's limit check (flight/limits.py) on every interpreter: which limit
trips, with what cause, after how many checks (its parameters are read once a check)."""

from flight.limits import LimitCheck
from flight.modes import EV_LIMIT_VIOLATION


class Temp:
    def __init__(self, t):
        self.t = t

    def read_c(self):
        if self.t is None:
            raise OSError("no sensor")
        return self.t


class Power:
    def __init__(self):
        self.on = [True] * 5
        self.tripped = [False] * 5
        self.ma = [100] * 5

    def get(self, sw):
        return self.on[sw]

    def fault(self, sw):
        return self.tripped[sw]

    def trips(self):
        return sum(1 << i for i in range(5) if self.on[i] and self.tripped[i])

    def currents(self, buf):
        for i in range(5):
            buf[i] = self.ma[i] if self.on[i] else 0


class Board:
    def __init__(self, temps):
        self.temps = temps
        self.power = Power()


class Modes:
    def __init__(self):
        self.mode = "SESSION"
        self.causes = []

    def enter_safe(self, cause):
        self.mode = "SAFE"
        self.causes.append(cause)


class Thermal:
    """The bias's sensor selection as the limit reads it (flight/thermal_sensors.py):
    excluded by the cross-check, rejected by the plausibility check (1), the plausible
    range (None: no bias update yet)."""

    def __init__(self, excluded, rejected=None, lo_c=None, hi_c=None):
        self.excluded = excluded
        self.rejected = bytearray(rejected if rejected is not None else len(excluded))
        self.lo_c = lo_c
        self.hi_c = hi_c


PARAMS = {"temp_max_c": 60.0, "temp_min_c": -20.0, "current_max_ma": 800,
          "limit_persist": 3}


def _check(temps, excluded=None, rejected=None, plausible=(None, None)):
    board = Board([Temp(t) for t in temps])
    modes = Modes()
    events = []
    lc = LimitCheck(board, PARAMS, modes, lambda ev, args, detail: events.append((ev, detail)))
    if excluded is not None:
        lc.thermal = Thermal(excluded, rejected, plausible[0], plausible[1])
    return lc, board, modes, events


def test_limits_hold_then_a_persistent_temperature_trips_safe_with_its_cause():
    lc, board, modes, events = _check([25.0, 26.0])
    for _ in range(10):
        lc.check()
    assert modes.causes == [] and events == [] and lc.violations == 0
    board.temps[1].t = 61.5
    lc.check()
    lc.check()
    assert modes.causes == []  # two checks: not yet persistent
    lc.check()
    assert modes.causes == ["limit: temperature 1: 61.5 degC"]
    assert events == [(EV_LIMIT_VIOLATION, "temperature 1: 61.5 degC")] and lc.violations == 1
    board.temps[1].t = -25.0
    modes.mode = "STANDBY"
    for _ in range(3):
        lc.check()
    assert modes.causes[-1] == "limit: temperature 1: -25.0 degC"


def test_tripped_switch_comes_before_currents_and_the_last_current_over_names_the_cause():
    lc, board, modes, _ = _check([25.0])
    board.power.ma[1] = 900
    board.power.ma[3] = 850
    for _ in range(3):
        lc.check()
    assert modes.causes == ["limit: switch 3 current 850 mA"]
    lc2, board2, modes2, _ = _check([25.0])
    board2.power.ma[4] = 5000
    board2.power.tripped[2] = True
    for _ in range(3):
        lc2.check()
    assert modes2.causes == ["limit: switch 2 tripped"]
    board2.power.on[2] = False  # an open switch is not tripped
    board2.power.ma[4] = 100
    modes2.mode = "SESSION"
    for _ in range(5):
        lc2.check()
    assert len(modes2.causes) == 1


def test_the_first_switch_tripped_names_the_cause_and_a_bad_trip_mask_is_no_trip():
    lc, board, modes, _ = _check([25.0])
    board.power.tripped[4] = True
    board.power.tripped[1] = True
    for _ in range(3):
        lc.check()
    assert modes.causes == ["limit: switch 1 tripped"]  # the lowest of the two
    lc2, board2, modes2, _ = _check([25.0])
    for bad in (1 << 7, -32):  # bits of no switch: nothing tripped
        board2.power.trips = lambda bad=bad: bad
        for _ in range(3):
            lc2.check()
    assert modes2.causes == [] and lc2.monitor_errors == 0
    for bad in ("x", None):  # no mask at all: the monitor unreadable (stop 58), not "no trip"
        lc3, board3, modes3, _ = _check([25.0])
        board3.power.trips = lambda bad=bad: bad
        for _ in range(3):
            lc3.check()
        assert modes3.causes == ["limit: power monitor unreadable (trips)"]
        assert lc3.monitor_errors == 3


def test_an_excluded_sensor_counts_only_without_another_reading():
    lc, board, modes, _ = _check([25.0, 90.0], excluded=[False, True])
    for _ in range(5):
        lc.check()
    assert modes.causes == []  # the excluded sensor's 90 degC is not trusted
    board.temps[0].t = None  # the trusted one cannot be read: the excluded one counts
    for _ in range(3):
        lc.check()
    assert modes.causes == ["limit: temperature 1 (excluded, no other reading): 90.0 degC"]


def test_a_rejected_sensor_counts_only_without_another_reading():
    # Sensor 1 failed the bias's plausibility check (200 degC): not trusted while sensor 0
    # reads; the trusted sensor still guards the limit.  Before: SAFE for sensor 1.
    lc, board, modes, _ = _check([25.0, 200.0], excluded=[False, False], rejected=[0, 1])
    for _ in range(5):
        lc.check()
    assert modes.causes == [] and lc.violations == 0
    board.temps[0].t = 61.0
    for _ in range(3):
        lc.check()
    assert modes.causes == ["limit: temperature 0: 61.0 degC"]
    # both doubtful (the plausibility check rejects both over its range): read after all
    lc2, board2, modes2, _ = _check([150.0, 200.0], excluded=[False, True], rejected=[1, 0])
    for _ in range(3):
        lc2.check()
    assert modes2.causes == ["limit: temperature 1 (excluded, no other reading): 200.0 degC"]
    board2.temps[1].t = None
    modes2.mode = "SESSION"
    for _ in range(3):
        lc2.check()
    assert modes2.causes[-1] == "limit: temperature 0 (rejected, no other reading): 150.0 degC"


def test_a_reading_out_of_the_plausible_range_is_doubted_before_the_bias_rejects_it():
    # The bias rejects it at its next update (500 ms): three checks (300 ms) could trip
    # SAFE first.  Out of the plausible range it is doubted at once, counted only alone.
    lc, board, modes, _ = _check([25.0, 200.0], excluded=[False, False],
                                 plausible=(-50.0, 100.0))
    for _ in range(5):
        lc.check()
    assert modes.causes == []
    board.temps[0].t = None  # no trusted reading: the implausible one counts after all
    for _ in range(3):
        lc.check()
    assert modes.causes == ["limit: temperature 1 (implausible, no other reading): 200.0 degC"]
