"""Figures of one simulated pass (DESIGN §7 keys), computed from the world's truth records.

Definitions (all from the simulator's truth, not from what the flight code measured; the
flight states that select the samples - APT in TRACK, bias loop ACTIVE, ... - are the ones
the OBC saw in telemetry, sim/run/recorder.py):

* ``acquisition_time_s``: first TRACK *on the beacon* (its residual within
  ``ON_BEACON_RAD``: not a light near the station, `city-lights`) minus the moment the
  beacon was in view of a running APT: the later of beacon-on and the APT's first SEARCH
  (the camera is powered only after the SiPM bias ramp — DESIGN §3.2's safe power order —
  so a beacon already in view at session start is "in view" for the APT from its first
  frame).
* ``track_residual_rms_urad``: radial RMS of the true **aim error** - the downlink's
  direction minus the direction in which it must leave to reach the station: the beacon
  residual (pointing error − FSM deflection) plus the transmitter's boresight offset minus
  the point-ahead (hal/sim/world.py ``aim_error``, sim/pointahead.py) - over every camera
  frame in TRACK, skipping the first 0.5 s of each TRACK interval (the pull-in from the
  acquisition window), sampled continuously at 1 kHz (hal/sim/world.py ``FINE_US``);
  ``_frames``: the same at the camera frames only (the pre-issue-13 sampling); ``_beacon``: the beacon residual alone (the pre-issue-13 definition,
  what the camera can see).  ``--ideal``: aim error = beacon residual, frame-sampled
  (no 1 kHz truth), i.e. the figures of before issue 13.
* ``track_aim_bias_urad``: magnitude of the mean of the same 1 kHz aim error: its constant
  part (mostly the transmitter boresight's calibration error: ``--bore-scan``).
* ``point_ahead_urad_max`` / ``_min``: magnitude of the point-ahead over the frames with
  the beacon in view (2 v⊥ / c: 50.6 µrad at zenith, 25.5 µrad at 20° for 560 km;
  24.6 at 18°, where the nominal pass's beacon comes on).
* ``track_residual_rms_urad_loop_off``: the same frames with the fine-pointing loop open
  (FSM parked): the platform's line-of-sight error, i.e. what the loop removed.
* ``pointing_loss_db``: Eq. 2 with ``track_residual_rms_urad`` and the 67.6 µrad downlink
  divergence (sim.linkbudget).
* ``overvoltage_error_*``: true over-voltage (bias − V_br(T_die)) minus the target, over the
  100 ms windows with the bias loop ACTIVE/HOLD; ``uncorrected``: the bias frozen at its
  value when the loop first became ACTIVE.
* ``ber_ratio_chosen_to_best_max``: worst, over 10 s steps of the pass with the comparator
  tracking and signal present, of BER(chosen level) / BER(best level) (sim.receiver).
  The chosen level is the tracker's centre; its ±dither probes (a few % of the time
  away from the centre) are reported apart as ``ber_ratio_dithered_max`` (the level
  the receiver had at that instant).
* ``comparator_calibration_s``: length of the first with-signal sweep.
* ``link_lock_time_s``: the first instant from which the true BER stays ≤ 1e-3 for 1 s,
  minus the first window where the best-level BER is ≤ 1e-3 with the receiver on
  (sim/run/metrics_link.py; also as ``link_lock_time_s_sustained``);
  ``link_lock_time_s_framer``: framer LOCKED instead, the pre-issue-13 figure, which is
  ``link_lock_time_s`` under ``--ideal``.  ``packet_error_rate`` (goal), ``reacquisition_times_s``,
  ``track_residual_rms_urad_loop_off_jitter`` / ``_coarse``, ``ber_ratio_session`` and
  ``ber_ratio_session_with_sweeps``: see sim/run/metrics_link.py.
* ``packets_ok`` / ``packets_crc_error``: framer counts over the run.
* ``fsm_cal_*``: the FSM calibration's outcome and result from its events, and its
  rotation's error (magnitude) against the unit's truth (:func:`fsm_calibration`).
* ``bore_*``: the on-orbit transmitter boresight scan (``--bore-scan``; :func:`_bore_scan`);
  while it runs the aim is off by its trials on purpose, so the TRACK residual figures
  above (and the pointing loss) leave its window out; ``bore_scan_pointing_loss_db`` is
  the scan's own cost.
* ``apt_predict_robust_events``: the predictor's supervisor fell back to its robust gains
  (APT_PREDICT_ROBUST events; a calibrated mirror never should: a trip there is a false one).
* ``deadline_misses``: sum over every task of every boot (each boot's last housekeeping).
* ``sim_speed_x_realtime``: simulated seconds per wall-clock second;
  ``sim_speed_x_realtime_cpu`` per second of the process's CPU time (the figure that does
  not depend on how many other jobs share the host).
"""

