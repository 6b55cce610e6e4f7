"""One simulated pass, reported: run it, summarise it, judge it, write JSON and Markdown.

Used by ``python -m sim`` (sim/run/cli.py) and the Monte-Carlo campaign (sim/run/campaign.py).

* :func:`run` flies a pass with :func:`sim.run.passsim.fly`, recording each boot's start in
  simulated time (so onboard event and housekeeping times can be put on one axis), and
  computes the metrics of :mod:`sim.run.metrics`.
* :func:`metrics_json` is the ``--json`` document: every DESIGN §7 key at top level (None
  when a figure could not be computed, e.g. no TRACK in a 40 s run), the extras of
  ``sim.run.metrics.compute``, and ``scenario``, ``seed``, ``overrides``, ``verdict``.
* :func:`summary_table` / :func:`verdict_lines` are the terminal summary.
* :func:`timeline` merges OBC telecommands, the payload's events, injected faults and
  beacon transitions on the simulated time axis; :func:`write_report` writes the Markdown
  report with the figures of :mod:`sim.run.plots`.
"""

import math
import os

from flight.cmddict import BY_OPCODE
from sim.run import metrics, passsim
from sim.run.series import series
from sim.run.tmview import APT_STATES, LINK_LOCKED

# DESIGN §7: the keys the metrics JSON must carry (tests and tools rely on these names).
DESIGN_KEYS = (
    "acquisition_time_s",
    "track_residual_rms_urad",
    "pointing_loss_db",
    "overvoltage_error_rms_mv",
    "overvoltage_error_max_mv",
    "overvoltage_error_uncorrected_max_mv",
    "ber_ratio_chosen_to_best_max",
    "comparator_calibration_s",
    "link_lock_time_s",
    "packets_ok",
    "packets_crc_error",
    "deadline_misses",
    "sim_speed_x_realtime",
    "track_residual_rms_urad_loop_off",
)

# Host-dependent figures: written last in the metrics document; everything else is the same
# bit for bit for the same seed and options (tests/test_sim_determinism.py).
SPEED_KEYS = ("sim_speed_x_realtime", "sim_speed_x_realtime_cpu", "wall_time_s", "cpu_time_s",
              "sim_kernels")

# The timeline of the report lists at most this many rows (a pathological pass can emit
# thousands of link-state events); the rest is counted.
TIMELINE_MAX_ROWS = 250


# ============================================================================ running
def run(scenario="nominal", seed=1, overrides=None, progress=False, duration_s=None,
        app_hook=None, charge_cpu=False, ideal=False, py_kernels=False):
    """Fly one pass; (PassResult, metrics dict).  ``py_kernels``: the APT's kernels as the
    flight code's Python twins, not their host builds (passsim.fly)."""
    res = passsim.fly(scenario, seed=seed, overrides=overrides or None, progress=progress,
                      charge_cpu=charge_cpu, app_hook=app_hook, duration_s=duration_s,
                      ideal=ideal, py_kernels=py_kernels)
    return res, metrics.compute(res)


