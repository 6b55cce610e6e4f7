"""Pass geometry: circular orbit over a non-rotating, spherical Earth.

Paper §3.1, Eqs. (4)-(6), derived in App. B (Eqs. B.13-B.17).  The paper only treats the
zenith pass (the satellite crosses the station's zenith at t = 0).  A pass with a lower
maximum elevation is the same great-circle motion seen from a station that lies a
central angle ``beta`` off the ground track; the station-to-subsatellite central angle
``alpha`` then follows from the right spherical triangle (station, point of closest
approach, subsatellite point):

    cos(alpha) = cos(beta) * cos(omega * t)

which for beta = 0 is Eq. (6), alpha = omega * t.  Eqs. (4) and (5) then give range and
elevation from alpha unchanged.

MicroPython-safe: ``math`` only, plain classes.
"""

import math

# --- constants (DESIGN §5; paper §2 "altitude of about 560 km", App. B) -------------------
R_EARTH_M = 6371.0e3  # mean Earth radius; DESIGN §5 (paper App. B uses R_E, value not given)
ALTITUDE_M = 560.0e3  # paper §2 / §3.2 / Table 1 caption
G_SURFACE = 9.81  # m/s^2, paper Eq. (6) "g"; the model's GM is g * R_E^2 (App. B, Eq. B.14)
DEG = math.pi / 180.0


def angular_rate(altitude_m=ALTITUDE_M, r_earth_m=R_EARTH_M, g=G_SURFACE):
    """Orbital angular rate omega [rad/s] of Eq. (6): alpha = omega * t.

    omega = R_E * sqrt(g / (R_E + h)^3), i.e. sqrt(GM / r^3) with GM = g R_E^2.
    """
    r = r_earth_m + altitude_m
    return r_earth_m * math.sqrt(g / (r * r * r))


def orbital_speed(altitude_m=ALTITUDE_M, r_earth_m=R_EARTH_M, g=G_SURFACE):
    """Satellite speed [m/s], Eq. (B.14): v = R_E sqrt(g / (R_E + h))."""
    return r_earth_m * math.sqrt(g / (r_earth_m + altitude_m))


def slant_range_m(alpha_rad, altitude_m=ALTITUDE_M, r_earth_m=R_EARTH_M):
    """Station-to-satellite distance d [m] from the central angle alpha, Eq. (4)."""
    r = r_earth_m + altitude_m
    d2 = r_earth_m * r_earth_m + r * r - 2.0 * r_earth_m * r * math.cos(alpha_rad)
    return math.sqrt(d2) if d2 > 0.0 else 0.0


def elevation_rad(alpha_rad, altitude_m=ALTITUDE_M, r_earth_m=R_EARTH_M):
    """Elevation [rad] of the satellite seen from the station.

    Eq. (5) gives cos(el) = (R_E + h) sin(alpha) / d, which fixes |el| only.  We use the
    equivalent signed form tan(el) = ((R_E + h) cos(alpha) - R_E) / ((R_E + h) sin(alpha))
    (same triangle, App. B Fig. B1c) so that elevations below the horizon come out
    negative instead of mirrored.
    """
    r = r_earth_m + altitude_m
    a = abs(alpha_rad)
    return math.atan2(r * math.cos(a) - r_earth_m, r * math.sin(a))


def central_angle_for_elevation(el_rad, altitude_m=ALTITUDE_M, r_earth_m=R_EARTH_M):
    """Inverse of :func:`elevation_rad`: alpha [rad] at which the elevation is ``el_rad``.

    From the triangle (Earth centre, station, satellite): alpha = acos(R_E cos(el) / r) - el.
    """
    r = r_earth_m + altitude_m
    c = r_earth_m * math.cos(el_rad) / r
    if c > 1.0:
        c = 1.0
    return math.acos(c) - el_rad


def range_at_elevation_m(el_deg, altitude_m=ALTITUDE_M, r_earth_m=R_EARTH_M):
    """Slant range [m] at a given elevation [deg] (any pass: range depends on el only)."""
    alpha = central_angle_for_elevation(el_deg * DEG, altitude_m, r_earth_m)
    return slant_range_m(alpha, altitude_m, r_earth_m)