import bisect
import math

from sim import linkbudget, receiver
from sim.run import metrics_link
from sim.pointing import ADCS_FEEDBACK_ERROR_MAX_RAD
from sim.run.recorder import (
    F_APT,
    F_AX,
    F_AY,
    F_COARSE,
    F_FX,
    F_FY,
    F_JX,
    F_JY,
    F_PAX,
    F_PAY,
    F_RX,
    F_RY,
    F_T,
    F_VIS,
    W_BER,
    W_BSTATE,
    W_CENTER,
    W_CODE,
    W_CRC,
    W_CSTATE,
    W_LINK,
    W_OK,
    W_P,
    W_SIGNAL,
    W_T,
    W_VBIAS,
    W_VOV,
    W_VTARGET,
)
from sim.run.tmview import (
    APT_TRACK,
    BIAS_ACTIVE,
    BIAS_HOLD,
    COMP_TRACK,
    LINK_LOCKED,
)

# Window columns sim/run/metrics_link.py reads.
_WIDX = {"t": W_T, "p": W_P, "vov": W_VOV, "link": W_LINK, "signal": W_SIGNAL, "ber": W_BER,
         "cstate": W_CSTATE, "center": W_CENTER, "code": W_CODE}

# A comparator level is usable (inside the window) when its BER is at most this (DESIGN §5).
BER_USABLE = 1e-3
# The receiver model means something only above breakdown (hal/sim/world.py reports BER 0.5
# below this over-voltage).
VOV_MIN_V = 0.05
# TRACK on the beacon, for the acquisition time: its residual within 5 px (500 µrad; a
# TRACK on the beacon keeps it within ~0.05 mrad, a light near the station is px away).
ON_BEACON_RAD = 500e-6


def _rms(xs):
    return math.sqrt(sum(x * x for x in xs) / len(xs)) if xs else None


def _continuous_rms(fine, skip=(0.0, 0.0)):
    """(radial RMS, magnitude of the mean) [rad] of the 1 kHz aim error in TRACK, skipping
    0.5 s after each entry and the world-time window ``skip`` (a boresight scan's: the aim
    off on purpose); None when there is none."""
    if not fine or not len(fine[0]):
        return None
    ts, xs, ys, st = fine
    acc = 0.0
    sx = sy = 0.0
    n = 0
    entered = None
    prev = None
    s0, s1 = skip
    for i in range(len(ts)):
        a = st[i]
        if a == APT_TRACK:
            t = ts[i]
            if prev != APT_TRACK:
                entered = t
            if t - entered >= 0.5 and not s0 <= t < s1:
                x = xs[i]
                y = ys[i]
                acc += x * x + y * y
                sx += x
                sy += y
                n += 1
        prev = a
    return (math.sqrt(acc / n), math.hypot(sx / n, sy / n)) if n else None


