"""The point-ahead's TC-path maths (flight/pointahead.py, DESIGN §3.8): the point-ahead of
an OBC navigation state, its plausibility checks, and a profile's octets and checks.

Floats: run where a packet arrives (the TC path allocates anyway), never in the 10 Hz
tick.  Split from pointahead.py (its task and state, the 500-line rule); the ground tool
and the simulated OBC build PA_PROFILE with :func:`pack_profile` (re-exported there).
"""

import math
import struct

from flight.cmddict import BadArg
from hal.compat import const

C_M_S = 299792458.0  # speed of light (exact, SI)
MU_M3_S2 = 3.986004418e14  # Earth's gravitational parameter (IERS / WGS 84)
_R_MIN_M = const(6500000)  # a LEO state: |r| between ~120 km and ~2,000 km altitude (m)
_R_MAX_M = const(8400000)
ENERGY_TOL = 0.10  # |v|^2 |r| / mu within 10 % of 1: a near-circular orbit
RADIAL_TOL = 0.05  # |r.v| / (|r||v|): flight-path angle under ~3 deg (e < ~0.05)
Q_NORM_TOL = 1e-3  # |q| within 0.1 % of 1 (a single-precision quaternion passes)
NAV_AHEAD_S = 1.0  # a state up to 1 s ahead of the onboard clock (time-sync tolerance)
PA_MAX_U = const(6000)  # |point-ahead| bound in 10 nrad units: 2 * 8.5 km/s / c = 57 µrad
PROFILE_MAX = const(64)  # samples of a profile (256 octets: the TC's bytes limit)
RATE_MAX_U = const(200)  # |d point-ahead / dt| bound, 10 nrad/s: 2 µrad/s (≥ 4× a pass's)
R_E_M = 6378137.0  # WGS-84 equatorial radius (m): the largest Earth, the widest limb
# The line of sight may lie this far beyond the limb: a station on the horizon is on the
# limb itself (and a mountain site above the ellipsoid), and the platform's coarse pointing
# is off the station by up to ~1.5 deg when the session starts (the simulated pass's
# acquisition).  A line of sight turned round is 180 - 2 x limb beyond it: 46 deg at
# 560 km, 22 deg at the lowest |r| accepted.
LIMB_MARGIN_RAD = 2.0 * math.pi / 180.0
# Point-ahead step allowed beyond RATE_MAX_U * dt between two states (10 nrad: 1 µrad).
# The OBC's errors move the point-ahead by nanoradians (sim/run/obcnav.py: GNSS velocity
# 0.1 m/s -> 2 * 0.1 / c = 0.7 nrad; star-tracker attitude 10 arcsec across and 40 about
# the boresight -> 50 µrad * 2e-4 rad = 10 nrad), plus the 0.5-unit roundings: 1 µrad
# passes all of it at any dt, and a wrong attitude (a sign flip: 2 * 25..51 µrad) never.
JUMP_NOISE_U = const(100)
_DEG = 180.0 / math.pi


def urad_u(v):
    """µrad (float) -> 10 nrad units (int, rounded)."""
    return int(v * 100.0 + (0.5 if v >= 0 else -0.5))


def point_ahead_rad(v, q):
    """(x, y) point-ahead [rad] in the payload frame from the ECI velocity ``v`` (m/s) and
    the payload attitude ``q`` = (w, x, y, z), scalar first, ``v_P = A(q) v_I``
    (Markley's attitude matrix; q normalised here).  Line of sight on the payload z."""
    w, x, y, z = q
    n = math.sqrt(w * w + x * x + y * y + z * z)
    w /= n
    x /= n
    y /= n
    z /= n
    vx, vy, vz = v
    # rows 0 and 1 of A(q): the payload's x and y axes in ECI
    px = (1 - 2 * (y * y + z * z)) * vx + 2 * (x * y + w * z) * vy + 2 * (x * z - w * y) * vz
    py = 2 * (x * y - w * z) * vx + (1 - 2 * (x * x + z * z)) * vy + 2 * (y * z + w * x) * vz
    k = -2.0 / C_M_S
    return px * k, py * k


def point_ahead_u(a):
    """(x, y) point-ahead of a NAV_STATE argument map: rad (floats) and 10 nrad units
    (ints, clamped to PA_MAX_U: |v| is bounded by check_nav, <= 57 µrad, and the clamp
    keeps the tick's ints small whatever arrives).  Returns (x, y, ux, uy)."""
    x, y = point_ahead_rad((a["vx"], a["vy"], a["vz"]), (a["qw"], a["qx"], a["qy"], a["qz"]))
    pm = PA_MAX_U
    return (x, y, max(-pm, min(pm, urad_u(x * 1e6))), max(-pm, min(pm, urad_u(y * 1e6))))