class Pass:
    """One pass over the station; t [s] is measured from culmination (t = 0).

    ``max_elevation_deg`` = 90 is the paper's zenith pass.  Lower values place the station
    off the ground track by the central angle ``cross_track_rad`` (see module doc).
    """

    def __init__(self, max_elevation_deg=90.0, altitude_m=ALTITUDE_M,
                 r_earth_m=R_EARTH_M, g=G_SURFACE):
        if not (0.0 < max_elevation_deg <= 90.0):
            raise ValueError("max_elevation_deg must be in (0, 90]")
        self.max_elevation_deg = float(max_elevation_deg)
        self.altitude_m = float(altitude_m)
        self.r_earth_m = float(r_earth_m)
        self.omega = angular_rate(altitude_m, r_earth_m, g)  # Eq. (6)
        # Station's angular distance from the ground track (0 for a zenith pass).
        self.cross_track_rad = central_angle_for_elevation(
            self.max_elevation_deg * DEG, altitude_m, r_earth_m)
        self._cos_beta = math.cos(self.cross_track_rad)

    def alpha_rad(self, t):
        """Central angle station-subsatellite point at time t [s] (Eq. 6 generalised)."""
        c = self._cos_beta * math.cos(self.omega * t)
        if c > 1.0:
            c = 1.0
        elif c < -1.0:
            c = -1.0
        return math.acos(c)

    def range_m(self, t):
        """Slant range d [m] at time t [s], Eq. (4)."""
        return slant_range_m(self.alpha_rad(t), self.altitude_m, self.r_earth_m)

    def elevation_rad(self, t):
        """Elevation [rad] at time t [s], Eq. (5) (signed, see :func:`elevation_rad`)."""
        return elevation_rad(self.alpha_rad(t), self.altitude_m, self.r_earth_m)

    def elevation_deg(self, t):
        return self.elevation_rad(t) / DEG

    def time_at_elevation_s(self, el_deg):
        """t >= 0 [s] at which the (descending) satellite passes elevation ``el_deg``.

        None if the pass never reaches that elevation.  The pass is symmetric, so the
        rising crossing is at -t.
        """
        if el_deg > self.max_elevation_deg:
            return None
        alpha = central_angle_for_elevation(el_deg * DEG, self.altitude_m, self.r_earth_m)
        c = math.cos(alpha) / self._cos_beta
        if c > 1.0:  # rounding at el == max elevation
            c = 1.0
        return math.acos(c) / self.omega

    def climb_s(self, from_deg, to_deg=20.0):
        """Seconds the rising satellite takes from ``from_deg`` to ``to_deg`` elevation
        (0 when it never reaches ``from_deg`` or ``from_deg`` is not below ``to_deg``)."""
        t = self.time_at_elevation_s(from_deg)
        return 0.0 if t is None or from_deg >= to_deg else t - self.time_at_elevation_s(to_deg)

    def duration_above_s(self, el_deg=20.0):
        """Time [s] the satellite spends above ``el_deg`` (0 if it never gets there).

        Zenith pass, 20 deg: 327.4 s (paper §3.2/§4: -164 ... +164 s, "about 328 s").
        """
        t = self.time_at_elevation_s(el_deg)
        return 0.0 if t is None else 2.0 * t


# The zenith pass rises through 20° at 20.5 s, the session starts at 5 s: its beacon (18°) comes
# on 2.9 s after the session's start (20 s, 2.4 s until stop 44: ground_tools/plan.py).
ZENITH_RISE_S = 20.5


def planned_rise_s(pass_, beacon_el, session_start_s=None, session_lead_s=None):
    """The 20° rise of a pass planned like the zenith pass (sim/scenarios.py
    ``pass_start_s`` None; ground_tools/plan.py plans the same): the station's beacon and
    uplink come on (the ``beacon_el`` crossing) as long after the session's start as on
    the zenith pass (2.9 s), so the payload's breakdown sweep starts in the dark on every
    pass (docs/simulator.md "Scenarios").  ``session_lead_s`` (with ``session_start_s``):
    that long instead (`vector-tc plan --session-lead`; a warm-up before the link,
    docs/calibration.md)."""
    if session_lead_s is not None:
        return session_start_s + session_lead_s + pass_.climb_s(beacon_el)
    return ZENITH_RISE_S + pass_.climb_s(beacon_el) - Pass(90.0).climb_s(beacon_el)