def _clean(v):
    """JSON-safe value: NaN/inf -> None, tuples -> lists (recursively)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    return v


def verdict_dict(m):
    """{"pass": bool, "failed": [keys], "goals": {key: {value, op, bound, holds}}}."""
    goals = {}
    failed = []
    for k, v, op, bound, holds in metrics.verdict(m):
        goals[k] = {"value": _clean(v), "op": op, "bound": bound, "holds": bool(holds)}
        if k in metrics.STRETCH:
            goals[k]["goal"] = metrics.STRETCH[k]  # issue 14's goal beside its bar
        if not holds:
            failed.append(k)
    return {"pass": not failed, "failed": failed, "goals": goals}


def metrics_json(m, scenario, seed, overrides=None, duration_s=None, charge_cpu=False,
                 ideal=False, res=None):
    """The metrics document (see the module docstring); the host-dependent ``SPEED_KEYS``
    come last."""
    out = {}
    for k in DESIGN_KEYS:
        if k not in SPEED_KEYS:
            out[k] = _clean(m.get(k))
    for k, v in m.items():
        if k not in out and k not in SPEED_KEYS:
            out[k] = _clean(v)
    out["scenario"] = scenario
    out["seed"] = seed
    out["overrides"] = _clean(dict(overrides or {}))
    out["charge_cpu"] = bool(charge_cpu)
    out["ideal"] = bool(ideal)
    cost = getattr(res, "cost", None)
    out["timing"] = ("host-cpu" if charge_cpu else "cost-model (not charged)" if ideal
                     else "cost-model")
    if cost is not None:
        out["cost_model"] = cost.describe()
    calib = getattr(getattr(res, "world", None), "calib", None)
    if calib is not None:
        out["calibration_errors"] = _clean(dict(calib))
    if duration_s is not None:
        out["duration_limit_s"] = duration_s
    out["verdict"] = verdict_dict(m)
    for k in SPEED_KEYS:
        out[k] = _clean(m.get(k))
    return out


# ============================================================================ summary text
def _f(v, fmt, unit=""):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return (fmt % v) + unit


def summary_rows(m):
    """[(label, value text)] of the terminal summary table."""
    ok = m.get("packets_ok")
    crc = m.get("packets_crc_error")
    per = (crc / (ok + crc)) if (ok is not None and crc is not None and ok + crc > 0) else None
    ovr = m.get("overvoltage_error_rms_mv")
    ovm = m.get("overvoltage_error_max_mv")
    rows = [
        ("acquisition time (beacon -> TRACK)", _f(m.get("acquisition_time_s"), "%.2f", " s")),
        ("tracking residual RMS: aim error (TRACK, 1 kHz)",
         _f(m.get("track_residual_rms_urad"), "%.2f", " µrad")),
        ("  at the frames / beacon residual only",
         "%s / %s" % (_f(m.get("track_residual_rms_urad_frames"), "%.2f"),
                      _f(m.get("track_residual_rms_urad_beacon"), "%.2f", " µrad"))),
        ("  its constant part (the aim's mean)", _f(m.get("track_aim_bias_urad"), "%.2f", " µrad")),
        ("point-ahead min / max",
         "%s / %s" % (_f(m.get("point_ahead_urad_min"), "%.1f"),
                      _f(m.get("point_ahead_urad_max"), "%.1f", " µrad"))),
        ("pointing loss (Eq. 2, downlink)", _f(m.get("pointing_loss_db"), "%.3f", " dB")),
        ("residual with loop off (same frames): jitter / coarse",
         "%s (%s / %s)" % (_f(m.get("track_residual_rms_urad_loop_off"), "%.0f"),
                           _f(m.get("track_residual_rms_urad_loop_off_jitter"), "%.1f"),
                           _f(m.get("track_residual_rms_urad_loop_off_coarse"), "%.0f",
                              " µrad"))),
    ]
    if m.get("bore_scan_result") is not None:  # --bore-scan (sim/run/bore_ground.py)
        rows.append(("boresight scan: result / its length / its pointing loss",
                     "%s / %s / %s" % (m["bore_scan_result"], _f(m.get("bore_scan_s"), "%.0f", " s"),
                                       _f(m.get("bore_scan_pointing_loss_db"), "%.2f", " dB"))))
        rows.append(("  boresight error before -> after (fit's standard error)",
                     "%s -> %s (%s)" % (_f(m.get("bore_error_before_urad"), "%.2f"),
                                        _f(m.get("bore_error_after_urad"), "%.2f"),
                                        _f(m.get("bore_scan_se_urad"), "%.2f", " µrad"))))
    if m.get("commission_kt_truth_mv_per_k") is not None:  # --commissioned (commission.py)
        rows.append(("commissioning: boresight scan / boresight error kept",
                     "%s / %s" % (m.get("commission_bore_scan_result"),
                                  _f(m.get("commission_bore_error_urad"), "%.2f", " µrad"))))
        rows.append(("  k_T fitted (accepted) / the unit's true k_T",
                     "%s (%s) / %s" % (_f(m.get("commission_kt_mv_per_k"), "%.2f"),
                                       m.get("commission_kt_accepted"),
                                       _f(m.get("commission_kt_truth_mv_per_k"), "%.2f",
                                          " mV/K"))))
        rows.append(("  line-of-sight jitter per axis / the predictor's centroid noise set",
                     "%s / %s" % (_f(m.get("commission_los_jitter_urad"), "%.1f", " µrad"),
                                  _f(m.get("commission_kf_noise_urad"), "%.2f", " µrad"))))
    if m.get("kt_truth_mv_per_k") is not None:
        rows.append(("k_T in use at the end / the unit's",
                     "%s / %s" % (_f(m.get("kt_mv_per_k"), "%.2f"),
                                  _f(m.get("kt_truth_mv_per_k"), "%.2f", " mV/K"))))
    rows += [
        ("re-acquisitions: count / worst",
         "%s / %s" % (_f(len(m.get("reacquisition_times_s") or ()), "%d"),
                      _f(m.get("reacquisition_time_max_s"), "%.2f", " s"))),
        ("time in TRACK while beacon visible", _f(_pct(m.get("track_fraction")), "%.1f", " %")),
        ("predictor's supervisor trips (robust gains)",
         _f(m.get("apt_predict_robust_events"), "%d")),
        ("over-voltage error RMS / max",
         "%s / %s" % (_f(ovr, "%.1f"), _f(ovm, "%.1f", " mV"))),
        ("over-voltage error uncorrected max",
         _f(m.get("overvoltage_error_uncorrected_max_mv"), "%.0f", " mV")),
        ("BER chosen / best (worst 10 s step)",
         _f(m.get("ber_ratio_chosen_to_best_max"), "%.3g", " x")),
        ("BER ratio over the session: tracking / with sweeps",
         "%s / %s" % (_f(m.get("ber_ratio_session"), "%.3g"),
                      _f(m.get("ber_ratio_session_with_sweeps"), "%.3g", " x"))),
        ("comparator calibration time", _f(m.get("comparator_calibration_s"), "%.2f", " s")),
        ("link lock time (BER <= 1e-3 held 1 s; framer LOCKED)",
         "%s (%s)" % (_f(m.get("link_lock_time_s_sustained"), "%.2f", " s"),
                      _f(m.get("link_lock_time_s_framer"), "%.2f", " s"))),
        ("packets ok / CRC errors (PER)",
         "%s / %s (%s)" % (_f(ok, "%d"), _f(crc, "%d"), _f(_pct(per), "%.2f", " %"))),
        ("deadline misses / task faults / boots",
         "%s / %s / %s" % (_f(m.get("deadline_misses"), "%d"), _f(m.get("task_faults"), "%d"),
                           _f(m.get("boots"), "%d"))),
        ("simulated / wall time",
         "%s / %s" % (_f(m.get("sim_duration_s"), "%.1f", " s"),
                      _f(m.get("wall_time_s"), "%.1f", " s"))),
        ("speed: wall / CPU time",
         "%s / %s%s" % (_f(m.get("sim_speed_x_realtime"), "%.0f"),
                        _f(m.get("sim_speed_x_realtime_cpu"), "%.0f", " x real time"),
                        " (%s kernels)" % m["sim_kernels"] if m.get("sim_kernels") else "")),
    ]
    return rows


def _pct(x):
    return None if x is None else 100.0 * x


def summary_table(m, title=None):
    rows = summary_rows(m)
    w = max(len(r[0]) for r in rows)
    lines = []
    if title:
        lines.append(title)
    lines.append("  %-*s  %s" % (w, "figure", "value"))
    lines.append("  %s  %s" % ("-" * w, "-" * 24))
    for label, val in rows:
        lines.append("  %-*s  %s" % (w, label, val))
    return "\n".join(lines)


def _fmt_value(v):
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return "%d" % v
    return "%.4g" % v


def _bound_text(k, op, bound):
    """``goal <= 5``, or with issue 14's goal beside its bar ``bar <= 4, issue 14 goal
    <= 3``."""
    st = metrics.STRETCH.get(k)
    if st is None:
        return "goal %s %g" % (op, bound)
    return "bar %s %g, issue 14 goal %s %g" % (op, bound, op, st)


def verdict_lines(m):
    """One line per goal, then the overall ``VERDICT:`` line; (lines, n_failed)."""
    lines = []
    nfail = 0
    w = max(len(k) for k in metrics.GOALS)
    for k, v, op, bound, holds in metrics.verdict(m):
        if not holds:
            nfail += 1
        lines.append("  %-4s %-*s = %-9s (%s)" % ("ok" if holds else "FAIL", w, k,
                                                 _fmt_value(v), _bound_text(k, op, bound)))
    lines.append("VERDICT: PASS" if nfail == 0 else "VERDICT: FAIL (%d goal%s)"
                 % (nfail, "" if nfail == 1 else "s"))
    return lines, nfail


# ============================================================================ timeline
def timeline(res, s=None):
    """[(t, source, severity, what, detail)] sorted by simulated time.

    Sources: ``obc`` (telecommands sent, with their verification), ``payload``
    (events, tagged with the boot number when there was more than one), ``fault``
    (injected by the scenario), ``world`` (beacon/uplink on/off, 20° crossings).
    """
    if s is None:
        s = series(res)
    rows = []
    ver = {}
    for r in res.obc.reports:
        seq = r.get("tc_seq")
        ver.setdefault(seq, []).append("%s %s%s" % (r.get("stage"), "ok" if r.get("ok") else
                                                    "FAILED", (" (%s)" % r["reason"])
                                                    if r.get("reason") else ""))
    for t, op, seq in res.obc.sent:
        rows.append((t, "obc", "", "TC %s" % (BY_OPCODE[op].name if op in BY_OPCODE else "0x%02X" % op),
                     "seq %d: %s" % (seq, ", ".join(ver.get(seq, ["no verification"])))))
    multi = len(s["offsets"]) > 1
    for t, boot, e in s["events"]:
        src = "payload#%d" % (boot + 1) if multi else "payload"
        rows.append((t if t is not None else float("nan"), src, e.get("severity", ""),
                     e.get("name", "?"), e.get("text", "")))
    for t, kind, arg in s["faults"]:
        rows.append((t, "fault", "", kind, "" if arg is None else repr(arg)))
    prev = None
    for t, v in zip(s["f_t"], s["f_vis"], strict=True):
        if prev is not None and v != prev:
            rows.append((t, "world", "", "beacon/uplink %s" % ("on" if v else "off"), ""))
        prev = v
    w = res.world
    if w.duration_s > 0:
        for t, what in ((w.pass_start, "rises through"),
                        (w.pass_start + w.duration_s, "sets through")):
            if t <= res.sim_s:
                rows.append((t, "world", "", "elevation %s 20°" % what, "range %.0f km" % (
                    w.pass_.range_m(t - w.pass_start - w.duration_s / 2.0) / 1e3)))
    rows.sort(key=lambda r: (r[0] if r[0] == r[0] else 1e18))
    return rows


def _first_event(s, name, text_has=None):
    for t, _b, e in s["events"]:
        if e.get("name") == name and (text_has is None or text_has in e.get("text", "")):
            return t
    return None


def narrative(res, m, s):
    """A few bullet lines of what happened in the pass (Markdown)."""
    sc = res.scenario
    w = res.world
    out = []
    out.append("Pass: maximum elevation %.0f°, %s weather, %.1f s above 20° (rising through 20° "
               "at %.1f s); coarse pointing error %.2f° at session start."
               % (sc.get("max_elevation_deg", 90.0), sc.get("weather", "clear"), w.duration_s,
                  w.pass_start, m.get("coarse_error_start_deg") or float("nan")))
    vis = [t for t, v in zip(s["f_t"], s["f_vis"], strict=True) if v]
    if vis:
        drops = _dropouts(s)
        out.append("Beacon/uplink visible from %.1f s to %.1f s%s." % (
            vis[0], vis[-1], ("; drop-outs: " + ", ".join("%.1f–%.1f s" % ab for ab in drops))
            if drops else ""))
    else:
        out.append("The beacon was never visible in this run.")
    t_tr = _first_event(s, "APT_STATE", "-> TRACK")
    losses = sum(1 for _t, _b, e in s["events"] if e.get("name") == "APT_STATE"
                 and "-> LOST" in e.get("text", ""))
    if t_tr is not None:
        out.append("APT: first TRACK at %.2f s (acquisition %s s after the beacon); in TRACK "
                   "%.1f %% of the visible time; %d loss%s of track; residual %s µrad RMS "
                   "(loop off: %s µrad)." % (
                       t_tr, _f(m.get("acquisition_time_s"), "%.2f"),
                       100.0 * (m.get("track_fraction") or 0.0), losses,
                       "" if losses == 1 else "es", _f(m.get("track_residual_rms_urad"), "%.2f"),
                       _f(m.get("track_residual_rms_urad_loop_off"), "%.0f")))
    else:
        seen = sorted({a for a in s["f_apt"] if a >= 0})
        names = ", ".join(APT_STATES[a] for a in seen if a < len(APT_STATES))
        out.append("APT never reached TRACK (states seen: %s)." % (names or "none"))
    out.append("Platform (ADCS) coarse error: %s° at session start, %s° at the end, below "
               "0.25° after %s s." % (_f(m.get("coarse_error_start_deg"), "%.2f"),
                                     _f(m.get("coarse_error_end_deg"), "%.2f"),
                                     _f(m.get("coarse_below_0p25deg_s"), "%.1f")))
    cals = _events_named(s, "COMP_CALIBRATED")
    recal = _events_named(s, "COMP_RECALIBRATE")
    if cals:
        out.append("Comparator: %d calibration%s (%s)%s." % (
            len(cals), "" if len(cals) == 1 else "s", _first_few(["%.1f s: %s" % c for c in cals]),
            ("; %d recalibration request%s (%s)" % (
                len(recal), "" if len(recal) == 1 else "s",
                _first_few(["%.1f s %s" % r for r in recal]))) if recal else ""))
    else:
        out.append("Comparator: never calibrated.")
    sig = [(lk, sg) for lk, sg in zip(s["w_link"], s["w_signal"], strict=True) if sg]
    locked = sum(1 for lk, _ in sig if lk == LINK_LOCKED)
    n_link = sum(1 for _t, _b, e in s["events"] if e.get("name") == "LINK_STATE")
    t_lock = _first_event(s, "LINK_STATE", "-> LOCKED")
    ok, crc = m.get("packets_ok") or 0, m.get("packets_crc_error") or 0
    out.append("Framer: first LOCKED at %s s; LOCKED %.1f %% of the time the uplink was on; "
               "%d link-state changes; %d packets ok, %d CRC errors (PER %.2f %%)." % (
                   _f(t_lock, "%.2f"), 100.0 * locked / len(sig) if sig else 0.0, n_link, ok,
                   crc, 100.0 * crc / (ok + crc) if ok + crc else 0.0))
    bias_ev = [(t, e.get("name"), e.get("text", "")) for t, _b, e in s["events"]
               if str(e.get("name", "")).startswith("BIAS_")]
    out.append("SiPM bias: over-voltage error %s mV RMS, %s mV max (bias frozen: %s mV max)%s." % (
        _f(m.get("overvoltage_error_rms_mv"), "%.1f"),
        _f(m.get("overvoltage_error_max_mv"), "%.1f"),
        _f(m.get("overvoltage_error_uncorrected_max_mv"), "%.0f"),
        ("; " + "; ".join("%.1f s %s" % (t, n) for t, n, _x in bias_ev)) if bias_ev else ""))
    overruns = _events_named(s, "TASK_OVERRUN")
    out.append("Scheduler: %s deadline miss%s, %s task fault%s, %d overrun event%s%s." % (
        _f(m.get("deadline_misses"), "%d"), "" if m.get("deadline_misses") == 1 else "es",
        _f(m.get("task_faults"), "%d"), "" if m.get("task_faults") == 1 else "s",
        len(overruns), "" if len(overruns) == 1 else "s",
        (" (" + _first_few(["%s at %.1f s" % (x, t) for t, x in overruns], 6, ", ") + ")")
        if overruns else ""))
    if len(s["offsets"]) > 1:
        out.append("Boots: %d (payload computer restarted at %s s)." % (
            len(s["offsets"]), ", ".join("%.1f" % t for t in s["offsets"][1:])))
    if s["faults"]:
        out.append("Faults injected: " + "; ".join(
            "%.1f s %s%s" % (t, k, "" if a is None else " %r" % (a,)) for t, k, a in s["faults"])
            + ".")
    return out


def _first_few(items, n=3, sep="; "):
    if len(items) <= n:
        return sep.join(items)
    return sep.join(items[:n]) + sep + "… %d more" % (len(items) - n)


def _events_named(s, name):
    return [(t, e.get("text", "")) for t, _b, e in s["events"] if e.get("name") == name]


def _dropouts(s):
    """Beacon-off intervals strictly inside the visible part of the pass."""
    vis = [t for t, v in zip(s["f_t"], s["f_vis"], strict=True) if v]
    if not vis:
        return []
    return [(a, b) for a, b in s["beacon_off"] if a > vis[0] and b < vis[-1]]


# ============================================================================ report file
def write_report(path, res, m, scenario, seed, figures=(), s=None, overrides=None):
    """Write the Markdown report; ``figures`` = [(png path, caption)] from sim/run/plots.py."""
    if s is None:
        s = series(res)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    vlines, nfail = verdict_lines(m)
    L = []
    L.append("# Simulated pass `%s` (seed %s)" % (scenario, seed))
    L.append("")
    if overrides:
        L.append("Overrides: " + ", ".join("`%s` = %r" % kv for kv in sorted(overrides.items())))
        L.append("")
    L.append("**%s** — generated by `python -m sim`; figures are the simulator's truth unless "
             "marked HK (telemetry the OBC received). Metric definitions: `sim/run/metrics.py`, "
             "docs/simulator.md." % vlines[-1])
    L.append("")
    L.append("## Goals")
    L.append("")
    L.append("| goal | value | bound (bar) | issue 14 goal | holds |")
    L.append("|---|---|---|---|---|")
    for k, v, op, bound, holds in metrics.verdict(m):
        st = metrics.STRETCH.get(k)
        L.append("| `%s` | %s | %s %g | %s | %s |" % (
            k, _fmt_value(v), op, bound, "" if st is None else "%s %g" % (op, st),
            "yes" if holds else "**NO**"))
    L.append("")
    L.append("## Summary")
    L.append("")
    L.append("| figure | value |")
    L.append("|---|---|")
    for label, val in summary_rows(m):
        L.append("| %s | %s |" % (label, val))
    L.append("")
    L.append("## What happened")
    L.append("")
    for line in narrative(res, m, s):
        L.append("- " + line)
    L.append("")
    if figures:
        L.append("## Figures")
        L.append("")
        for p, caption in figures:
            rel = os.path.relpath(os.path.abspath(p), d)
            L.append("### %s" % caption)
            L.append("")
            L.append("![%s](%s)" % (caption, rel.replace(os.sep, "/")))
            L.append("")
    L.append("## Events timeline")
    L.append("")
    L.append("Simulated seconds since the first boot. Payload events carry onboard time, "
             "shifted by each boot's start.")
    L.append("")
    L.append("| t, s | source | severity | event | detail |")
    L.append("|---:|---|---|---|---|")
    rows = timeline(res, s)
    for t, src, sev, what, detail in rows[:TIMELINE_MAX_ROWS]:
        L.append("| %.3f | %s | %s | %s | %s |" % (t, src, sev, _md(what), _md(detail)))
    if len(rows) > TIMELINE_MAX_ROWS:
        L.append("")
        L.append("(%d more rows not shown)" % (len(rows) - TIMELINE_MAX_ROWS))
    L.append("")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(L))
    return path


def _md(x):
    return str(x).replace("|", "\\|").replace("\n", " ")
