"""Time series of one simulated pass: the data behind the figures and the report.

No plotting library: :func:`series` turns a :class:`sim.run.passsim.PassResult` into plain
lists on one time axis (seconds of simulated time since the first boot):

* the world's truth joined with the flight states the OBC saw (``res.rec.frames`` per 10 ms
  camera frame, ``res.rec.windows`` per 100 ms framer window; sim/run/recorder.py);
* the housekeeping the OBC received (1 Hz, fields of sim/run/tmview.py ``hk_fields``,
  already on the simulated time axis) and the events;
* a few derived series (packets per second, best comparator level every second).

sim/run/plots.py draws them; sim/run/report.py writes its text from them.
"""

import math

from sim import linkbudget, receiver
from sim.run import metrics
from sim.run.recorder import (
    F_AX,
    F_AY,
    F_APT,
    F_COARSE,
    F_FX,
    F_FY,
    F_RX,
    F_RY,
    F_T,
    F_VIS,
    W_BER,
    W_BSTATE,
    W_CODE,
    W_CRC,
    W_CSTATE,
    W_EL,
    W_LINK,
    W_MODE,
    W_OK,
    W_P,
    W_SIGNAL,
    W_T,
    W_TDIE,
    W_VBIAS,
    W_VOV,
    W_VTARGET,
)
from sim.run.tmview import (
    APT_STATES,
    APT_TRACK,
    BIAS_ACTIVE,
    BIAS_HOLD,
    BIAS_STATES,
    COMP_STATES,
    LINK_STATES,
)

__all__ = ("APT_STATES", "BIAS_STATES", "COMP_STATES", "LINK_STATES", "series")

# Best-level / window evaluation of the receiver model: once per simulated second (the
# optimisation costs ~0.5 ms per call; the level changes slowly).
BEST_LEVEL_STEP_S = 1.0
VOV_MIN_V = metrics.VOV_MIN_V


def boot_offsets(res):
    """Simulated time [s] at which each boot's onboard clock read zero (the runner powers
    the payload, so it knows; ``PassResult.boot_times``)."""
    return list(res.boot_times) or [0.0]


def _onboard(items, offsets):
    """(world_time, boot_index, item) for onboard-timed items received as (t_rx, boot, item)."""
    out = []
    for _t_rx, boot, it in items:
        t = it.get("time")
        off = offsets[min(boot, len(offsets) - 1)]
        out.append(((t + off) if t is not None else None, boot, it))
    return out


def _nan(v):
    return float("nan") if v is None else v