def compute(res):
    rec = res.rec
    m = {}
    sc = res.scenario
    t_session = sc["session_start_s"]
    # ------------------------------------------------------------ APT
    frames = rec.frames
    t_vis = None
    t_track = None
    for f in frames:
        if t_vis is None and f[F_VIS] and f[F_T] >= t_session and f[F_APT] >= 1:  # beacon + APT on
            t_vis = f[F_T]
        if (t_track is None and t_vis is not None and f[F_APT] == APT_TRACK
                and f[F_RX] * f[F_RX] + f[F_RY] * f[F_RY] < ON_BEACON_RAD * ON_BEACON_RAD):
            t_track = f[F_T]
    m["acquisition_time_s"] = (t_track - t_vis) if (t_track is not None and t_vis is not None) else None
    res_sq = []
    bea_sq = []
    off_sq = []
    jit_sq = []
    coarse_sq = []
    pa = []
    entered = None
    prev = None
    scan = getattr(res, "bore_scan", None) or {}
    skip = scan.get("window_s") or (0.0, 0.0)  # a boresight scan: the aim off on purpose
    for f in frames:
        if f[F_APT] == APT_TRACK:
            if prev != APT_TRACK:
                entered = f[F_T]
            if f[F_T] - entered >= 0.5 and not skip[0] <= f[F_T] < skip[1]:
                res_sq.append(f[F_AX] * f[F_AX] + f[F_AY] * f[F_AY])
                bea_sq.append(f[F_RX] * f[F_RX] + f[F_RY] * f[F_RY])
                ox = f[F_RX] + f[F_FX]
                oy = f[F_RY] + f[F_FY]
                off_sq.append(ox * ox + oy * oy)
                jx = f[F_JX]
                jy = f[F_JY]
                jit_sq.append(jx * jx + jy * jy)
                cx = ox - jx
                cy = oy - jy
                coarse_sq.append(cx * cx + cy * cy)
        if f[F_VIS]:
            pa.append(math.sqrt(f[F_PAX] * f[F_PAX] + f[F_PAY] * f[F_PAY]))
        prev = f[F_APT]
    rms = math.sqrt(sum(res_sq) / len(res_sq)) if res_sq else None
    m["track_residual_rms_urad"] = rms * 1e6 if rms is not None else None
    m["track_residual_rms_urad_frames"] = m["track_residual_rms_urad"]
    cont = _continuous_rms(rec.fine, skip)
    m["track_aim_bias_urad"] = None
    if cont is not None:  # the 1 kHz truth (empty in the idealised world)
        rms = cont[0]
        m["track_residual_rms_urad"] = rms * 1e6
        m["track_aim_bias_urad"] = cont[1] * 1e6  # its constant part (the boresight's)
    m["track_residual_rms_urad_beacon"] = (math.sqrt(sum(bea_sq) / len(bea_sq)) * 1e6
                                           if bea_sq else None)
    jr = metrics_link.rms(jit_sq)
    cr = metrics_link.rms(coarse_sq)
    m["track_residual_rms_urad_loop_off_jitter"] = jr * 1e6 if jr is not None else None
    m["track_residual_rms_urad_loop_off_coarse"] = cr * 1e6 if cr is not None else None
    m["point_ahead_urad_max"] = max(pa) * 1e6 if pa else None
    m["point_ahead_urad_min"] = min(pa) * 1e6 if pa else None
    m["track_residual_rms_urad_loop_off"] = (math.sqrt(sum(off_sq) / len(off_sq)) * 1e6
                                             if off_sq else None)
    m["pointing_loss_db"] = (linkbudget.pointing_loss_db(rms, linkbudget.DOWNLINK.divergence_rad)
                             if rms is not None else None)
    m["track_fraction"] = len([f for f in frames if f[F_APT] == APT_TRACK and f[F_VIS]]) / max(
        1, len([f for f in frames if f[F_VIS] and f[F_T] >= t_session]))
    coarse = [f for f in frames if f[F_T] >= t_session]
    m["coarse_error_start_deg"] = math.degrees(coarse[0][F_COARSE]) if coarse else None
    m["coarse_error_end_deg"] = math.degrees(coarse[-1][F_COARSE]) if coarse else None
    t_below = None
    for f in coarse:
        if f[F_COARSE] < ADCS_FEEDBACK_ERROR_MAX_RAD:  # DESIGN §5: 0.25 deg with feedback
            t_below = f[F_T]
            break
    m["coarse_below_0p25deg_s"] = (t_below - t_session) if t_below is not None else None
    # ------------------------------------------------------------ bias
    wins = rec.windows
    err = []
    unc = []
    v_frozen = None
    knee = res.view.knee  # breakdown sweeps: the bias is off its target on purpose
    for r in wins:
        vtarget = r[W_VTARGET]
        if r[W_BSTATE] in (BIAS_ACTIVE, BIAS_HOLD) and vtarget is not None \
                and knee.before(r[W_T]) != 1 and knee.before(r[W_T] - 0.1) != 1:
            if v_frozen is None:
                v_frozen = r[W_VBIAS]
            err.append(r[W_VOV] - vtarget)
            # the unit's true V_br (calibration errors included) = bias - over-voltage
            unc.append((v_frozen - (r[W_VBIAS] - r[W_VOV])) - vtarget)
    m["overvoltage_error_rms_mv"] = _rms(err) * 1e3 if err else None
    m["overvoltage_error_max_mv"] = max(abs(e) for e in err) * 1e3 if err else None
    m["overvoltage_error_uncorrected_max_mv"] = max(abs(e) for e in unc) * 1e3 if unc else None
    # ------------------------------------------------------------ comparator and link
    # The level the receiver sees: the code plus the unit's comparator offset (sim/calib.py).
    c_off = getattr(getattr(res, "world", None), "comparator_offset", 0.0)
    ratios = []
    next_t = None
    t_usable = None
    t_locked = None
    ok_total = 0
    crc_total = 0
    dithered = []
    for r in wins:
        t, p, code, vov, ok, crc = r[W_T], r[W_P], r[W_CODE], r[W_VOV], r[W_OK], r[W_CRC]
        link, cstate, signal = r[W_LINK], r[W_CSTATE], r[W_SIGNAL]
        center = r[W_CENTER] if r[W_CENTER] is not None else code
        ok_total += ok
        crc_total += crc
        rx_on = link >= 1
        if t_usable is None and rx_on and signal and vov > VOV_MIN_V:
            b = receiver.ber(receiver.best_level(p, vov), p, vov)
            if b <= BER_USABLE:
                t_usable = t
        if t_locked is None and link == LINK_LOCKED and t_usable is not None:
            t_locked = t
        if cstate == COMP_TRACK and signal and vov > VOV_MIN_V:
            if next_t is None or t >= next_t:
                next_t = math.floor(t / 10.0) * 10.0 + 10.0
                best = receiver.ber(receiver.best_level(p, vov), p, vov)
                chosen = receiver.ber(center / 4095.0 + c_off, p, vov)
                if best > 0:
                    ratios.append((t, chosen / best, chosen, best))
                    dithered.append(receiver.ber(code / 4095.0 + c_off, p, vov) / best)
    m["ber_ratio_chosen_to_best_max"] = max(x[1] for x in ratios) if ratios else None
    m["ber_ratio_dithered_max"] = max(dithered) if dithered else None
    m["ber_ratio_steps"] = len(ratios)
    view = res.view
    m["comparator_calibration_s"] = view.cal_duration_s
    m["link_lock_time_s_framer"] = (t_locked - t_usable) if (t_locked is not None and
                                                            t_usable is not None) else None
    # Issue 13: lock = BER <= 1e-3 sustained for 1 s (sim/run/metrics_link.py).
    t_sus, t_use = metrics_link.link_lock(wins, _WIDX)
    m["link_lock_time_s_sustained"] = (t_sus - t_use) if (t_sus is not None and
                                                         t_use is not None) else None
    # --ideal reproduces the pre-issue-13 figures, definitions included.
    ideal = getattr(getattr(res, "world", None), "ideal", False)
    m["link_lock_time_s"] = m["link_lock_time_s_framer" if ideal else
                              "link_lock_time_s_sustained"]
    tot = ok_total + crc_total
    m["packet_error_rate"] = crc_total / tot if tot > 0 else None
    m["ber_ratio_session"] = metrics_link.session_ber_ratio(wins, _WIDX, COMP_TRACK, False,
                                                            c_off)
    m["ber_ratio_session_with_sweeps"] = metrics_link.session_ber_ratio(wins, _WIDX, COMP_TRACK,
                                                                        True)
    re_t = metrics_link.reacquisitions(frames, F_T, F_APT, F_VIS, APT_TRACK)
    m["reacquisition_times_s"] = re_t
    m["reacquisition_time_max_s"] = max(re_t) if re_t else None
    m["packets_ok"] = ok_total
    m["packets_crc_error"] = crc_total
    fsm_calibration(res, m)
    _bore_scan(res, m)
    _commissioning(res, m)
    _kt_in_use(res, m)
    m["apt_predict_robust_events"] = sum(
        1 for _t, _b, e in res.obc.events if e.get("name") == "APT_PREDICT_ROBUST")
    # ------------------------------------------------------------ scheduler
    m["deadline_misses"] = view.deadline_misses
    m["task_faults"] = view.task_faults
    m["boots"] = view.boots
    m["sim_duration_s"] = res.sim_s
    # Host-dependent figures (report.SPEED_KEYS, written last so a diff can skip them).
    m["sim_speed_x_realtime"] = res.sim_s / res.wall_s if res.wall_s > 0 else None
    m["wall_time_s"] = res.wall_s
    cpu = getattr(res, "cpu_s", None)
    m["cpu_time_s"] = cpu
    m["sim_speed_x_realtime_cpu"] = res.sim_s / cpu if cpu else None
    # which APT kernels flew: "host" (sim/run/hostkernels) or "python" (the flight
    # code's twins): the same figures either way, not the same speed
    m["sim_kernels"] = getattr(res, "kernels", None)
    return m


