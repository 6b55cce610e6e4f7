"""On-orbit refinement of the transmitter boresight (issue 14.3; docs/point-ahead.md
"Procedure: transmitter boresight calibration", step 3; docs/design.md §3.8).

The ground-calibrated boresight (``pa_tx_bore_x/y_urad``) is off by the bench's accuracy
plus the launch's and the thermal shifts (~2 µrad per axis): a constant aim error the
camera cannot see, since the beacon loop closes on the camera.  Only the ground station
sees it, as received downlink power.  On ``PA_BORE_SCAN`` the payload adds known trial
deltas to the boresight parameter, dwell by dwell, while the station logs the received
power; the ground fits the correction (``vector-tc bore-fit``) and sets the parameters.

The schedule (the interface with the ground fit, ground_tools/borefit.py): the event
PA_BORE_SCAN_STARTED gives ``t0`` (onboard s), the step ``s`` (µrad), the dwell ``D`` (s)
and the cycles ``N``.  Dwell ``k`` (0 .. 8N−1) covers onboard time
``[t0 + k·D, t0 + (k+1)·D)`` with the trial delta ``PATTERN[k % 8] · s``::

    PATTERN = (+x, −x, −x, +x, +y, −y, −y, +y)

ABBA on each axis: a power drift linear over a cycle (the range closing, the air mass)
cancels in ``ln P(+s) − ln P(−s) = 8 s c / θ²`` (Gaussian beam, paper Eq. 2), ``c`` the
boresight's error along that axis.  The trial changes at the point-ahead task's first
10 Hz tick at or after a dwell's start (≤ 100 ms late): the ground skips a guard time at
each dwell's start.  After the last dwell the trial is zero (PA_BORE_SCAN_DONE).

The scan runs only while the APT tracks: a command in another APT state arms it and it
starts in TRACK (the downlink laser is on only then); leaving TRACK, the session's end or
``PA_BORE_SCAN_STOP`` aborts it (PA_BORE_SCAN_ABORTED with why and the dwells done; the
trial at once zero).  The parameters are never changed here: the ground decides.

Hot path: :meth:`BoreScan.advance` runs inside the point-ahead task's heap-locked tick
(small ints, allocates nothing); the events after, unlocked (:meth:`BoreScan.report`).
No task of its own: the task set and its timing are unchanged.
"""

from flight.cmddict import Busy
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.pointahead_nav import urad_u
from flight.telemetry import HkField as F
from hal.compat import const
from hal.interfaces import APT_TRACK

EV_BORE_SCAN_STARTED = const(0xA8)
EV_BORE_SCAN_DONE = const(0xA9)
EV_BORE_SCAN_ABORTED = const(0xAA)

ST_IDLE = const(0)
ST_ARMED = const(1)  # commanded, waiting for TRACK
ST_SCAN = const(2)
ST_DONE = const(3)
ST_ABORTED = const(4)
STATE_NAMES = ("IDLE", "ARMED", "SCAN", "DONE", "ABORTED")

WHY_TRACK = const(1)  # the APT left TRACK: no beam on the station, the power meaningless
WHY_SESSION = const(2)  # the session ended (or SAFE)
WHY_TC = const(3)  # PA_BORE_SCAN_STOP
WHY_NAMES = ("", "APT left TRACK", "session ended", "stopped by TC")

# Trial per dwell, in steps (dwell k uses PATTERN[k % 8]): ABBA on x, then on y.  The
# schedule's one home: the ground fit (ground_tools/borefit.py) reads it from here.
PATTERN = ((1, 0), (-1, 0), (-1, 0), (1, 0), (0, 1), (0, -1), (0, -1), (0, 1))

_DUE_START = const(1)
_DUE_DONE = const(2)
_DUE_ABORT = const(4)

EVENTS = (
    Event(EV_BORE_SCAN_STARTED, "PA_BORE_SCAN_STARTED", SEV_INFO,
          "transmitter boresight scan started: dwell k covers [t0 + k dwell, t0 + (k+1) "
          "dwell) with the trial (+x -x -x +x +y -y -y +y)[k % 8] x step",
          (("t0", "float"), ("step_urad", "float"), ("dwell_s", "float"), ("cycles", "int"))),
    Event(EV_BORE_SCAN_DONE, "PA_BORE_SCAN_DONE", SEV_INFO,
          "transmitter boresight scan done: the trial is zero; fit it (vector-tc bore-fit)",
          (("dwells", "int"), ("t_end", "float"))),
    Event(EV_BORE_SCAN_ABORTED, "PA_BORE_SCAN_ABORTED", SEV_WARN,
          "transmitter boresight scan aborted (why: 1 APT left TRACK, 2 session ended, 3 by "
          "TC): the trial is zero, the dwells done so far are usable whole cycles",
          (("why", "int"), ("dwells", "int"))),
)

HK_DIAG = (
    F("bs_state", "u8", enum=STATE_NAMES, description="transmitter boresight scan state"),
    F("bs_dwell", "u16", description="boresight scan: the current dwell (0 .. 8 cycles - 1)"),
    F("bs_trial_x", "i16", "urad", 0.01,
      description="boresight scan: trial added to pa_tx_bore_x_urad now"),
    F("bs_trial_y", "i16", "urad", 0.01,
      description="boresight scan: trial added to pa_tx_bore_y_urad now"),
)


