"""``vector-tc plan --pa-profile``: the point-ahead profile of a pass (PA_PROFILE, issue 14).

The payload computes the point-ahead from the OBC's navigation state; when that state is
stale it falls back to this profile (flight/pointahead.py, docs/point-ahead.md).  Here the
ground computes it from the pass plan (SGP4 through skyfield, ground_tools/plan.py):

    point-ahead = −2 v_rel⊥ / c

with ``v_rel`` the satellite's velocity relative to the station (skyfield's
satellite-minus-topos vector: the Earth's rotation is in it, which the on-board OBC
computation leaves out) and ⊥ normal to the station→satellite line of sight ``u``, in the
payload axes of the nominal tracking attitude: y along the orbit normal projected normal
to ``u``, x = y × u (the attitude law of docs/physics-platform.md; the payload frame of
flight/pointahead.py).  Samples are evenly spaced over the pass, at most 64 (the
command's limit), so the step is a few seconds: linear interpolation between them is
good to ~0.1 µrad.
"""

import math

from flight.pointahead import PROFILE_MAX, pack_profile

C_M_S = 299792458.0  # speed of light (exact, SI)


def _unit(a):
    n = math.sqrt(sum(x * x for x in a))
    return [x / n for x in a]


def _cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def point_ahead_urad(planner, t):
    """(x, y) µrad of the point-ahead at skyfield Time ``t`` (module doc)."""
    rel = planner._diff.at(t)
    los = [float(x) for x in rel.position.km]
    vrel = [float(x) * 1000.0 for x in rel.velocity.km_per_s]
    geo = planner.sat.at(t)
    n = _unit(_cross([float(x) for x in geo.position.km],
                     [float(x) for x in geo.velocity.km_per_s]))
    u = _unit(los)
    ey = _unit([n[i] - _dot(n, u) * u[i] for i in range(3)])
    ex = _cross(ey, u)
    k = -2.0e6 / C_M_S
    return _dot(vrel, ex) * k, _dot(vrel, ey) * k


def profile(planner, pass_, epoch, margin_s=5.0):
    """PA_PROFILE arguments {"t0", "dt", "samples"} for ``pass_`` (a planner row), from
    ``margin_s`` before its rise to ``margin_s`` after its set; onboard time = seconds
    since ``epoch`` (as the plan's script)."""
    start = pass_["_rise"].timestamp() - margin_s
    span = pass_["_set"].timestamp() + margin_s - start
    dt = float(max(1, math.ceil(span / (PROFILE_MAX - 1))))
    n = min(PROFILE_MAX, int(span // dt) + 2)
    t0 = planner.ts.from_datetime(pass_["_rise"]).tt - margin_s / 86400.0
    pts = [point_ahead_urad(planner, planner.ts.tt_jd(t0 + i * dt / 86400.0)) for i in range(n)]
    return {"t0": round(start - epoch.timestamp(), 3), "dt": dt, "samples": pack_profile(pts)}


def script_line(args):
    """The ``vector-tc run`` line that loads a profile."""
    return "send PA_PROFILE t0=%.3f dt=%g samples=0x%s" % (args["t0"], args["dt"],
                                                           args["samples"].hex())
