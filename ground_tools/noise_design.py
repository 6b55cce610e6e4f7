"""The unit's own predictor design from its measured line-of-sight jitter
(``vector-tc kf-noise``; flight side flight/apt_jitter.py; docs/calibration.md
"Commissioning", step 3; docs/apt-loop.md §4 "The unit's jitter and the design's centroid
noise").

The predictor's centroid-noise setting ``apt_kf_noise_urad`` sets how far the loop trusts
a frame's centroid against its model of the platform's jitter.  A unit that shakes more is
better served by a loop that trusts the centroid more.  Measured on the commissioned
40-pass campaign (``python -m sim.campaign --passes 40 --seed 11 --commissioned --param
apt_kf_noise_urad=V``, V = 0.8 / 1.0 / 1.25 / 1.5, and 1.8 / 2.2 on its quiet units):
each unit's best setting follows its jitter, inversely.  The rule::

    apt_kf_noise_urad = NOMINAL_NOISE_URAD * DESIGN_JITTER_URAD / J

``J`` the commissioning pass's ``apt_los_jitter`` (HK_DIAG: RMS per axis in TRACK), is
the default setting at DESIGN §5's 20 µrad RMS of jitter (14.1 µrad per axis) scaled by
the unit's jitter, clamped to the range the campaign measured.  Flown on the campaign
against the single default it lowered p95 and the worst (docs/apt-loop.md, the figures).

Refused (``accepted`` false, ``why`` said; the parameter is then left as it is):
fewer than :data:`MIN_SAMPLES` seconds sampled (the RMS's own scatter), a jitter
outside :data:`JITTER_RANGE_URAD` (no platform shakes so little or so much: a broken
estimate, or the PI law flown).
"""

import math

from flight.apt_control import LAW_PARAMS
from flight.apt_jitter import N_MAX
from flight.params import view

# The default setting (its declaration, flight/apt_control.py) and the jitter it was
# tuned at: DESIGN §5's 20 µrad RMS (0.1-10 Hz), 14.14 µrad per axis.
NOMINAL_NOISE_URAD = [view(d).default for d in LAW_PARAMS
                      if view(d).name == "apt_kf_noise_urad"][0]
DESIGN_JITTER_URAD = 20.0 / math.sqrt(2.0)
# The settings the campaign measured (docs/apt-loop.md §4): no extrapolation beyond them.
# The top, 1.8 since stop 68: the quiet units (J 7.8-10.6 µrad, where the rule gives
# 1.7-2.3) each read lower at 1.8 than at 1.5, and 7 of 8 lower than at 2.2
# (`--seed 11 --commissioned --only 0,1,3,9,10,12,27,31 --param apt_kf_noise_urad=V`).
NOISE_RANGE_URAD = (0.8, 1.8)
# Seconds of TRACK sampled at least: the RMS's relative standard error is ~1 / (2 sqrt(n))
# (two axes of n one-second samples, nearly independent at 1 s): 4.6 % at 120 s.
MIN_SAMPLES = 120
# Per axis, µrad: DESIGN §5's 20 µrad ± 50 % is 7-21 per axis; outside 2-60 no platform.
JITTER_RANGE_URAD = (2.0, 60.0)


def design(jitter_urad, samples):
    """The setting for a unit whose commissioning pass measured ``jitter_urad`` (per axis,
    µrad) over ``samples`` seconds: a dict with ``apt_kf_noise_urad`` (None when refused),
    ``accepted``, ``why``, ``se_urad`` (the jitter's standard error)."""
    if not (isinstance(jitter_urad, (int, float)) and math.isfinite(jitter_urad)):
        raise ValueError("jitter %r: not a number" % (jitter_urad,))
    if not isinstance(samples, int) or not 0 <= samples <= N_MAX:
        raise ValueError("samples %r: not 0 .. %d" % (samples, N_MAX))
    out = {"jitter_urad": jitter_urad, "samples": samples, "apt_kf_noise_urad": None,
           "accepted": False, "why": "",
           "se_urad": round(jitter_urad / (2.0 * math.sqrt(samples)), 3) if samples else None}
    lo, hi = JITTER_RANGE_URAD
    if samples < MIN_SAMPLES:
        out["why"] = "%d s of TRACK sampled, fewer than %d" % (samples, MIN_SAMPLES)
    elif not lo <= jitter_urad <= hi:
        out["why"] = "jitter %.1f urad per axis outside %g .. %g" % (jitter_urad, lo, hi)
    else:
        v = NOMINAL_NOISE_URAD * DESIGN_JITTER_URAD / jitter_urad
        v = min(NOISE_RANGE_URAD[1], max(NOISE_RANGE_URAD[0], v))
        out["apt_kf_noise_urad"] = round(v, 2)
        out["accepted"] = True
    return out


def cmd_kf_noise(args):
    from ground_tools.cliutil import Fail, verdict
    try:
        res = design(args.jitter, args.samples)
    except ValueError as e:
        raise Fail(str(e)) from None
    res["commands"] = ["vector-tc send PARAM_SET name=apt_kf_noise_urad value=%.2f"
                       % res["apt_kf_noise_urad"], "vector-tc send PARAM_SAVE"] \
        if res["accepted"] else []
    return verdict(res, "design")


def add_parser(sub):
    p = sub.add_parser(
        "kf-noise", help="the unit's predictor centroid noise from its measured jitter",
        description="The predictor's apt_kf_noise_urad for a unit from the line-of-sight "
        "jitter its commissioning pass measured (HK_DIAG apt_los_jitter and "
        "apt_los_jitter_n at the session's end).  Prints one JSON object with the "
        "commands to send; exit 0 accepted, 4 refused (see 'why'), 2 bad input.")
    p.add_argument("--jitter", type=float, required=True, metavar="URAD",
                   help="apt_los_jitter: RMS per axis, urad")
    p.add_argument("--samples", type=int, required=True, metavar="S",
                   help="apt_los_jitter_n: seconds sampled")
    p.set_defaults(fn=cmd_kf_noise)