class ScanHook:
    """What the point-ahead task reads of a scan: the trial (``tx``/``ty``), advanced each
    tick, its events reported after.  This base, :data:`NO_SCAN`, is no scan (a board or
    rig without :class:`BoreScan`): no trial, nothing to report."""

    tx = ty = 0
    active = False  # armed or scanning: only then does the tick call advance()

    def advance(self, d_ms):
        return 0

    def report(self):
        pass


NO_SCAN = ScanHook()


class BoreScan(ScanHook):
    """Owner ``borescan``: the boresight scan's commands, state and housekeeping.  The
    point-ahead task (flight/pointahead.py) calls :meth:`advance` every tick and adds
    ``tx``/``ty`` (10 nrad, the boresight parameter's units) to the boresight."""

    name = "borescan"

    def __init__(self, ctx, apt):
        self.ctx = ctx
        self.apt = apt
        self.tx = self.ty = 0  # trial delta now, 10 nrad
        self.state = ST_IDLE
        self.dwell = 0  # the current dwell
        self._step = 0  # 10 nrad
        self._dwell_ms = 1000
        self._n = 0  # dwells in the scan
        self._ms = 0  # time since the scan started, ms
        self._why = 0
        self._done_n = 0  # dwells done when aborted
        self._due = 0

    # ------------------------------------------------------------------ commands
    def check_command(self, cmd, args):
        if cmd.name == "PA_BORE_SCAN" and self.state in (ST_ARMED, ST_SCAN):
            raise Busy("a boresight scan is %s" % STATE_NAMES[self.state].lower())

    def cmd_scan(self, args, tc):
        self._step = urad_u(args["step_urad"])
        self._dwell_ms = int(args["dwell_s"] * 1000.0 + 0.5)
        self._n = 8 * args["cycles"]
        self.dwell = 0
        self.state = ST_ARMED
        self.active = True
        return {"armed": True, "tracking": self.apt.state == APT_TRACK,
                "duration_s": self._n * self._dwell_ms / 1000.0}

    def cmd_stop(self, args, tc):
        was = self.state
        if was in (ST_ARMED, ST_SCAN):
            self._abort(WHY_TC)
            self.report()
        return {"stopped": STATE_NAMES[was]}

    # ------------------------------------------------------------------ the tick
    def advance(self, d_ms):
        """``d_ms`` since the last tick: the trial for now (heap locked: ints only).
        Returns non-zero when :meth:`report` has an event to send."""
        st = self.state
        if st == ST_SCAN:
            if self.apt.state != APT_TRACK:
                return self._abort(WHY_TRACK)
            ms = self._ms + d_ms
            self._ms = ms
            k = ms // self._dwell_ms
            if k >= self._n:
                self.state = ST_DONE
                self.active = False
                self.tx = self.ty = 0
                self._due |= _DUE_DONE
                return self._due
            if k != self.dwell:
                self._trial(k)
            return 0
        if st == ST_ARMED and self.apt.state == APT_TRACK:
            self.state = ST_SCAN
            self._ms = 0
            self._trial(0)
            self._due |= _DUE_START
            return self._due
        return 0

    def _trial(self, k):
        """Dwell ``k``'s trial: PATTERN[k % 8] x step (see the module docstring)."""
        self.dwell = k
        px, py = PATTERN[k & 7]  # (a constant tuple's items: nothing allocated)
        self.tx = px * self._step
        self.ty = py * self._step

    def _abort(self, why):
        self._done_n = self.dwell if self.state == ST_SCAN else 0  # whole dwells done
        self.active = False
        self.tx = self.ty = 0
        self._why = why
        self.state = ST_ABORTED
        self._due |= _DUE_ABORT
        return self._due

    def report(self):
        """The events of what :meth:`advance` found (unlocked: they allocate)."""
        due = self._due
        self._due = 0
        emit = self.ctx.emit
        if due & _DUE_START:
            now = self.ctx.now()  # (the tick that set dwell 0's trial: microseconds ago)
            step = self._step / 100.0
            dwell = self._dwell_ms / 1000.0
            emit(EV_BORE_SCAN_STARTED, [now, step, dwell, self._n // 8],
                 "boresight scan: t0 %.3f s, step %.2f urad, dwell %.2f s, %d cycles" % (
                     now, step, dwell, self._n // 8))
        if due & _DUE_DONE:
            emit(EV_BORE_SCAN_DONE, [self._n, self.ctx.now()],
                 "boresight scan done: %d dwells" % self._n)
        if due & _DUE_ABORT:
            n = self._done_n
            emit(EV_BORE_SCAN_ABORTED, [self._why, n],
                 "boresight scan aborted (%s) after %d dwells" % (WHY_NAMES[self._why], n))

    # ------------------------------------------------------------------ session hooks
    def stop_session(self):
        if self.state in (ST_ARMED, ST_SCAN):
            self._abort(WHY_SESSION)
            self.report()

    safe = stop_session

    # ------------------------------------------------------------------ telemetry
    def hk_diag(self, values, i):
        values[i] = self.state
        values[i + 1] = self.dwell
        values[i + 2] = self.tx
        values[i + 3] = self.ty