def check_nav(a):
    """Physical plausibility of a NAV_STATE argument map: BadArg names the field."""
    r = math.sqrt(a["px"] ** 2 + a["py"] ** 2 + a["pz"] ** 2)
    if not _R_MIN_M <= r <= _R_MAX_M:
        raise BadArg("p: |r| %.0f m is no LEO state" % r)
    v2 = a["vx"] ** 2 + a["vy"] ** 2 + a["vz"] ** 2
    e = v2 * r / MU_M3_S2
    if not 1.0 - ENERGY_TOL <= e <= 1.0 + ENERGY_TOL:
        raise BadArg("v: |v| %.1f m/s not orbital at |r| %.0f m" % (math.sqrt(v2), r))
    rv = a["px"] * a["vx"] + a["py"] * a["vy"] + a["pz"] * a["vz"]
    if abs(rv) > RADIAL_TOL * r * math.sqrt(v2):
        raise BadArg("v: radial part %.3f of |v|: not a near-circular orbit"
                     % (rv / (r * math.sqrt(v2))))
    qn = math.sqrt(a["qw"] ** 2 + a["qx"] ** 2 + a["qy"] ** 2 + a["qz"] ** 2)
    if abs(qn - 1.0) > Q_NORM_TOL:
        raise BadArg("q: norm %.4f is not 1" % qn)
    # The line of sight to the station must meet the Earth: the point-ahead formula holds
    # for a line of sight on the station, and an attitude turned round (180 deg about x
    # or y) flips the sign of one of its axes.  The payload z (row 2 of A(q)) points from
    # the station to the satellite (docs/point-ahead.md "The payload frame"): the line of
    # sight to the station is -z, so cos(line of sight, nadir -p/|p|) = z.p / |p|.
    # Cosines are compared (no asin on the accepting path).
    w = a["qw"] / qn
    x = a["qx"] / qn
    y = a["qy"] / qn
    z = a["qz"] / qn
    c = (2 * (x * z + w * y) * a["px"] + 2 * (y * z - w * x) * a["py"]
         + (1 - 2 * (x * x + y * y)) * a["pz"]) / r
    s = R_E_M / r  # sin of the limb's angle from nadir (r >= _R_MIN_M > R_E_M)
    m = LIMB_MARGIN_RAD
    if c < math.sqrt(1.0 - s * s) * math.cos(m) - s * math.sin(m):
        raise BadArg("q: line of sight %.1f deg from nadir, beyond the Earth's limb (%.1f deg)"
                     % (math.acos(max(-1.0, min(1.0, c))) * _DEG, math.asin(s) * _DEG))


def check_step(prev, t, a, max_age_s):
    """The point-ahead of state ``a`` (time ``t``) against ``prev`` = (t, ux, uy) of the
    last accepted one (None: none), whose ``t`` is before: BadArg when it moved more than
    any pass's rate (RATE_MAX_U * dt) plus the OBC's noise (JUMP_NOISE_U) on either axis.

    Catches what the single-state checks cannot: the attitude turned 180 deg about the line
    of sight (or the velocity reversed: a retrograde orbit is as plausible) flips the
    point-ahead's sign.  Only against a state within ``max_age_s``: one older is stale
    anyway, and a wrong *first* state (which the rest would be refused against, since a
    refused state does not replace it) stops counting after that time, so the next good
    state is accepted fresh."""
    if prev is None:
        return
    dt = t - prev[0]
    if dt > max_age_s:
        return
    ux, uy = point_ahead_u(a)[2:]
    lim = RATE_MAX_U * dt + JUMP_NOISE_U
    d = max(abs(ux - prev[1]), abs(uy - prev[2]))
    if d > lim:
        raise BadArg("q: point-ahead moved %.1f urad in %.2f s (at most %.1f): attitude "
                     "or velocity inconsistent with the last state" % (d / 100.0, dt,
                                                                      lim / 100.0))


def pack_profile(samples_urad):
    """PA_PROFILE ``samples`` octets from [(x, y) µrad]: big-endian int16 pairs, 0.01 µrad
    (the ground tool and the simulated OBC build the command with this)."""
    out = bytearray()
    for x, y in samples_urad:
        out += struct.pack(">hh", urad_u(x), urad_u(y))
    return bytes(out)


def check_profile(args):
    """A PA_PROFILE argument map: 2..PROFILE_MAX samples within the point-ahead's bound
    and rate (BadArg names the sample)."""
    s = args["samples"]
    n = len(s) // 4
    if len(s) % 4 or n < 2 or n > PROFILE_MAX:
        raise BadArg("samples: 2..%d pairs of int16 (4 octets each)" % PROFILE_MAX)
    dt = args["dt"]
    last = None
    for i in range(n):
        x, y = struct.unpack_from(">hh", s, 4 * i)
        if abs(x) > PA_MAX_U or abs(y) > PA_MAX_U:
            raise BadArg("samples: %d out of the point-ahead bound" % i)
        if last is not None and (abs(x - last[0]) > RATE_MAX_U * dt
                                 or abs(y - last[1]) > RATE_MAX_U * dt):
            raise BadArg("samples: step %d faster than %d urad/s" % (i, RATE_MAX_U // 100))
        last = (x, y)


def unpack_profile(samples, prof):
    """A checked PA_PROFILE's ``samples`` octets into ``prof`` (array 'h', x y
    interleaved, 10 nrad).  Returns the number of samples."""
    n = len(samples) // 4
    for i in range(n):
        x, y = struct.unpack_from(">hh", samples, 4 * i)
        prof[2 * i] = x
        prof[2 * i + 1] = y
    return n


def rotation_q14(a):
    """(cos a, sin a) in Q14, rounded (the payload-to-camera rotation of the offset)."""
    c = int(math.cos(a) * 16384 + 0.5)
    s = math.sin(a) * 16384
    return c, int(s + (0.5 if s >= 0 else -0.5))
