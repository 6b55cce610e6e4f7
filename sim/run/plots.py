"""Figures of one simulated pass (issue 7): PNG plots drawn from the series of
sim/run/series.py with matplotlib (Agg backend, imported lazily).  CPython only.

Every panel shades the time the ground beacon/uplink was off after the session start (grey)
and marks injected faults (dashed red lines).
"""

import math
import os

from sim import linkbudget
from sim.pointing import ADCS_FEEDBACK_ERROR_MAX_RAD
from sim.run import metrics
from sim.run.series import series
from sim.run.tmview import (
    APT_STATES,
    APT_TRACK,
    BIAS_ACTIVE,
    BIAS_HOLD,
    COMP_STATES,
    COMP_TRACK,
    LINK_STATES,
)

# Reference lines.  Paper Table 1: received power 150 nW (fog, 20°) ... 1.7 µW (zenith).
TABLE1_RX_NW = ((150.0, "150 nW"), (1700.0, "1.7 µW (Table 1)"))
# DESIGN §5: the ADCS reaches <= 0.25° with payload feedback.
ADCS_FEEDBACK_DEG = math.degrees(ADCS_FEEDBACK_ERROR_MAX_RAD)
BER_USABLE = metrics.BER_USABLE

FIGURES = (
    ("link_budget.png", "Link budget over the pass (cf. paper Fig. 5)"),
    ("pointing.png", "Spot deviation: true residual and the camera's measurement"),
    ("fsm.png", "FSM angles and coarse (platform) pointing error"),
    ("thermal_bias.png", "Temperature, SiPM bias and over-voltage error"),
    ("comparator.png", "Comparator level and BER at the chosen and best level"),
    ("packets.png", "Packets, PER and framer link state per second"),
    ("cpu_load.png", "Scheduler CPU load per task"),
)


# ============================================================================ drawing
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _decorate(ax, s, label=False):
    """Shade beacon-off time, mark faults and boots, grid."""
    for i, (a, b) in enumerate(s["beacon_off"]):
        ax.axvspan(a, b, color="0.85", zorder=0, lw=0,
                   label="beacon/uplink off" if (label and i == 0) else None)
    for i, (t, _kind, _arg) in enumerate(s["faults"]):
        ax.axvline(t, color="tab:red", ls="--", lw=0.9, alpha=0.8,
                   label="fault injected" if (label and i == 0) else None)
    for i, t in enumerate(s["boot_times"][1:]):
        ax.axvline(t, color="k", ls=":", lw=1.0,
                   label="payload reboot" if (label and i == 0) else None)
    ax.grid(True, alpha=0.3)
    ax.set_xlim(0, max(1.0, s["t_end"]))


