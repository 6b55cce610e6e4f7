"""Issue 14's figures in ``make bench``: the nominal pass's (flown once by
bench/sim_cpython.py, which passes its metrics here) against the bars of
sim/run/metrics.py GOALS with issue 14's goals beside them, and the campaign's median,
p95 and worst from the last ``python -m sim.campaign`` run (``out/campaign/campaign.json``;
not flown here: a 40-pass campaign takes a quarter of an hour).

Rows: ``issue14_<metric key>`` (nominal pass, seed 1) and
``issue14_campaign_<median|p95|worst>_<metric key>``.
"""

import json
import sys
from pathlib import Path

from sim.run import metrics

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN_JSON = ROOT / "out" / "campaign" / "campaign.json"

# The figures of issue 14's table (metrics keys) and their units.
FIGURES = (
    ("track_residual_rms_urad", "urad"),
    ("pointing_loss_db", "dB"),
    ("acquisition_time_s", "s"),
    ("overvoltage_error_rms_mv", "mV"),
    ("overvoltage_error_max_mv", "mV"),
    ("ber_ratio_chosen_to_best_max", "x"),
    # not a figure of the table: the aim error's constant part (the boresight's
    # calibration error; docs/point-ahead.md "Step 3"), beside the residual it is in
    ("track_aim_bias_urad", "urad"),
    # nor this: the k_T the flight holds at the pass's end against the unit's, what the
    # over-voltage's drift over a pass comes from (docs/calibration.md "The k_T line")
    ("kt_error_mv_per_k", "mV/K"),
    # nor this: the predictor's supervisor tripping on a calibrated mirror is a false trip
    # (docs/apt-loop.md §4 "The trip at 7 ms")
    ("apt_predict_robust_events", "trips"),
)


def pass_rows(m):
    """Rows (key, value, unit, bar, goal) of one pass's metrics."""
    rows = []
    for k, unit in FIGURES:
        v = m.get(k)
        if isinstance(v, (int, float)):
            rows.append(("issue14_" + k, v, unit, metrics.GOALS.get(k), metrics.STRETCH.get(k)))
    return rows


def campaign_rows(path=CAMPAIGN_JSON):
    """Rows of the last campaign (median, p95, worst; the campaign bars on the worst)."""
    if not path.exists():
        print("bench.issue14: no %s: run `python -m sim.campaign --passes 40 --workers 1 "
              "--seed 11` for the campaign figures" % path, file=sys.stderr)
        return []
    doc = json.loads(path.read_text())
    dist = doc.get("distributions", {})
    rows = []
    for k, unit in FIGURES:
        d = dist.get(k) or {}
        cg = metrics.CAMPAIGN_GOALS.get(k)
        for stat in ("median", "p95", "worst"):
            v = d.get(stat)
            if not isinstance(v, (int, float)):
                continue
            bar = goal = None
            if cg is not None and cg[0] == stat:
                bar, goal = (cg[1], cg[2]), cg[3]
            elif stat != "worst" and k in metrics.GOALS:  # the per-pass bar, for reference
                bar, goal = metrics.GOALS[k], metrics.STRETCH.get(k)
            rows.append(("issue14_campaign_%s_%s" % (stat, k), v, unit, bar, goal))
    n = doc.get("completed")
    if isinstance(n, int):
        rows.append(("issue14_campaign_passes", n, "", None, None))
    # how it was flown: commissioned units, or first passes with a warm-up's session lead
    rows.append(("issue14_campaign_commissioned", int(bool(doc.get("commissioned"))), "",
                 None, None))
    lead = doc.get("session_lead_s")
    if isinstance(lead, (int, float)):
        rows.append(("issue14_campaign_session_lead_s", lead, "s", None, None))
    return rows
