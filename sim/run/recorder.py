"""Truth recorder and the flight states seen in telemetry, joined on one time axis.

:class:`Recorder` is the world's observer (``World.recorder``): it samples the simulated
world's own truth at every camera frame (10 ms) and framer window (100 ms).  It knows
nothing of the flight software.

:class:`FlightView` rebuilds the flight software's states from what the OBC received
(sim/run/tmview.py), on the simulated time axis (each boot's onboard time shifted by the
boot's start, which the runner knows because it powers the payload):

* APT state, framer link state and mode from the state-change events (APT_STATE,
  LINK_STATE, MODE_CHANGE): exact instants (events carry onboard time);
* the over-voltage target: the parameter as the OBC knows it (sim/run/tmview.py);
* bias state, comparator state and tracking level from housekeeping (1 Hz): a
  state counts as known between two consecutive reports of the same boot that agree
  (otherwise -1, unknown), so a window is never attributed a state the payload may
  already have left; the level is the last one reported;
* calibration time and scheduler counters from the last housekeeping of each boot.

:meth:`Recorder.join` gives the records the metrics, series and tests read, with the
layouts below (F_* per frame, W_* per window).
"""

from array import array
from bisect import bisect_left, bisect_right

from sim.run.tmview import (
    APT_IDLE,
    APT_STATES,
    LINK_OFF,
    LINK_STATES,
    event_transition,
    param_value,
    state_index,
)

# Joined record layouts (indices).
# F_RX/F_RY: the beacon residual (camera boresight vs the beacon's apparent direction);
# F_AX/F_AY: the aim error (downlink direction vs where it must leave: + transmitter
# boresight offset - point-ahead, hal/sim/world.py aim_error); F_PAX/F_PAY: point-ahead.
# F_JX/F_JY: the platform's jitter part of the line-of-sight error (the rest is coarse).
(F_T, F_RX, F_RY, F_APT, F_FX, F_FY, F_COARSE, F_VIS, F_AX, F_AY, F_PAX, F_PAY, F_JX,
 F_JY) = range(14)
(W_T, W_P, W_CODE, W_BER, W_VOV, W_OK, W_CRC, W_GAPS, W_PRE, W_LINK, W_BSTATE, W_VTARGET,
 W_TDIE, W_VBIAS, W_CSTATE, W_MODE, W_SIGNAL, W_EL, W_CENTER) = range(19)

# An event emitted at the very instant of a frame (no CPU time charged) happened after the
# frame latched: the world steps before the tasks of that instant run.
_EPS_S = 5e-7


class Recorder:
    """World truth per camera frame and per framer window (World.recorder)."""

    def __init__(self):
        self.frames = []  # (t, res_x, res_y, fsm_x, fsm_y, coarse_mag, beacon_visible)
        self.windows = []  # (t, power, code, ber, vov, ok, crc, gaps, pre, t_die, v_bias,
        #                     signal, elevation_deg)
        # 1 kHz aim error (hal/sim/world.py _fine_step): time, x, y
        self.fine_t = array("d")
        self.fine_ax = array("d")
        self.fine_ay = array("d")
        self.enabled = True

    @property
    def enabled(self):
        return self._enabled

    @enabled.setter
    def enabled(self, on):
        # ``fine`` runs ~1,000 times per simulated second: the instance attribute is the
        # recording function itself (bound appends) or a no-op once the pass has ended.
        self._enabled = bool(on)
        if on:
            at = self.fine_t.append
            ax_ = self.fine_ax.append
            ay_ = self.fine_ay.append

            def fine(t, ax, ay):
                at(t)
                ax_(ax)
                ay_(ay)
        else:
            def fine(t, ax, ay):
                pass
        self.fine = fine  # fine(t, ax, ay): one 1 kHz aim-error sample

    def frame(self, w):
        if not self._enabled:
            return
        p = w.platform
        f = w.fsm_model
        rx = p.err_x - f.theta_x
        ry = p.err_y - f.theta_y
        ax, ay = w.aim_error(rx, ry)
        pa = w.point_ahead
        self.frames.append((w.t, rx, ry, f.theta_x, f.theta_y, p.coarse_error_mag(),
                            w.beacon_visible(), ax, ay, pa[0], pa[1], p.jit_x, p.jit_y))

    def window(self, w, c):
        if not self._enabled:
            return
        self.windows.append((w.t, w.power_w, w.comparator.code(), w.ber_true, w.overvoltage(),
                             c["ok"] if c else 0, c["crc_errors"] if c else 0,
                             c["gaps"] if c else 0, c["preamble_bit_errors"] if c else 0,
                             w.thermal.temperature(), w.bias.volts(), w.signal,
                             w.elevation_deg()))

    def join(self, view):
        """The records with the flight states of ``view`` (a :class:`Joined`)."""
        frames = []
        apt = view.apt
        for t, rx, ry, fx, fy, coarse, vis, ax, ay, pax, pay, jx, jy in self.frames:
            frames.append((t, rx, ry, apt.before(t), fx, fy, coarse, vis, ax, ay, pax, pay,
                           jx, jy))
        windows = []
        for r in self.windows:
            t = r[0]
            windows.append(r[:9] + (view.link.before(t), view.bias_state.at(t),
                                    view.vov_target, r[9], r[10],
                                    view.comp_state.at(t), view.mode.before(t), r[11], r[12],
                                    view.center.last(t)))
        fine_apt = array("b", apt.before_each(self.fine_t))
        return Joined(frames, windows, (self.fine_t, self.fine_ax, self.fine_ay, fine_apt))


