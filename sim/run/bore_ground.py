"""The ground station's side of the on-orbit transmitter boresight scan in a simulated pass
(docs/point-ahead.md "Procedure: transmitter boresight calibration", step 3).

With the scenario key ``bore_scan`` (a dict; ``python -m sim --bore-scan``) the pass runner
plays the station operator: once the APT has tracked for ``after_track_s`` it sends
``PA_BORE_SCAN`` (``step_urad``, ``dwell_s``, ``cycles``); the station's power meter
(sim/ogs_power.py: link budget, the true aim error, scintillation) logs the downlink
during the scan; at PA_BORE_SCAN_DONE the operator fits the log with the ground tool's
own function (ground_tools/borefit.py, what ``vector-tc bore-fit`` runs) and, when the fit
is accepted, sends the corrected ``pa_tx_bore_x/y_urad`` (PARAM_SET, then PARAM_SAVE).
With ``retry_cycles`` (the commissioning pass's operator, sim/run/commission.py) a refused
fit is not the end: the operator repeats the scan once with that many cycles, as the fit's
reason says (too noisy: more cycles; within the noise: a longer scan resolves a smaller
correction), and fits the repeat on its own.

The outcome (``result``) goes to the pass's metrics (sim/run/metrics.py ``bore_*``): the
boresight parameter's error against the unit's truth before and after, the fit, and the
scan's window (the aim is off on purpose there: the residual figures leave it out; with
a repeat, from the first scan's start to the repeat's end).
"""

import bisect
import math

from flight.cmddict import BY_NAME
from sim.run.obcnav import boresight_truth_urad
from sim.run.tmview import APT_STATES

OP_PA_BORE_SCAN = BY_NAME["PA_BORE_SCAN"].opcode
OP_PARAM_SET = BY_NAME["PARAM_SET"].opcode
OP_PARAM_SAVE = BY_NAME["PARAM_SAVE"].opcode
_TRACK = APT_STATES.index("TRACK")

# The operator's defaults (docs/point-ahead.md): 20 µrad trials (-0.76 dB on the downlink
# while they last, Eq. 2 at 67.6 µrad), 1 s dwells, 8 cycles (64 s: the scintillation's
# noise falls with the scan's length, not with the dwell's; 8 cycles give the standard
# error 7 degrees of freedom, 4 swung by 3x between meter seeds), 20 s of TRACK first
# (the acquisition's ADCS offload settled).  ``retry_cycles`` 0: a refused fit is final.
DEFAULTS = {"after_track_s": 20.0, "step_urad": 20.0, "dwell_s": 1.0, "cycles": 8,
            "guard_s": 0.2, "meter_seed": 7, "retry_cycles": 0}


class BoreScanGround:
    """The simulated operator and power meter of one pass (:meth:`tick` every runner
    step)."""

    def __init__(self, world, obc, boot_times, bore_urad, spec):
        self.world = world
        self.obc = obc
        self.boot_times = boot_times
        self.spec = dict(DEFAULTS)
        self.spec.update(spec if isinstance(spec, dict) else {})
        self.bore = list(bore_urad)  # the parameters in force (what the runner set)
        truth = boresight_truth_urad(world)
        self.truth = truth
        self.result = {"result": None, "error_before_urad": _norm(self.bore, truth),
                       "error_after_urad": None, "fit": None, "window_s": None,
                       "scans": 0, "refused_fits": []}
        self._cycles = int(self.spec["cycles"])  # of the next scan
        self._retry = int(self.spec["retry_cycles"])  # cycles of the repeat (0: none)
        self._track_since = None
        self._sent = None  # the boot the scan was commanded in (None: not yet)
        self._start = None  # (boot, PA_BORE_SCAN_STARTED's args)
        self._ev = 0  # events looked at

    def tick(self, t):
        """World time ``t``: start the scan when due, fit it when done."""
        if self.result["result"] is not None:
            return
        if self._sent is None:
            hk = self.obc.latest_hk()
            if hk is None or hk.get("apt_state") != _TRACK:
                self._track_since = None
                return
            if self._track_since is None:
                self._track_since = t
            if t - self._track_since >= self.spec["after_track_s"]:
                s = self.spec
                self.obc.send(t, OP_PA_BORE_SCAN, {"step_urad": float(s["step_urad"]),
                                                   "dwell_s": float(s["dwell_s"]),
                                                   "cycles": self._cycles})
                self._sent = self.obc.boot
                self.result["scans"] += 1
            return
        if self.obc.boot != self._sent:  # the payload rebooted: the scan went with it
            self.result["result"] = "ABORTED"
            return
        evs = self.obc.events
        while self._ev < len(evs):
            _t, boot, e = evs[self._ev]
            self._ev += 1
            name = e.get("name")
            if name == "PA_BORE_SCAN_STARTED":
                self._start = (boot, e.get("args"))
            elif name == "PA_BORE_SCAN_DONE":
                if self._start is None:  # (its start event never came: no schedule)
                    self.result["result"] = "ABORTED"
                    return
                self._fit(t, boot)
            elif name == "PA_BORE_SCAN_ABORTED":
                self.result["result"] = "ABORTED"

    def _fit(self, t, _boot):
        """The station's log of the scan → the ground tool's fit → the parameters."""
        from ground_tools import borefit
        from sim.ogs_power import PowerMeter

        sboot, (t0, step, dwell, cycles) = self._start
        off = self.boot_times[sboot]  # onboard time + off = world time
        w0 = t0 + off
        w1 = w0 + 8 * cycles * dwell
        rec = self.world.recorder
        ts = rec.fine_t
        i0 = bisect.bisect_left(ts, w0)
        i1 = bisect.bisect_left(ts, w1)
        meter = PowerMeter(self.world, self.spec["meter_seed"])
        tw, pw = meter.samples(ts[i0:i1], rec.fine_ax[i0:i1], rec.fine_ay[i0:i1])
        fit = borefit.fit([x - off for x in tw], list(pw), t0, step, dwell, cycles,
                          guard_s=self.spec["guard_s"])
        self.result["fit"] = fit
        first = self.result["window_s"]
        self.result["window_s"] = (first[0] if first else w0, w1)
        if not fit["accepted"]:
            if self._retry:  # the repeat: sent at the next tick (TRACK held since before)
                self.result["refused_fits"].append(fit)
                self._cycles = self._retry
                self._retry = 0
                self._sent = None
                self._start = None
                return
            self.result["result"] = "REFUSED"
            return
        new = [self.bore[0] + fit["dx_urad"], self.bore[1] + fit["dy_urad"]]
        for name, v in (("pa_tx_bore_x_urad", new[0]), ("pa_tx_bore_y_urad", new[1])):
            self.obc.send(t, OP_PARAM_SET, {"name": name, "value": v})
        self.obc.send(t, OP_PARAM_SAVE, None)
        self.bore = new
        self.result["result"] = "ACCEPTED"
        self.result["error_after_urad"] = _norm(new, self.truth)


def _norm(a, b):
    return math.hypot(a[0] - b[0], a[1] - b[1])