def fsm_calibration(res, m):
    """The FSM calibration of the pass (flight/apt_calib.py), from its events: the outcome
    of the last one (``fsm_cal_result``: DONE, REFUSED, ABORTED or None), its gains,
    rotation and fit residual, and the rotation's error against the unit's truth
    (sim/calib.py; the polar rotation of camera rotation × mirror gain matrix, as the
    calibration defines it).  The gains are not compared: the centroid's slope is in them
    (docs/fsm-calibration.md)."""
    ev = None
    for _t, _b, e in res.obc.events:
        if e.get("name") in ("APT_CAL_DONE", "APT_CAL_REFUSED", "APT_CAL_ABORTED"):
            ev = e
    m["fsm_cal_result"] = ev["name"][8:] if ev is not None else None
    a = (ev.get("args") or []) if ev is not None else []
    if ev is not None and ev["name"] == "APT_CAL_REFUSED":
        a = a[1:]
    ok = ev is not None and ev["name"] != "APT_CAL_ABORTED" and len(a) >= 5
    for i, k in enumerate(("gain_x", "gain_y", "rot_mrad", "cross", "resid")):
        m["fsm_cal_" + k] = a[i] if ok else None
    cal = getattr(getattr(res, "world", None), "calib", None)
    m["fsm_cal_rot_error_mrad"] = None
    if ok and cal is not None:
        c, s = math.cos(cal["cam_fsm_rot_rad"]), math.sin(cal["cam_fsm_rot_rad"])
        g = (1 + cal["fsm_gain_x"], cal["fsm_cross_xy"], cal["fsm_cross_yx"],
             1 + cal["fsm_gain_y"])
        m12 = c * g[1] + s * g[3]
        m21 = -s * g[0] + c * g[2]
        th = math.atan2(m12 - m21, c * g[0] + s * g[2] + (-s * g[1] + c * g[3]))
        m["fsm_cal_rot_error_mrad"] = abs(a[2] - th * 1e3)


