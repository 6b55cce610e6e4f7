"""A commissioned unit: the pass flown after the unit's commissioning pass
(``python -m sim --commissioned``, ``python -m sim.campaign --commissioned``; issue 14,
docs/simulator.md "A commissioned unit").

Every other pass the simulator flies is the unit's first: its transmitter boresight as
calibrated on the ground (2 µrad per axis off, sim/run/obcnav.py) and its SiPM's k_T the
family's default (the unit ~1 mV/K off, sim/calib.py).  The on-orbit calibrations of
issue 14 exist to remove those errors once, in commissioning, for every pass after it.
This module flies that procedure for the same unit (the same seed: sim/calib.py draws the
unit's truth from it) and hands the measured pass what the payload kept of it — its saved
parameter table, nothing else (no truth, no simulator state):

1. A commissioning pass, planned as the operator procedures say: a clear pass at
   :data:`PASS_ELEVATION_DEG` (docs/point-ahead.md "Step 3": the boresight scan in a
   clear pass, away from the lowest elevations), the platform's own jitter, coarse error
   and mirror latency (they belong to the satellite, not to the pass).  The station flies
   the boresight scan (sim/run/bore_ground.py: fit, PARAM_SET, PARAM_SAVE when accepted).
   ``APT_FSM_CALIBRATE`` is armed at the session's start (docs/fsm-calibration.md
   "Procedure for a new unit": it runs ~8 s into TRACK, 10.3 s of mirror steps; the scan
   waits :data:`SCAN_AFTER_TRACK_S` so the two do not overlap).  The session is kept
   :data:`END_MARGIN_S` after the 20° set — past the station's uplink going off at 18° — and the OBC commands ``BIAS_KNEE_CALIBRATE`` in that dark,
   the die now 10–15 K warmer than at the session's first knee: the two dark knees give
   the unit's k_T (flight/bias_kt.py; docs/calibration.md "Commissioning"); the station
   reads the line-of-sight jitter the pass measured (HK_DIAG ``apt_los_jitter``,
   flight/apt_jitter.py) and sets the unit's ``apt_kf_noise_urad`` from it with the
   ground tool's own rule (ground_tools/noise_design.py, what ``vector-tc kf-noise`` runs;
   a refused design sends nothing); then ``PARAM_SAVE``.  (Tracking knees, the in-pass alternative, read the noise with the
   uplink on: their breakdown lies ~10 mV below a dark knee's, and a line through a dark
   first knee and light later ones came out 1–3 mV/K low — measured, docs/calibration.md.)
2. The measured pass boots with the parameter table's blobs (``params.a``/``.b``) of the
   commissioning pass's flash; the OBC does not upload the ground boresight again (the
   saved one is the scan's).

What the commissioning pass measured goes to the metrics under ``commission_*``
(sim/run/metrics.py).
"""

from flight.cmddict import BY_NAME
from ground_tools.noise_design import design as noise_design
from ground_tools.plan import DARK_KNEE_AFTER_UPLINK_S
from hal.sim.storage import MemStorage
from sim.run.metrics import fsm_calibration

OP_KNEE = BY_NAME["BIAS_KNEE_CALIBRATE"].opcode
OP_FSM_CAL = BY_NAME["APT_FSM_CALIBRATE"].opcode
OP_PARAM_SAVE = BY_NAME["PARAM_SAVE"].opcode
OP_PARAM_SET = BY_NAME["PARAM_SET"].opcode

# Assumed (operator's choice, docs/point-ahead.md "Step 3"): a clear 70° pass.
PASS_ELEVATION_DEG = 70.0
# The session kept after the 20° set: the uplink goes off at 18° (12.8 s later on a 70°
# pass), then 1 s, the dark knee (~1.2 s), its hindsight (1-1.5 s later,
# flight/bias_kt.py) and a margin.
END_MARGIN_S = 18.0
KNEE_AFTER_UPLINK_S = DARK_KNEE_AFTER_UPLINK_S  # (as `vector-tc plan --dark-knee` plans it)
# The boresight scan after the FSM calibration (~8-18.3 s into TRACK) is over.
SCAN_AFTER_TRACK_S = 30.0
# A refused scan repeated once with twice the cycles (docs/point-ahead.md "Step 3": in
# commissioning the link's data can wait; 30 + 64 + 128 s of TRACK, inside the 70° pass's
# ~300 s): 12 of the 40 units of the campaign (--seed 11) had their single scan refused.
SCAN_RETRY_CYCLES = 16
# The unit's and the platform's own properties: kept from the measured pass's draw.
UNIT_KEYS = ("jitter_rms_urad", "coarse_error_deg", "fsm_latency_us", "frame_rate_hz",
             "reaction_wheels", "obc_wheels", "thermal", "tick_send_us")
# The flight's parameter table on the flash (flight/params.py, flight/slotstore.py).
PARAM_BLOBS = ("params.a", "params.b")


def commissioning_overrides(overrides):
    """The commissioning pass's overrides from the measured pass's."""
    ov = {k: v for k, v in (overrides or {}).items() if k in UNIT_KEYS}
    ov.update({"weather": "clear", "max_elevation_deg": PASS_ELEVATION_DEG,
               "bore_scan": {"after_track_s": SCAN_AFTER_TRACK_S,
                             "retry_cycles": SCAN_RETRY_CYCLES},
               "end_margin_s": END_MARGIN_S})
    return ov


