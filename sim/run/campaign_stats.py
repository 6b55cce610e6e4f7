"""The 40-pass campaign's summary (sim/run/campaign.py): which figures, their median, p95
and worst over the passes, the campaign's own bars, and the table printed at the end.
Kept apart from the campaign's runner so each file stays small."""

import math

from sim.run import metrics

# Figures summarised (sim/run/metrics.py keys plus the packet error rate computed here).
DIST_KEYS = (
    "acquisition_time_s",
    "track_residual_rms_urad",
    "pointing_loss_db",
    "track_residual_rms_urad_loop_off",
    "track_fraction",
    "coarse_below_0p25deg_s",
    "overvoltage_error_rms_mv",
    "overvoltage_error_max_mv",
    "overvoltage_error_uncorrected_max_mv",
    "ber_ratio_chosen_to_best_max",
    "comparator_calibration_s",
    "link_lock_time_s",
    "packets_ok",
    "packets_crc_error",
    "packet_error_rate",
    "deadline_misses",
    "task_faults",
    "boots",
    "sim_speed_x_realtime",
    # issue 13
    "track_residual_rms_urad_frames",
    "track_residual_rms_urad_beacon",
    "point_ahead_urad_max",
    "point_ahead_urad_min",
    "link_lock_time_s_framer",
    "reacquisition_time_max_s",
    "ber_ratio_session",
    "ber_ratio_session_with_sweeps",
    "sim_speed_x_realtime_cpu",
    # issue 14.3: the FSM calibration (flight/apt_calib.py)
    "fsm_cal_resid",
    "fsm_cal_rot_error_mrad",
    # the on-orbit boresight scan (--bore-scan; sim/run/bore_ground.py)
    "track_aim_bias_urad",
    "bore_error_before_urad",
    "bore_error_after_urad",
    "bore_scan_se_urad",
    "bore_scan_pointing_loss_db",
    "commission_bore_error_urad",  # a commissioned unit (--commissioned)
    "commission_kt_mv_per_k", "kt_error_mv_per_k",
    "apt_predict_robust_events",  # the supervisor's trips (false ones on a calibrated mirror)
)
HIGHER_IS_BETTER = frozenset(("packets_ok", "sim_speed_x_realtime", "sim_speed_x_realtime_cpu",
                              "track_fraction", "point_ahead_urad_min"))


# ============================================================================ statistics
def quantile(sorted_vals, q):
    """Linear-interpolated quantile of an ascending list (numpy's default method)."""
    n = len(sorted_vals)
    if n == 0:
        return None
    pos = q * (n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def distributions(runs):
    """{key: {n, missing, median, p95, worst, worst_index, worst_seed, goal, met}}."""
    ok_runs = [r for r in runs if r.get("metrics") is not None]
    out = {}
    for k in DIST_KEYS:
        pairs = [(r["metrics"].get(k), r) for r in ok_runs]
        vals = [(v, r) for v, r in pairs if isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v)]
        d = {"n": len(vals), "missing": len(ok_runs) - len(vals), "median": None, "p95": None,
             "worst": None, "worst_index": None, "worst_seed": None,
             "higher_is_better": k in HIGHER_IS_BETTER}
        if vals:
            xs = sorted(v for v, _ in vals)
            d["median"] = quantile(xs, 0.5)
            if k in HIGHER_IS_BETTER:
                d["p95"] = quantile(xs, 0.05)
                v, r = min(vals, key=lambda p: p[0])
            else:
                d["p95"] = quantile(xs, 0.95)
                v, r = max(vals, key=lambda p: p[0])
            d["worst"] = v
            d["worst_index"] = r["index"]
            d["worst_seed"] = r["seed"]
        if k in metrics.GOALS:
            op, bound = metrics.GOALS[k]
            d["goal"] = [op, bound]
            d["met"] = sum(1 for r in ok_runs if r["verdict"]["goals"][k]["holds"])
        if k in metrics.STRETCH:
            d["stretch"] = metrics.STRETCH[k]
        out[k] = d
    return out


def campaign_goals(dist):
    """The campaign's own bars (sim/run/metrics.py CAMPAIGN_GOALS, e.g. the worst pass's
    residual): {key: {statistic, value, op, bar, goal, holds}}."""
    out = {}
    for k, (stat, op, bar, goal) in metrics.CAMPAIGN_GOALS.items():
        v = dist.get(k, {}).get(stat)
        out[k] = {"statistic": stat, "value": v, "op": op, "bar": bar, "goal": goal,
                  "holds": metrics.holds(v, op, bar)}
    return out


def campaign_goal_lines(cg):
    return ["  %-4s campaign %s %s = %s (bar %s %g, issue 14 goal %s %g)" % (
        "ok" if g["holds"] else "FAIL", g["statistic"], k, _fmt(g["value"]), g["op"],
        g["bar"], g["op"], g["goal"]) for k, g in cg.items()]


# ============================================================================ output
def _fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, int) or abs(v) >= 10000:
        return "%.0f" % v
    return "%.4g" % v


def table(dist, n_ok):
    rows = [("figure", "n", "median", "p95", "worst", "bar", "met", "issue 14 goal")]
    for k in DIST_KEYS:
        d = dist[k]
        goal = ("%s %g" % tuple(d["goal"])) if "goal" in d else ""
        met = ("%d/%d" % (d["met"], n_ok)) if "goal" in d else ""
        st = ("%s %g" % (d["goal"][0], d["stretch"])) if "stretch" in d else ""
        rows.append((k, str(d["n"]), _fmt(d["median"]), _fmt(d["p95"]), _fmt(d["worst"]), goal,
                     met, st))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                      for i, c in enumerate(r)))
        if j == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)
