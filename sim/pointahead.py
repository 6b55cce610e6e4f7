"""Point-ahead: where the downlink must leave, relative to where the beacon is seen.

The satellite sees the ground beacon in its apparent direction (aberration by its velocity
relative to the station) and must send the downlink where the station will be when the
light arrives.  Both effects are first order in v/c and add up (paper App. B geometry; the
classical result for optical links, e.g. Kaushal & Kaddoum, IEEE Comm. Surveys 2017 §VI-B):

    point-ahead = 2 * v_perp / c

with v_perp the component of the satellite's velocity relative to the station normal to
the line of sight.  Light time both ways: the beacon received at t left the station at
t - d/c, the downlink reaches it at t + d/c; for a station at rest in the orbit's frame
(this model: circular orbit over a **non-rotating** Earth, sim/geometry.py) the station
does not move in that time and the light-time terms reduce exactly to the aberration
terms above.  The Earth's rotation (station speed 465 m/s × cos(latitude)) would add up to
2 × 465 / c = 3.1 µrad; it is not modelled (stated in docs/physics-platform.md).

Figures (560 km): 2 v / c = 50.6 µrad at zenith (v = 7.58 km/s); 25.5 µrad at 20°
elevation of a zenith pass (24.6 µrad at 18°, where the nominal pass's beacon comes on).

Frame: the 2-axis pointing frame of sim.pointing (x, y) has z on the line of sight, y the
orbit normal projected normal to the line of sight, x = y × z (along-track).  For a zenith
pass the point-ahead lies along x only; off-track passes get a small y part.

MicroPython-clean: ``math`` only.
"""

import math

from sim.geometry import Pass

C_M_S = 299792458.0  # speed of light (exact, SI)


def _sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _scale(a, k):
    return (a[0] * k, a[1] * k, a[2] * k)


def _unit(a):
    n = math.sqrt(_dot(a, a))
    return _scale(a, 1.0 / n) if n > 0 else a


def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def state(pass_, t):
    """Earth-centred inertial position of the station and position/velocity of the
    satellite at pass time ``t`` (s from culmination); orbit in the x-z plane, station a
    central angle ``cross_track_rad`` off the track (sim/geometry.py module doc)."""
    r = pass_.r_earth_m + pass_.altitude_m
    w = pass_.omega
    b = pass_.cross_track_rad
    s = (0.0, pass_.r_earth_m * math.sin(b), pass_.r_earth_m * math.cos(b))
    a = w * t
    p = (r * math.sin(a), 0.0, r * math.cos(a))
    v = (r * w * math.cos(a), 0.0, -r * w * math.sin(a))
    return s, p, v


def point_ahead_rad(pass_, t, station_velocity=(0.0, 0.0, 0.0)):
    """(x, y) [rad] of the required downlink direction minus the beacon's apparent
    direction, in the pointing frame (module doc).  ``station_velocity`` (inertial, m/s) is
    zero in this non-rotating model."""
    s, p, v = state(pass_, t)
    u = _unit(_sub(p, s))  # line of sight, station -> satellite
    vr = _sub(v, station_velocity)
    vperp = _sub(vr, _scale(u, _dot(vr, u)))
    pa = _scale(vperp, -2.0 / C_M_S)  # transmit "behind" the apparent beacon, see doc
    n = (0.0, 1.0, 0.0)  # orbit normal
    ey = _unit(_sub(n, _scale(u, _dot(n, u))))
    ex = _cross(ey, u)
    return _dot(pa, ex), _dot(pa, ey)


def point_ahead_mag_rad(pass_, t):
    x, y = point_ahead_rad(pass_, t)
    return math.sqrt(x * x + y * y)


def zenith_point_ahead_rad(altitude_m=560e3):
    """2 v / c at zenith of a pass at ``altitude_m``."""
    p = Pass(90.0, altitude_m=altitude_m)
    return point_ahead_mag_rad(p, 0.0)