class Joined:
    def __init__(self, frames, windows, fine=None):
        self.frames = frames
        self.windows = windows
        # (t, aim x, aim y, APT state) arrays at 1 kHz; empty in the idealised world
        self.fine = fine


class Steps:
    """A step function of simulated time built from change points (t, value)."""

    def __init__(self, default=-1):
        self.t = []
        self.v = []
        self.default = default

    def add(self, t, v):
        """A change point; kept in time order (a later boot's start is added before the
        earlier boot's events: FlightView), after any point at the same instant."""
        if self.t and t < self.t[-1]:
            i = bisect_right(self.t, t)
            self.t.insert(i, t)
            self.v.insert(i, v)
            return
        self.t.append(t)
        self.v.append(v)

    def before(self, t):
        """The value set strictly before ``t`` (event semantics)."""
        i = bisect_left(self.t, t - _EPS_S)
        return self.v[i - 1] if i > 0 else self.default

    def before_each(self, ts):
        """``[before(t) for t in ts]`` for the 1 kHz samples (~350,000 a pass): one walk
        while ``ts`` is in time order (the change points always are: :meth:`add`)."""
        st = self.t
        n = len(st)
        v = self.v
        d = self.default
        out = []
        put = out.append
        i = 0
        q_last = None
        for t in ts:
            q = t - _EPS_S
            if q_last is not None and q < q_last:  # out of order: search from scratch
                i = bisect_left(st, q)
            else:
                while i < n and st[i] < q:  # bisect_left's index: the points below q
                    i += 1
            q_last = q
            put(v[i - 1] if i > 0 else d)
        return out


class HkSamples:
    """Values reported in housekeeping: (t, boot, value) in arrival order."""

    def __init__(self, default=-1):
        self.t = []
        self.boot = []
        self.v = []
        self.default = default

    def add(self, t, boot, v):
        self.t.append(t)
        self.boot.append(boot)
        self.v.append(v)

    def at(self, t):
        """The value when the reports before and after ``t`` agree (same boot), else default."""
        i = bisect_right(self.t, t)
        if i == 0 or i >= len(self.t):
            return self.default
        a, b = i - 1, i
        if self.boot[a] != self.boot[b] or self.v[a] != self.v[b]:
            return self.default
        return self.v[a]

    def last(self, t):
        """The last value reported at or before ``t`` (None before any)."""
        i = bisect_right(self.t, t)
        return self.v[i - 1] if i > 0 else None


_KNEE_EVENTS = ("BIAS_KNEE_SWEEP", "BIAS_KNEE_CALIBRATED", "BIAS_KNEE_REFUSED",
                "BIAS_KNEE_ABORTED")


class FlightView:
    """The flight software's states as the OBC saw them (module docstring)."""

    def __init__(self, obc, boot_times, t_end):
        self.boot_times = list(boot_times)
        self.apt = Steps()
        self.link = Steps()
        self.mode = Steps(default=None)
        for t0 in self.boot_times:  # every boot starts with the APT idle and the link off
            self.apt.add(t0, APT_IDLE)
            self.link.add(t0, LINK_OFF)
            self.mode.add(t0, None)
        evs = []
        # The SiPM breakdown sweep (flight/bias_knee.py): the bias is off its target on
        # purpose from its start event to its end event.
        self.knee = Steps(default=0)
        for _t_rx, boot, ev in obc.events:
            t = self.onboard_to_sim(boot, ev.get("time"))
            name = ev.get("name")
            if t is not None and name in _KNEE_EVENTS:
                self.knee.add(t, 1 if name == "BIAS_KNEE_SWEEP" else 0)
            tr = event_transition(ev)
            if t is None or tr is None:
                continue
            evs.append((t, ev.get("name"), tr[1]))
        evs.sort(key=lambda e: e[0])
        for t, name, new in evs:
            if name == "APT_STATE":
                self.apt.add(t, state_index(APT_STATES, new))
            elif name == "LINK_STATE":
                self.link.add(t, state_index(LINK_STATES, new))
            elif name == "MODE_CHANGE":
                self.mode.add(t, new)
        self.bias_state = HkSamples()
        self.comp_state = HkSamples()
        self.vov_target = param_value("bias_vov_v")
        self.center = HkSamples(default=None)
        self.cal_duration_s = None
        last = {}  # boot -> scheduler rows of its last housekeeping
        for _t_rx, boot, h in obc.hk:
            t = self.onboard_to_sim(boot, h.get("time"))
            if t is None:
                continue
            self.bias_state.add(t, boot, h["bias_state"])
            self.comp_state.add(t, boot, h["comp_state"])
            self.center.add(t, boot, h["comp_center"])
            if self.cal_duration_s is None and h.get("comp_cal_duration_s") is not None:
                self.cal_duration_s = h["comp_cal_duration_s"]
            last[boot] = h["sched"]
        self.deadline_misses = sum(r[2] for rows in last.values() for r in rows)
        self.task_faults = sum(r[3] for rows in last.values() for r in rows)
        self.boots = len(self.boot_times)

    def onboard_to_sim(self, boot, t_onboard):
        if t_onboard is None or not self.boot_times:
            return None
        return self.boot_times[min(boot, len(self.boot_times) - 1)] + t_onboard
