"""Fig. 5a-c of the paper: range, elevation and total downlink loss (fog) over a pass.

CPython only (matplotlib, Agg backend).  Imported lazily by ``python -m sim.linkbudget
--plot DIR`` so the link-budget core stays importable under MicroPython.
"""

import os

from sim import geometry, linkbudget


def pass_series(max_elevation_deg=90.0, step_s=1.0, min_elevation_deg=linkbudget.MIN_ELEVATION_DEG):
    """(t, range_km, elevation_deg, down_loss_fog_db) lists over the session.

    The session is the time above ``min_elevation_deg`` (paper §3.2: -164 ... +164 s for
    the zenith pass).  A pass that never reaches it is drawn above 1 deg instead.
    """
    p = geometry.Pass(max_elevation_deg)
    half = p.time_at_elevation_s(min_elevation_deg)
    if half is None:
        half = p.time_at_elevation_s(min(1.0, max_elevation_deg))
    n = int(half / step_s)
    ts = [i * step_s for i in range(-n, n + 1)]
    rng = [p.range_m(t) / 1e3 for t in ts]
    el = [p.elevation_deg(t) for t in ts]
    loss = [linkbudget.DOWNLINK.loss_at_db(p, t, linkbudget.KAPPA_FOG_DB) for t in ts]
    return ts, rng, el, loss


def write_fig5(out_dir, max_elevation_deg=90.0):
    """Write fig5a_range.png, fig5b_elevation.png, fig5c_downlink_loss.png; return paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    ts, rng, el, loss = pass_series(max_elevation_deg)
    panels = (
        ("fig5a_range.png", rng, "distance to satellite, km", "a - distance"),
        ("fig5b_elevation.png", el, "elevation, deg", "b - elevation"),
        ("fig5c_downlink_loss.png", loss, "total downlink loss (fog), dB",
         "c - total downlink loss, worst weather"),
    )
    paths = []
    for name, ys, ylabel, title in panels:
        fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=100)
        ax.plot(ts, ys, color="tab:blue")
        ax.set_xlabel("time from culmination, s")
        ax.set_ylabel(ylabel)
        ax.set_title("%s (h = %.0f km, max el %.0f deg)"
                     % (title, geometry.ALTITUDE_M / 1e3, max_elevation_deg), fontsize=9)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        path = os.path.join(out_dir, name)
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
