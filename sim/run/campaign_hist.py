"""The campaign's histogram figure (``DIR/campaign_hist.png``, sim/run/campaign.py): one
panel per figure with its goal, the median and the p95."""

import math

from sim.run import metrics

# Panels of the histogram figure: the goals, then a few context figures.
HIST_KEYS = tuple(metrics.GOALS) + tuple(
    k for k in ("packet_error_rate", "coarse_below_0p25deg_s", "track_residual_rms_urad_beacon",
                "reacquisition_time_max_s", "sim_speed_x_realtime_cpu")
    if k not in metrics.GOALS)



def write_histograms(runs, dist, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = HIST_KEYS
    ncol = 4
    nrow = int(math.ceil(len(keys) / float(ncol)))
    fig, axs = plt.subplots(nrow, ncol, figsize=(4.0 * ncol, 2.9 * nrow), dpi=90)
    flat = [a for row in axs for a in row] if nrow > 1 else list(axs)
    n_ok = sum(1 for r in runs if r.get("metrics") is not None)
    for ax, k in zip(flat, keys, strict=False):
        vals = [r["metrics"].get(k) for r in runs if r.get("metrics") is not None]
        missing = len(vals)
        vals = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
        missing -= len(vals)
        goal = metrics.GOALS.get(k)
        title = k
        off_scale = False
        if vals:
            lo, hi = min(vals), max(vals)
            log = lo > 0 and hi / lo > 50.0
            if k in ("deadline_misses", "boots", "task_faults"):
                bins = [b - 0.4 + 0.8 * j for b in range(int(lo), int(hi) + 1) for j in (0, 1)]
                ax.set_xlim(int(lo) - 1.5, max(int(hi), int(lo) + 2) + 1.5)
            elif log:
                bins = [lo * (hi / lo) ** (i / 20.0) for i in range(21)]
                ax.set_xscale("log")
            elif hi - lo > 1e-9 * max(1.0, abs(hi)):
                bins = 20
            else:  # every pass gave the same value: one narrow bar in a wider view
                view = max(abs(lo) * 0.2, 0.5)
                bins = [lo - view / 40.0, lo + view / 40.0]
                ax.set_xlim(lo - view, lo + view)
            ax.hist(vals, bins=bins, color="tab:blue", alpha=0.8)
            d = dist.get(k, {})
            if d.get("median") is not None:
                ax.axvline(d["median"], color="k", lw=1.0, label="median")
            if d.get("p95") is not None:
                ax.axvline(d["p95"], color="k", ls="--", lw=1.0, label="p95")
            if goal is not None:
                # The goal is always drawn on scale: the view widens to include it.
                g = goal[1]
                x0, x1 = ax.get_xlim()
                if log and g > 0:
                    x0, x1 = min(x0, g / 1.5), max(x1, g * 1.5)
                elif not log:
                    pad = 0.05 * (max(x1, g) - min(x0, g) or 1.0)
                    x0, x1 = min(x0, g - pad), max(x1, g + pad)
                else:  # a goal <= 0 cannot sit on a log axis
                    off_scale = True
                ax.set_xlim(x0, x1)
                if not off_scale:
                    ax.axvline(g, color="tab:red", lw=1.5, label="goal %s %g" % goal)
        else:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        if goal is not None:
            met = dist.get(k, {}).get("met")
            title += "\ngoal %s %g%s: met by %s/%d passes" % (
                goal[0], goal[1], " (off scale)" if off_scale else "", met, n_ok)
        if missing:
            title += " (%d n/a)" % missing
        ax.set_title(title, fontsize=8)
        ax.set_ylabel("passes (count)", fontsize=7)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper right")
    for ax in flat[len(keys):]:
        ax.axis("off")
    fig.suptitle("Monte-Carlo campaign: %d passes (%d completed)" % (len(runs), n_ok), fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