def _legend(ax, **kw):
    """ax.legend(**kw) when the axes has labelled artists (no warning on empty panels)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _title(s, what):
    sc = s["scenario"]
    return "%s: %s (max el %.0f°, %s, seed %s)" % (
        sc.get("name", "?"), what, sc.get("max_elevation_deg", 90.0),
        sc.get("weather", "clear"), sc.get("seed", "?"))


def _state_axis(ax, t, states, names, color="tab:purple"):
    ax.step(t, states, where="post", color=color, lw=1.2)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=7)
    ax.set_ylim(-0.5, len(names) - 0.5)


def _masked(xs, keep):
    return [x if k else float("nan") for x, k in zip(xs, keep, strict=True)]


def _robust_lim(vals, q=0.995, floor=1.0):
    v = sorted(abs(x) for x in vals if x == x)
    if not v:
        return floor
    return max(floor, 1.2 * v[min(len(v) - 1, int(q * len(v)))])


def plot_link_budget(s, path):
    plt = _plt()
    lb = s["lb"]
    fig, axs = plt.subplots(3, 1, figsize=(9, 9), sharex=True, dpi=100)
    ax = axs[0]
    ax.plot(lb["t"], lb["el"], color="tab:blue", label="elevation")
    ax.set_ylabel("elevation, deg", color="tab:blue")
    ax.axhline(linkbudget.MIN_ELEVATION_DEG, color="tab:blue", ls=":", lw=0.8,
               label="%g° pass limit (DESIGN §5)" % linkbudget.MIN_ELEVATION_DEG)
    ax2 = ax.twinx()
    ax2.plot(lb["t"], lb["range_km"], color="tab:orange", label="range")
    ax2.set_ylabel("range, km", color="tab:orange")
    ax.set_title(_title(s, "link budget (cf. paper Fig. 5)"), fontsize=10)
    _decorate(ax, s, label=True)
    _legend(ax, loc="upper left", fontsize=8)
    _legend(ax2, loc="upper right", fontsize=8)
    ax = axs[1]
    ax.plot(lb["t"], lb["up_loss"], color="tab:green",
            label="uplink 808 nm (50 µrad OGS pointing)")
    ax.plot(lb["t"], lb["down_loss"], color="tab:red",
            label="downlink 850 nm (simulated APT residual)")
    ax.set_ylabel("total loss, dB")
    ax.invert_yaxis()
    _decorate(ax, s)
    _legend(ax, loc="lower center", fontsize=8)
    ax = axs[2]
    up = [p * 1e9 if p > 0 else float("nan") for p in s["w_p"]]
    ax.plot(s["w_t"], up, color="tab:green", lw=1.0, label="uplink at the SiPM (truth, 100 ms)")
    ax.plot(lb["t"], [p * 1e9 for p in lb["down_p"]], color="tab:red", lw=1.0,
            label="downlink into the OGS (while tracking)")
    for i, (p_nw, txt) in enumerate(TABLE1_RX_NW):
        ax.axhline(p_nw, color="0.4", ls=":", lw=0.8,
                   label="paper Table 1 received power (zenith, 20°)" if i == 0 else None)
        ax.text(1.0, p_nw, txt, fontsize=7, va="bottom", color="0.3")
    ax.set_yscale("log")
    ax.set_ylabel("received power, nW")
    ax.set_xlabel("simulated time since the first boot, s")
    _decorate(ax, s)
    _legend(ax, loc="lower center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _pointing_selection(s):
    """Frames shown in the fine-pointing figure: TRACK, or (when the APT never tracked)
    every frame after the session start with the APT running; (mask, label)."""
    track = [a == APT_TRACK for a in s["f_apt"]]
    if any(track):
        return track, "TRACK"
    sel = [a >= 1 and t >= s["t_session"] for t, a in zip(s["f_t"], s["f_apt"], strict=True)]
    return sel, "no TRACK: every frame with the APT on"


def _zoom_window(s, sel, length_s=2.0):
    """(t0, t1) of two seconds in the middle of the selected frames, or None."""
    tr = [t for t, k in zip(s["f_t"], sel, strict=True) if k]
    if not tr:
        return None
    mid = tr[len(tr) // 2]
    return mid, mid + length_s


def plot_pointing(s, path):
    plt = _plt()
    fig = plt.figure(figsize=(9, 11), dpi=100)
    gs = fig.add_gridspec(5, 1, height_ratios=[3, 2.2, 1, 0.35, 2.6], hspace=0.3)
    ax0 = fig.add_subplot(gs[0])
    ax1 = fig.add_subplot(gs[1], sharex=ax0)
    ax2 = fig.add_subplot(gs[2], sharex=ax0)
    ax3 = fig.add_subplot(gs[4])
    sel, what = _pointing_selection(s)
    # 1) |true residual| per second (TRACK): 5-95 % band and RMS; the camera's own
    #    measurement from housekeeping (1 Hz) on top.
    t_s, lo, hi, rms = [], [], [], []
    by_s = {}
    for t, k, r in zip(s["f_t"], sel, s["f_res"], strict=True):
        if k:
            by_s.setdefault(int((t - 1e-6) // 1.0), []).append(r)
    for k in sorted(by_s):
        v = sorted(by_s[k])
        t_s.append(k + 1.0)
        lo.append(v[int(0.05 * (len(v) - 1))])
        hi.append(v[int(0.95 * (len(v) - 1))])
        rms.append(math.sqrt(sum(x * x for x in v) / len(v)))
    ax = ax0
    ax.fill_between(t_s, lo, hi, step="pre", color="tab:blue", alpha=0.25, lw=0,
                    label="|true aim error| 5–95 %% per second (%s)" % what)
    ax.step(t_s, rms, where="pre", color="tab:blue", lw=1.2,
            label="true aim error RMS per second (frames)")
    h = s["hk"]
    # the camera's measurement, in the same frames' state (TRACK unless it never tracked)
    meas = [math.hypot(x, y) if (what != "TRACK" or st == APT_TRACK) else float("nan")
            for x, y, st in zip(h["res_x"], h["res_y"], h["apt_state"], strict=True)]
    ax.plot(h["t"], meas, ".", ms=3.5, color="k", label="measured |residual| (HK, 1 Hz)")
    g = metrics.GOALS["track_residual_rms_urad"][1]
    ax.axhline(g, color="tab:red", ls=":", lw=0.9,
               label="goal: %g µrad RMS (compare with the RMS line only)" % g)
    # every point on scale (issue 13: a 99 % limit clipped measured points)
    ax.set_ylim(0, _robust_lim(hi + rms + [x for x in meas if x == x], q=1.0, floor=15.0))
    ax.set_ylabel("spot deviation, µrad")
    ax.set_title(_title(s, "fine pointing"), fontsize=10)
    _decorate(ax, s, label=True)
    _legend(ax, loc="upper right", fontsize=7, ncol=2)
    # 2) what the loop removed: loop-off line of sight vs residual, log scale.
    ax = ax1
    ax.plot(s["f_t"], s["f_los"], lw=0.8, color="0.35", label="line of sight with the loop off")
    ax.step(t_s, rms, where="pre", lw=1.2, color="tab:blue",
            label="residual RMS per second (%s)" % what)
    ax.set_yscale("log")
    ax.set_ylabel("µrad")
    _decorate(ax, s)
    _legend(ax, loc="center right", fontsize=7)
    # 3) APT state.
    ax = ax2
    _state_axis(ax, s["f_t"], [max(a, 0) for a in s["f_apt"]], APT_STATES)
    ax.set_ylabel("APT")
    ax.set_xlabel("simulated time since the first boot, s")
    _decorate(ax, s)
    # 4) zoom: two seconds of the 100 Hz truth in mid-pass.
    ax = ax3
    zw = _zoom_window(s, sel)
    if zw:
        t0, t1 = zw
        sel = [i for i, t in enumerate(s["f_t"]) if t0 <= t <= t1]
        ax.plot([s["f_t"][i] for i in sel], [s["f_rx"][i] for i in sel], lw=0.9,
                marker=".", ms=2.5, label="true residual x (100 Hz)")
        ax.plot([s["f_t"][i] for i in sel], [s["f_ry"][i] for i in sel], lw=0.9,
                marker=".", ms=2.5, label="true residual y")
        hs = [i for i, t in enumerate(h["t"]) if t0 <= t <= t1]
        ax.plot([h["t"][i] for i in hs], [h["res_x"][i] for i in hs], "s", ms=6, mfc="none",
                color="tab:blue", label="measured x (HK)")
        ax.plot([h["t"][i] for i in hs], [h["res_y"][i] for i in hs], "s", ms=6, mfc="none",
                color="tab:orange", label="measured y (HK)")
        ax.set_xlim(t0, t1)
        ax.set_title("zoom on two seconds (%s)" % what, fontsize=9)
        _legend(ax, loc="upper right", fontsize=7, ncol=4)
    ax.set_ylabel("µrad")
    ax.set_xlabel("simulated time since the first boot, s")
    ax.grid(True, alpha=0.3)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def plot_fsm(s, path):
    plt = _plt()
    fig, axs = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True, dpi=100)
    ax = axs[0]
    ax.plot(s["f_t"], s["f_fx"], lw=0.8, label="FSM x")
    ax.plot(s["f_t"], s["f_fy"], lw=0.8, label="FSM y")
    rng = math.radians(2.0) * 1e3  # DESIGN §5: FSM ±2° optical range, in mrad
    peak = max([abs(v) for v in s["f_fx"] + s["f_fy"]] or [0.0])
    if peak > 0.75 * rng:  # draw the stops only when the mirror gets near them
        ax.axhline(rng, color="tab:red", ls=":", lw=0.8, label="±2° optical range")
        ax.axhline(-rng, color="tab:red", ls=":", lw=0.8)
    ax.set_ylabel("deflection, mrad (range ±%.1f)" % rng)
    ax.set_title(_title(s, "FSM and platform pointing"), fontsize=10)
    _decorate(ax, s, label=True)
    _legend(ax, loc="lower right", fontsize=8)
    ax = axs[1]
    ax.plot(s["f_t"], s["f_coarse_deg"], color="tab:green", label="coarse (ADCS) error")
    ax.axhline(ADCS_FEEDBACK_DEG, color="tab:green", ls=":", lw=0.8,
               label="%g° (ADCS with feedback)" % ADCS_FEEDBACK_DEG)
    ax.set_ylabel("coarse error, deg")
    ax.set_xlabel("simulated time since the first boot, s")
    _decorate(ax, s)
    _legend(ax, loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_thermal_bias(s, path):
    plt = _plt()
    fig, axs = plt.subplots(4, 1, figsize=(9, 11), sharex=True, dpi=100)
    h = s["hk"]
    ax = axs[0]
    ax.plot(s["w_t"], s["w_tdie"], color="tab:red", label="die temperature (truth)")
    ax.plot(h["t"], h["t_c"], ".", ms=3, color="tab:orange", label="sensor in use (HK)")
    ax.plot(h["t"], h["t_est_c"], lw=1.0, color="k", alpha=0.7, label="bias loop estimate (HK)")
    ax.set_ylabel("temperature, °C")
    ax.set_title(_title(s, "temperature and SiPM bias"), fontsize=10)
    _decorate(ax, s, label=True)
    _legend(ax, loc="best", fontsize=8)
    ax = axs[1]
    on = [b in (BIAS_ACTIVE, BIAS_HOLD) for b in s["w_bstate"]]  # loop ACTIVE/HOLD
    ideal = [(vbr + vt) if vt is not None else float("nan")
             for vbr, vt in zip(s["w_vbr"], s["w_vtarget"], strict=True)]
    vb_on = _masked(s["w_vbias"], on)
    ax.plot(h["t"], h["v_cmd"], ".", ms=2.5, color="tab:purple", zorder=1,
            label="bias command (HK)")
    ax.plot(s["w_t"], vb_on, color="tab:blue", lw=1.5, zorder=3, label="bias supply (truth)")
    ax.plot(s["w_t"], _masked(ideal, on), color="k", ls="--", lw=0.8, zorder=4,
            label="ideal: V_br(T_die) + target over-voltage")
    vv = [v for v in vb_on + _masked(ideal, on) if v == v]
    if vv:
        pad = max(0.05, 0.15 * (max(vv) - min(vv)))
        ax.set_ylim(min(vv) - pad, max(vv) + pad)
    ax.set_ylabel("bias, V")
    _decorate(ax, s)
    _legend(ax, loc="best", fontsize=8)
    ax = axs[2]
    ax.plot(s["w_t"], s["w_ov_err_mv"], color="tab:blue", lw=0.8,
            label="over-voltage error, loop on (truth)")
    errs = [e for e in s["w_ov_err_mv"] if e == e]
    for key, ls, what in (("overvoltage_error_rms_mv", ":", "RMS"),
                          ("overvoltage_error_max_mv", "--", "max")):
        b = metrics.GOALS[key][1]
        ax.axhline(b, color="tab:red", ls=ls, lw=0.7, label="goal %s %g mV" % (what, b))
        ax.axhline(-b, color="tab:red", ls=ls, lw=0.7)
    # both goal lines on scale (issue 13: the 60 mV line was off the axis)
    lim = max(_robust_lim(errs, q=1.0, floor=25.0),
              1.1 * metrics.GOALS["overvoltage_error_max_mv"][1])
    ax.set_ylim(-lim, lim)
    ax.set_ylabel("error, mV")
    _decorate(ax, s)
    _legend(ax, loc="lower right", fontsize=8, ncol=3)
    ax = axs[3]
    ax.plot(s["w_t"], s["w_ov_unc_mv"], color="0.4", lw=1.0,
            label="over-voltage error with the bias frozen at loop start")
    ax.set_ylabel("error, mV")
    ax.set_xlabel("simulated time since the first boot, s")
    _decorate(ax, s)
    _legend(ax, loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_comparator(s, path):
    plt = _plt()
    fig, axs = plt.subplots(4, 1, figsize=(9, 10.5), sharex=True, dpi=100,
                            gridspec_kw={"height_ratios": [3, 3, 1.6, 1]})
    bl = s["bl"]
    ax = axs[0]
    ax.fill_between(bl["t"], bl["lo_code"], bl["hi_code"], color="tab:green", alpha=0.2,
                    lw=0, label="window BER ≤ 1e-3 (model)")
    ax.plot(s["w_t"], s["w_code"], color="tab:blue", lw=0.8, label="chosen level (DAC code)")
    ax.plot(bl["t"], bl["best_code"], ".", ms=2.5, color="tab:green",
            label="best level (model, 1 s)")
    ax.set_ylabel("comparator DAC code")
    codes = [c for c in s["w_code"]] + [c for c in bl["hi_code"] if c == c]
    if codes:
        ax.set_ylim(0, min(4095, max(codes) * 1.1 + 10))
    ax.set_title(_title(s, "comparator level"), fontsize=10)
    _decorate(ax, s, label=True)
    _legend(ax, loc="upper right", fontsize=8)
    ax = axs[1]
    chosen = [b if (sig and b < 0.5) else float("nan")
              for b, sig in zip(s["w_ber"], s["w_signal"], strict=True)]
    ax.plot(s["w_t"], chosen, color="tab:blue", lw=0.8,
            label="BER at the level set (incl. the ±dither probes)")
    ax.plot(bl["t"], bl["ber_best"], color="tab:green", lw=1.2, label="BER at best level")
    ax.axhline(BER_USABLE, color="tab:red", ls=":", lw=0.8, label="%g" % BER_USABLE)
    ax.set_yscale("log")
    ax.set_ylabel("BER (model truth)")
    _decorate(ax, s)
    _legend(ax, loc="upper right", fontsize=8)
    ax = axs[2]
    ratio = [c / b if (b > 0 and c == c) else float("nan")
             for c, b in zip(bl["ber_chosen"], bl["ber_best"], strict=True)]
    tracking = set(t for t, cs in zip(s["w_t"], s["w_cstate"], strict=True) if cs == COMP_TRACK)
    ratio_tr = [r if t in tracking else float("nan")
                for t, r in zip(bl["t"], ratio, strict=True)]
    ax.plot(bl["t"], ratio_tr, color="tab:blue", lw=1.0,
            label="chosen / best, chosen = tracking centre, no dither (comparator TRACK, 1 s)")
    g = metrics.GOALS["ber_ratio_chosen_to_best_max"][1]
    ax.axhline(g, color="tab:red", ls=":", lw=0.8, label="goal %g" % g)
    rmax = max([r for r in ratio_tr if r == r] or [1.0])
    if rmax > 10.0:
        ax.set_yscale("log")
    else:
        ax.set_ylim(0.9, max(2.5, 1.1 * rmax))
    ax.set_ylabel("BER ratio")
    _decorate(ax, s)
    _legend(ax, loc="upper right", fontsize=7)
    ax = axs[3]
    _state_axis(ax, s["w_t"], [max(c, 0) for c in s["w_cstate"]], COMP_STATES)
    ax.set_ylabel("comp.")
    ax.set_xlabel("simulated time since the first boot, s")
    _decorate(ax, s)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_packets(s, path):
    plt = _plt()
    fig, axs = plt.subplots(3, 1, figsize=(9, 8), sharex=True, dpi=100,
                            gridspec_kw={"height_ratios": [3, 2, 1]})
    ax = axs[0]
    ax.step(s["s_t"], [v if v > 0 else float("nan") for v in s["s_ok"]], where="pre",
            color="tab:green", label="packets ok / s")
    ax.step(s["s_t"], [v if v > 0 else float("nan") for v in s["s_crc"]], where="pre",
            color="tab:red", label="CRC errors / s")
    ax.set_yscale("log")
    ax.set_ylabel("packets per second")
    ax.set_title(_title(s, "framer packets"), fontsize=10)
    _decorate(ax, s, label=True)
    _legend(ax, loc="center right", fontsize=8)
    ax = axs[1]
    ax.step(s["s_t"], [p if p and p > 0 else float("nan") for p in s["s_per"]], where="pre",
            color="tab:purple")
    ax.set_yscale("log")
    ax.set_ylabel("PER per second")
    _decorate(ax, s)
    ax = axs[2]
    _state_axis(ax, s["w_t"], [max(v, 0) for v in s["w_link"]], LINK_STATES)
    ax.set_ylabel("link")
    ax.set_xlabel("simulated time since the first boot, s")
    _decorate(ax, s)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_cpu(s, path):
    plt = _plt()
    fig, ax = plt.subplots(1, 1, figsize=(9, 4.5), dpi=100)
    cpu = s["cpu"]
    names = sorted(cpu, key=lambda n: -sum(v for _, v in cpu[n]))
    if names:
        # common time base: the HK instants of the longest series
        ts = sorted({t for n in names for t, _ in cpu[n]})
        idx = {t: i for i, t in enumerate(ts)}
        stack = []
        for n in names:
            row = [0.0] * len(ts)
            for t, v in cpu[n]:
                row[idx[t]] = max(0.0, v) * 100.0
            stack.append(row)
        ax.stackplot(ts, stack, labels=names, step="pre", alpha=0.85)
        total = [sum(col) for col in zip(*stack, strict=True)]
        ax.set_ylim(0, max(0.5, 1.3 * max(total)))
    for i, (t, name, k) in enumerate(s["deadline_miss_marks"]):
        ax.axvline(t, color="k", lw=1.0, label="deadline miss (HK)" if i == 0 else None)
        ax.text(t, ax.get_ylim()[1] * 0.97, " %s ×%d" % (name, k), fontsize=7, va="top",
                rotation=90)
    ax.set_ylabel("CPU load, % of simulated time")
    ax.set_xlabel("simulated time since the first boot, s")
    mips = s.get("cost_mips")
    what = ("declared per-task cost at %g MIPS, sim/run/costmodel.py" % mips
            if mips is not None else "host CPU time charged to virtual time")
    ax.set_title(_title(s, "scheduler CPU load (%s)" % what), fontsize=10)
    _decorate(ax, s, label=True)
    _legend(ax, loc="upper left", fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


_DRAW = {
    "link_budget.png": plot_link_budget,
    "pointing.png": plot_pointing,
    "fsm.png": plot_fsm,
    "thermal_bias.png": plot_thermal_bias,
    "comparator.png": plot_comparator,
    "packets.png": plot_packets,
    "cpu_load.png": plot_cpu,
}


def write_all(res, out_dir, s=None):
    """Draw every figure of :data:`FIGURES` into ``out_dir``; [(path, caption)]."""
    if s is None:
        s = series(res)
    os.makedirs(out_dir, exist_ok=True)
    out = []
    for name, caption in FIGURES:
        path = os.path.join(out_dir, name)
        _DRAW[name](s, path)
        out.append((path, caption))
    return out