def _kt_in_use(res, m):
    """The breakdown's temperature coefficient the flight holds at the pass's end (mV/K:
    the default, or fitted by its knees, flight/bias_kt.py), the unit's true one
    (hal/sim/world.py ``k_t``) and the error between them; None where either is unknown."""
    apps = getattr(res, "apps", None) or ()
    world = getattr(res, "world", None)
    kt = apps[-1].params["bias_kt_mv_per_k"] if apps else None
    truth = world.k_t * 1e3 if world is not None and hasattr(world, "k_t") else None
    m["kt_mv_per_k"] = kt
    m["kt_truth_mv_per_k"] = truth
    m["kt_error_mv_per_k"] = abs(kt - truth) if kt is not None and truth is not None else None


def _commissioning(res, m):
    """What the unit's commissioning pass measured (``--commissioned``,
    sim/run/commission.py; None without one): its boresight scan's outcome, the
    boresight's error before / after it and the one the unit keeps (µrad), the k_T its
    knees fitted (mV/K), whether the flight accepted it, the unit's true k_T, and its FSM
    calibration's outcome and rotation error (as :func:`fsm_calibration`)."""
    c = getattr(res, "commissioning", None) or {}
    m["commission_bore_scan_result"] = c.get("bore_scan_result")
    m["commission_bore_error_before_urad"] = c.get("bore_error_before_urad")
    m["commission_bore_error_after_urad"] = c.get("bore_error_after_urad")
    m["commission_bore_error_urad"] = c.get("bore_error_urad")
    m["commission_bore_scans"] = c.get("bore_scans")  # 2: the first refused, repeated
    m["commission_kt_mv_per_k"] = c.get("kt_mv_per_k")
    m["commission_kt_accepted"] = c.get("kt_accepted")
    m["commission_kt_truth_mv_per_k"] = c.get("kt_truth_mv_per_k")
    m["commission_fsm_cal_result"] = c.get("fsm_cal_result")
    m["commission_fsm_cal_rot_error_mrad"] = c.get("fsm_cal_rot_error_mrad")
    m["commission_los_jitter_urad"] = c.get("los_jitter_urad")  # (flight/apt_jitter.py)
    m["commission_kf_noise_urad"] = c.get("kf_noise_urad")  # (ground_tools/noise_design.py)