def plan(world, t_session, t_end_session, obc):
    """The OBC's extra commands of the commissioning pass: (time, opcode, args): the FSM
    calibration armed, the dark knee once the station's uplink is off, the design's
    centroid noise from the measured jitter and PARAM_SAVE after the session."""
    # (the pass is symmetric: it sets from 20° to the beacon's elevation as it climbed)
    uplink_off = world.pass_start + world.duration_s + world.pass_.climb_s(world.beacon_min_el)
    return [(t_session + 0.5, OP_FSM_CAL, None),
            (uplink_off + KNEE_AFTER_UPLINK_S, OP_KNEE, None),
            (t_end_session + 0.3, OP_PARAM_SET, lambda: noise_param(obc)),
            (t_end_session + 0.5, OP_PARAM_SAVE, None)]


def jitter_design(hk):
    """The ground tool's design (ground_tools/noise_design.py) from a housekeeping dict's
    ``apt_los_jitter``/``_n``; None without them (no HK_DIAG of this boot yet)."""
    if not hk or hk.get("apt_los_jitter") is None:
        return None
    return noise_design(float(hk["apt_los_jitter"]), int(hk["apt_los_jitter_n"]))


def noise_param(obc):
    """PARAM_SET's arguments for the unit's ``apt_kf_noise_urad``, or None (refused, or
    no measurement: nothing sent)."""
    d = jitter_design(obc.latest_hk())
    if d is None or not d["accepted"]:
        return None
    return {"name": "apt_kf_noise_urad", "value": d["apt_kf_noise_urad"]}


class Commissioned:
    """The outcome of a commissioning pass: the saved parameter table and a summary."""

    def __init__(self, blobs, summary):
        self.blobs = blobs
        self.summary = summary

    def storage(self):
        """A fresh simulated flash holding the saved parameter table."""
        s = MemStorage()
        for name, b in self.blobs.items():
            s.blobs[name] = bytes(b)
        return s


def commission(fly, scenario, seed, overrides, charge_cpu=False):
    """Fly the unit's commissioning pass (``fly``: sim/run/passsim.py's) and return
    :class:`Commissioned`.  ValueError when the pass saved no parameter table."""
    res = fly(scenario, seed=seed, overrides=commissioning_overrides(overrides),
              charge_cpu=charge_cpu, plan_hook=plan)
    flash = res.apps[-1].storage.blobs
    blobs = {n: flash[n] for n in PARAM_BLOBS if n in flash}
    if not blobs:
        raise ValueError("the commissioning pass saved no parameter table")
    return Commissioned(blobs, summary(res))


def summary(res):
    """What the commissioning pass measured (JSON-ready)."""
    kt = None
    knees = []  # the temperatures (°C) of the accepted knees
    for _t, _boot, ev in res.obc.events:
        name = ev.get("name")
        if name == "BIAS_KNEE_KT":
            kt = ev.get("args")
        elif name == "BIAS_KNEE_CALIBRATED":
            knees.append(ev.get("args")[2])
        elif name == "BIAS_KNEE_HINDSIGHT" and knees and ev.get("args")[1]:
            # the last knee's temperature as corrected in hindsight (flight/bias_kt.py):
            # the one its record (bias_knee_last_t_c) and the V_br(T) line keep
            knees[-1] = ev.get("args")[3]
    bore = res.bore_scan or {}
    p = res.apps[-1].params
    out = {"bore_param_urad": [p["pa_tx_bore_x_urad"], p["pa_tx_bore_y_urad"]],
           "bore_scan_result": bore.get("result"),
           "bore_error_before_urad": bore.get("error_before_urad"),
           "bore_error_after_urad": bore.get("error_after_urad"),
           "bore_scans": bore.get("scans"),
           # the boresight the unit carries out of commissioning (a refused scan: kept)
           "bore_error_urad": bore.get("error_after_urad") if bore.get("result") == "ACCEPTED"
           else bore.get("error_before_urad"),
           "knee_t_c": knees, "kt_mv_per_k": None, "kt_accepted": None, "kt_sigma_mv_per_k": None,
           "kt_truth_mv_per_k": _kt_truth(res.world)}
    cal = {}
    fsm_calibration(res, cal)
    out["fsm_cal_result"] = cal["fsm_cal_result"]
    d = jitter_design(res.obc.latest_hk()) or {}  # (as the station read it: the end's HK)
    out["los_jitter_urad"] = d.get("jitter_urad")
    out["los_jitter_n"] = d.get("samples")
    out["kf_noise_accepted"] = d.get("accepted")
    out["kf_noise_urad"] = p["apt_kf_noise_urad"]  # (the saved table's)
    out["fsm_cal_rot_error_mrad"] = cal["fsm_cal_rot_error_mrad"]
    if kt:
        out["kt_mv_per_k"] = kt[0]
        out["kt_accepted"] = bool(kt[1])
        out["kt_sigma_mv_per_k"] = kt[2] if len(kt) > 2 else None
    return out


def _kt_truth(world):
    """The unit's true k_T (mV/K; hal/sim/world.py ``k_t``), for the report."""
    return world.k_t * 1e3