def series(res, best_step_s=BEST_LEVEL_STEP_S):
    """Plain-list time series of one pass (see the module docstring); a dict."""
    w = res.world
    rec = res.rec
    sc = res.scenario
    offsets = boot_offsets(res)
    s = {"offsets": offsets, "scenario": sc, "t_session": sc.get("session_start_s", 0.0),
         "t_end": res.sim_s}
    cost = getattr(res, "cost", None)  # sim/run/costmodel.py, None with --charge-cpu
    s["cost_mips"] = cost.mips if cost is not None else None
    # ---------------------------------------------------------------- camera frames
    fr = rec.frames
    s["f_t"] = [f[F_T] for f in fr]
    s["f_rx"] = [f[F_RX] * 1e6 for f in fr]  # urad
    s["f_ry"] = [f[F_RY] * 1e6 for f in fr]
    s["f_apt"] = [f[F_APT] for f in fr]
    s["f_fx"] = [f[F_FX] * 1e3 for f in fr]  # mrad
    s["f_fy"] = [f[F_FY] * 1e3 for f in fr]
    s["f_coarse_deg"] = [math.degrees(f[F_COARSE]) for f in fr]
    s["f_vis"] = [bool(f[F_VIS]) for f in fr]
    # line-of-sight error with the loop open: residual + FSM deflection (sim/run/metrics.py)
    s["f_los"] = [math.hypot(f[F_RX] + f[F_FX], f[F_RY] + f[F_FY]) * 1e6 for f in fr]
    # the aim error (downlink vs point-ahead-corrected direction; = beacon residual when ideal)
    s["f_res"] = [math.hypot(f[F_AX], f[F_AY]) * 1e6 for f in fr]
    s["f_beacon"] = [math.hypot(f[F_RX], f[F_RY]) * 1e6 for f in fr]
    # ---------------------------------------------------------------- framer windows
    wi = rec.windows
    for name, idx in (("t", W_T), ("p", W_P), ("code", W_CODE), ("ber", W_BER),
                      ("vov", W_VOV), ("ok", W_OK), ("crc", W_CRC), ("link", W_LINK),
                      ("bstate", W_BSTATE), ("vtarget", W_VTARGET), ("tdie", W_TDIE),
                      ("vbias", W_VBIAS), ("cstate", W_CSTATE), ("mode", W_MODE),
                      ("signal", W_SIGNAL), ("el", W_EL)):
        s["w_" + name] = [r[idx] for r in wi]
    pass_ = w.pass_
    tc = w.pass_start + w.duration_s / 2.0
    s["w_range_km"] = [pass_.range_m(t - tc) / 1e3 for t in s["w_t"]]
    s["w_vbr"] = [v - ov for v, ov in zip(s["w_vbias"], s["w_vov"], strict=True)]
    # Over-voltage error with the bias loop running, and with the bias frozen at its value
    # when the loop first became ACTIVE (sim/run/metrics.py definitions).
    err, unc = [], []
    v_frozen = None
    for r in wi:
        if r[W_BSTATE] in (BIAS_ACTIVE, BIAS_HOLD) and r[W_VTARGET] is not None:
            if v_frozen is None:
                v_frozen = r[W_VBIAS]
            err.append(r[W_VOV] - r[W_VTARGET])
            unc.append(v_frozen - (r[W_VBIAS] - r[W_VOV]) - r[W_VTARGET])
        else:
            err.append(None)
            unc.append(None)
    s["w_ov_err_mv"] = [e * 1e3 if e is not None else float("nan") for e in err]
    s["w_ov_unc_mv"] = [u * 1e3 if u is not None else float("nan") for u in unc]
    # ---------------------------------------------------------------- per second
    n_s = int(math.ceil(res.sim_s)) if res.sim_s > 0 else 0
    ok_s = [0] * n_s
    crc_s = [0] * n_s
    link_s = [-1] * n_s
    res_sq = [0.0] * n_s
    res_n = [0] * n_s
    for r in wi:
        i = min(n_s - 1, max(0, int((r[W_T] - 1e-6) // 1.0)))
        ok_s[i] += r[W_OK]
        crc_s[i] += r[W_CRC]
        link_s[i] = r[W_LINK]
    for f in fr:
        if f[F_APT] == APT_TRACK:
            i = min(n_s - 1, max(0, int((f[F_T] - 1e-6) // 1.0)))
            res_sq[i] += f[F_RX] * f[F_RX] + f[F_RY] * f[F_RY]
            res_n[i] += 1
    s["s_t"] = [i + 1.0 for i in range(n_s)]
    s["s_ok"] = ok_s
    s["s_crc"] = crc_s
    s["s_per"] = [c / (o + c) if (o + c) > 0 else float("nan")
                  for o, c in zip(ok_s, crc_s, strict=True)]
    s["s_link"] = link_s
    s["s_res_rms_urad"] = [math.sqrt(q / n) * 1e6 if n else float("nan")
                           for q, n in zip(res_sq, res_n, strict=True)]
    # Link budget per second: geometry, total losses, received powers.  The downlink uses
    # the simulated APT residual of that second (Eq. 2) and exists only while tracking.
    kappa = w.kappa_db
    lb = {"t": [], "el": [], "range_km": [], "up_loss": [], "down_loss": [], "down_p": []}
    for i, t in enumerate(s["s_t"]):
        tp = t - tc
        el_r = pass_.elevation_rad(tp)
        lb["t"].append(t)
        lb["el"].append(math.degrees(el_r))
        lb["range_km"].append(pass_.range_m(tp) / 1e3)
        if el_r > 0:
            lb["up_loss"].append(linkbudget.UPLINK.loss_at_db(pass_, tp, kappa))
            rr = s["s_res_rms_urad"][i]
            if rr == rr:
                lb["down_loss"].append(linkbudget.DOWNLINK.loss_at_db(pass_, tp, kappa, rr * 1e-6))
                lb["down_p"].append(linkbudget.downlink_received_power_w(pass_, tp, kappa,
                                                                         rr * 1e-6))
            else:
                lb["down_loss"].append(float("nan"))
                lb["down_p"].append(float("nan"))
        else:
            lb["up_loss"].append(float("nan"))
            lb["down_loss"].append(float("nan"))
            lb["down_p"].append(float("nan"))
    s["lb"] = lb
    # ---------------------------------------------------------------- best level, 1 s
    bl = {"t": [], "best_code": [], "lo_code": [], "hi_code": [], "ber_best": [],
          "ber_chosen": [], "code": []}
    next_t = None
    for r in wi:
        t = r[W_T]
        if next_t is not None and t < next_t - 1e-9:
            continue
        if not (r[W_SIGNAL] and r[W_VOV] > VOV_MIN_V and r[W_P] > 0):
            continue
        next_t = math.floor(t / best_step_s + 1e-9) * best_step_s + best_step_s
        p, vov = r[W_P], r[W_VOV]
        best = receiver.best_level(p, vov)
        win = receiver.window(p, vov)
        bl["t"].append(t)
        bl["code"].append(r[W_CODE])
        bl["best_code"].append(receiver.level_to_dac(best))
        bl["lo_code"].append(receiver.level_to_dac(win[0]) if win else float("nan"))
        bl["hi_code"].append(receiver.level_to_dac(win[1]) if win else float("nan"))
        bl["ber_best"].append(receiver.ber(best, p, vov))
        bl["ber_chosen"].append(r[W_BER])
    s["bl"] = bl
    # ---------------------------------------------------------------- housekeeping
    # Fields of sim/run/tmview.py hk_fields; onboard time shifted by the boot's start.
    h = {"t": [], "boot": [], "res_x": [], "res_y": [], "apt_valid": [], "apt_state": [],
         "t_c": [], "t_est_c": [], "v_cmd": [], "mode": []}
    cpu = {}  # task -> list of (t, load fraction)
    misses = []  # (t, task, new misses)
    prev = {}
    for _t_rx, boot, d in res.obc.hk:
        if d.get("time") is None:
            continue
        t = d["time"] + offsets[min(boot, len(offsets) - 1)]
        h["t"].append(t)
        h["boot"].append(boot)
        valid = d["apt_valid"]
        h["apt_valid"].append(valid)
        h["apt_state"].append(d["apt_state"])
        h["res_x"].append(_nan(d["apt_res_x_urad"]) if valid else float("nan"))
        h["res_y"].append(_nan(d["apt_res_y_urad"]) if valid else float("nan"))
        h["t_c"].append(_nan(d["bias_t_c"]))
        h["t_est_c"].append(_nan(d["bias_t_est_c"]))
        h["v_cmd"].append(_nan(d["bias_v_cmd"]))
        h["mode"].append(d["mode"])
        for name, cpu_us, dmiss, _faults in d["sched"]:
            key = (boot, name)
            if key in prev:
                t0, c0, m0 = prev[key]
                if t > t0:
                    cpu.setdefault(name, []).append((t, (cpu_us - c0) * 1e-6 / (t - t0)))
                if dmiss > m0:
                    misses.append((t, name, dmiss - m0))
            elif dmiss > 0:
                misses.append((t, name, dmiss))
            prev[key] = (t, cpu_us, dmiss)
    s["hk"] = h
    s["cpu"] = cpu
    s["deadline_miss_marks"] = misses
    s["events"] = _onboard(res.obc.events, offsets)
    s["faults"] = list(w.fault_log)
    # Beacon-off intervals after the session start (for shading).
    off = []
    start = None
    for t, v in zip(s["f_t"], s["f_vis"], strict=True):
        if t < s["t_session"]:
            continue
        if not v and start is None:
            start = t
        elif v and start is not None:
            off.append((start, t))
            start = None
    if start is not None:
        off.append((start, s["f_t"][-1]))
    s["beacon_off"] = off
    s["boot_times"] = offsets
    return s