def _bore_scan(res, m):
    """The on-orbit boresight scan of the pass (``--bore-scan``, sim/run/bore_ground.py):
    its outcome (ACCEPTED, REFUSED, ABORTED, or None: not asked or not reached), the
    boresight parameter's error against the unit's truth before and after (µrad, radial),
    the fit's correction and standard error, the scan's length and its own pointing loss
    (Eq. 2 over the scan's window: what the trials cost the downlink while they last)."""
    b = getattr(res, "bore_scan", None) or {}
    fit = b.get("fit") or {}
    win = b.get("window_s")
    m["bore_scan_result"] = b.get("result")
    m["bore_scans"] = b.get("scans")  # (a repeat after a refused fit: retry_cycles)
    m["bore_error_before_urad"] = b.get("error_before_urad")
    m["bore_error_after_urad"] = b.get("error_after_urad")
    m["bore_scan_dx_urad"] = fit.get("dx_urad")
    m["bore_scan_dy_urad"] = fit.get("dy_urad")
    se = [v for v in (fit.get("se_x_urad"), fit.get("se_y_urad")) if v is not None]
    m["bore_scan_se_urad"] = max(se) if se else None
    m["bore_scan_s"] = (win[1] - win[0]) if win else None
    m["bore_scan_pointing_loss_db"] = None
    if win:
        ts, xs, ys, _st = res.rec.fine
        v = [xs[i] * xs[i] + ys[i] * ys[i]  # (the 1 kHz times are sorted: the window's span)
             for i in range(bisect.bisect_left(ts, win[0]), bisect.bisect_left(ts, win[1]))]
        if v:
            m["bore_scan_pointing_loss_db"] = linkbudget.pointing_loss_db(
                math.sqrt(sum(v) / len(v)), linkbudget.DOWNLINK.divergence_rad)


# The bars of the control-v2 issue (14), measured with the honest simulator: key -> (op,
# bound).  A pass meets its goals when every bar holds (``verdict``).  Earlier issues'
# goals that issue 14 does not restate stay (link lock, comparator calibration, PER,
# deadline misses).
GOALS = {
    "acquisition_time_s": ("<=", 1.0),
    "track_residual_rms_urad": ("<=", 4.0),
    "pointing_loss_db": ("<=", 0.25),
    "overvoltage_error_rms_mv": ("<=", 20.0),
    "overvoltage_error_max_mv": ("<=", 60.0),
    "ber_ratio_chosen_to_best_max": ("<=", 1.3),
    "comparator_calibration_s": ("<=", 5.0),
    "link_lock_time_s": ("<=", 1.0),
    "packet_error_rate": ("<=", metrics_link.PER_GOAL),
    "deadline_misses": ("<=", 0),
}

# Issue 14's "goal" column beside its bars (shown, not judged): key -> bound, same op.
STRETCH = {
    "acquisition_time_s": 0.5,
    "track_residual_rms_urad": 3.0,
    "pointing_loss_db": 0.15,
    "overvoltage_error_rms_mv": 10.0,
    "overvoltage_error_max_mv": 30.0,
    "ber_ratio_chosen_to_best_max": 1.2,
}

# Over a campaign (sim/run/campaign.py): key -> (statistic, op, bar, goal).
CAMPAIGN_GOALS = {
    "track_residual_rms_urad": ("worst", "<=", 5.0, 4.0),
}

# The goals of the control issue (issue 5), in the idealised world they were designed
# for: tests/test_closed_loop.py still certifies them there (``--ideal``).
GOALS_ISSUE5 = {
    "acquisition_time_s": ("<=", 2.0),
    "track_residual_rms_urad": ("<=", 10.0),
    "pointing_loss_db": ("<=", 0.2),
    "overvoltage_error_rms_mv": ("<=", 20.0),
    "overvoltage_error_max_mv": ("<=", 60.0),
    "ber_ratio_chosen_to_best_max": ("<=", 2.0),
    "comparator_calibration_s": ("<=", 5.0),
    "link_lock_time_s": ("<=", 1.0),
    "packet_error_rate": ("<=", metrics_link.PER_GOAL),
    "deadline_misses": ("<=", 0),
}


def holds(v, op, bound):
    return v is not None and (v <= bound if op == "<=" else v >= bound)


def verdict(m, goals=None):
    """[(key, value, op, bound, holds)] for every goal (default :data:`GOALS`)."""
    out = []
    for k, (op, bound) in (GOALS if goals is None else goals).items():
        v = m.get(k)
        out.append((k, v, op, bound, holds(v, op, bound)))
    return out
