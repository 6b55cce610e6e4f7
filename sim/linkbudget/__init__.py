"""Optical link budget of the Vector up- and downlink (paper §3, Eqs. 1-3, Table 1, App. B).

Total loss [dB] = diffraction (Eq. 1) + pointing (Eq. 2) + atmosphere (Eq. 3) + optics.

This module is MicroPython-safe (``math`` only) because the
simulated HAL computes received powers with it.  ``python -m sim.linkbudget`` (the
package's ``__main__.py``, which imports this model; the model imports no command line)
prints Table 1; ``--json`` prints it as JSON; ``--plot DIR`` draws Fig. 5a-c (matplotlib
is imported lazily by :mod:`sim.plots_linkbudget`).
"""

import math

from sim import geometry

LN10 = math.log(10.0)

# --- downlink: satellite 850 nm -> 60 cm OGS telescope ------------------------------------
DOWN_WAVELENGTH_M = 850e-9  # paper §2.2 / §3.2
DOWN_WAIST_M = 4.0e-3  # paper §3.2: Zemax waist radius w0 = 4.0 mm ("68 urad" divergence)
OGS_APERTURE_M = 0.60  # paper §2.3: 60 cm telescope
DOWN_OPTICS_DB = 7.8  # paper §3.2: sat + OGS optics incl. central obstruction
DOWN_TX_W = 0.120  # paper §4: downlink laser output power 120 mW
# paper §3.2: downlink pointing loss "negligible, 0.3 %" (fine tracking).  Via Eq. (2) that
# is a residual of theta_div * sqrt(-ln(0.997)/2) = 2.6 urad RMS; the simulator replaces it
# with the simulated APT residual.
DOWN_POINTING_LOSS_FRACTION = 0.003

# --- uplink: OGS 808 nm -> 30 mm satellite aperture ---------------------------------------
UP_WAVELENGTH_M = 808e-9  # paper §2.2 / abstract
SAT_APERTURE_M = 0.030  # paper §5: "input aperture ... 30 mm"
UP_OPTICS_DB = 0.3  # paper §3.2
OGS_POINTING_RMS_RAD = 50e-6  # paper §2.3/§3.2: closed-loop coarse tracking 50 urad RMS
UP_TX_W = 26.0  # paper §4: "at least 26 W" (chosen for the same SNR as the downlink)

# --- atmosphere, Eq. (3): kappa [dB per air mass] at 850 nm -------------------------------
# Paper §3.2: "1/4 * kappa lies in the range from 0.23 (clear) to 0.41 (fog)" [ref. 41],
# i.e. kappa = 0.92 ... 1.64 dB.  Check: 0.92 dB at zenith -> "0.9 dB", 1.64/sin(20 deg)
# = 4.80 dB -> "4.8 dB" (both quoted in §3.2).  Reading kappa as nepers (B.12) would give
# 1.0 / 5.2 dB instead, contradicting Table 1.  The uplink (808 nm) uses the same kappa
# (assumed: the paper gives no separate 808 nm value and Table 1's uplink totals need it).
KAPPA_CLEAR_DB = 0.92
KAPPA_FOG_DB = 1.64

MIN_ELEVATION_DEG = 20.0  # paper §3.2: session = time above 20 deg elevation


def db_to_ratio(db):
    """Power ratio of a loss in dB (10 dB -> 0.1)."""
    return 10.0 ** (-db / 10.0)


def ratio_to_db(ratio):
    return -10.0 * math.log(ratio) / LN10


def divergence_rad(wavelength_m, waist_m):
    """Far-field half-angle divergence of a Gaussian beam, lambda / (pi w0) (App. B)."""
    return wavelength_m / (math.pi * waist_m)


def waist_for_divergence(wavelength_m, divergence):
    """Waist radius w0 [m] giving ``divergence`` [rad] at ``wavelength_m``."""
    return wavelength_m / (math.pi * divergence)


def diffraction_loss_db(wavelength_m, waist_m, distance_m, aperture_m):
    """Eq. (1): 20 lg( sqrt(2) lambda d / (pi w0 D) )."""
    x = math.sqrt(2.0) * wavelength_m * distance_m / (math.pi * waist_m * aperture_m)
    return 20.0 * math.log(x) / LN10


def pointing_loss_db(residual_rms_rad, divergence):
    """Eq. (2): (20 / ln 10) * (theta_err,RMS / theta_div)^2 with theta_div = lambda/(pi w0).

    The control code calls this with the simulated APT residual (DESIGN §5, §7).
    Equivalent power fraction kept: exp(-2 (theta_err/theta_div)^2).
    """
    x = residual_rms_rad / divergence
    return 20.0 / LN10 * x * x


def residual_for_pointing_fraction(lost_fraction, divergence):
    """RMS residual [rad] whose Eq. (2) loss removes ``lost_fraction`` of the power."""
    return divergence * math.sqrt(-math.log(1.0 - lost_fraction) / 2.0)


def atmosphere_loss_db(kappa_db, elevation_rad):
    """Eq. (3): kappa / sin(el).  Infinite at or below the horizon (no link)."""
    s = math.sin(elevation_rad)
    if s <= 0.0:
        return float("inf")
    return kappa_db / s


class Link:
    """One direction of the optical link: transmitter beam, receiver aperture, fixed losses."""

    def __init__(self, name, wavelength_m, waist_m, aperture_m, optics_db, tx_w,
                 pointing_rms_rad):
        self.name = name
        self.wavelength_m = wavelength_m
        self.waist_m = waist_m
        self.aperture_m = aperture_m
        self.optics_db = optics_db
        self.tx_w = tx_w
        self.pointing_rms_rad = pointing_rms_rad  # default transmitter pointing residual
        self.divergence_rad = divergence_rad(wavelength_m, waist_m)

    def diffraction_db(self, distance_m):
        return diffraction_loss_db(self.wavelength_m, self.waist_m, distance_m,
                                   self.aperture_m)

    def pointing_db(self, residual_rms_rad=None):
        if residual_rms_rad is None:
            residual_rms_rad = self.pointing_rms_rad
        return pointing_loss_db(residual_rms_rad, self.divergence_rad)

    def loss_db(self, distance_m, elevation_rad, kappa_db=KAPPA_FOG_DB, residual_rms_rad=None):
        """Total loss [dB] at one point of a pass (Eqs. 1 + 2 + 3 + optics)."""
        return (self.diffraction_db(distance_m) + self.pointing_db(residual_rms_rad)
                + atmosphere_loss_db(kappa_db, elevation_rad) + self.optics_db)

    def received_w(self, distance_m, elevation_rad, kappa_db=KAPPA_FOG_DB,
                   residual_rms_rad=None, tx_w=None):
        """Received optical power [W] at the receiver's detector side of the optics."""
        if tx_w is None:
            tx_w = self.tx_w
        return tx_w * db_to_ratio(self.loss_db(distance_m, elevation_rad, kappa_db,
                                               residual_rms_rad))

    def loss_at_db(self, pass_, t, kappa_db=KAPPA_FOG_DB, residual_rms_rad=None):
        """Total loss [dB] at time t [s] of a :class:`sim.geometry.Pass`."""
        return self.loss_db(pass_.range_m(t), pass_.elevation_rad(t), kappa_db,
                            residual_rms_rad)

    def received_at_w(self, pass_, t, kappa_db=KAPPA_FOG_DB, residual_rms_rad=None, tx_w=None):
        """Received power [W] at time t [s] of a pass (0 below the horizon)."""
        return self.received_w(pass_.range_m(t), pass_.elevation_rad(t), kappa_db,
                               residual_rms_rad, tx_w)


_DOWN_DIVERGENCE = divergence_rad(DOWN_WAVELENGTH_M, DOWN_WAIST_M)  # 67.6 urad ("68")

DOWNLINK = Link("downlink", DOWN_WAVELENGTH_M, DOWN_WAIST_M, OGS_APERTURE_M, DOWN_OPTICS_DB,
                DOWN_TX_W,
                residual_for_pointing_fraction(DOWN_POINTING_LOSS_FRACTION, _DOWN_DIVERGENCE))

# Paper §3.2: "we expect the beam divergence to be the same as for the downlink", so the
# uplink waist is the one giving 67.6 urad at 808 nm (3.80 mm).  Diffraction is then
# exactly 20 lg(0.60/0.030) = 26.0 dB above the downlink's, as the paper states.
UPLINK = Link("uplink", UP_WAVELENGTH_M, waist_for_divergence(UP_WAVELENGTH_M, _DOWN_DIVERGENCE),
              SAT_APERTURE_M, UP_OPTICS_DB, UP_TX_W, OGS_POINTING_RMS_RAD)


def downlink_received_power_w(pass_, t, kappa_db=KAPPA_FOG_DB, residual_rms_rad=None,
                              tx_w=DOWN_TX_W):
    """Downlink power [W] into the OGS detector at time t of ``pass_``."""
    return DOWNLINK.received_at_w(pass_, t, kappa_db, residual_rms_rad, tx_w)


def uplink_received_power_w(pass_, t, kappa_db=KAPPA_FOG_DB,
                            ogs_pointing_rms_rad=OGS_POINTING_RMS_RAD, tx_w=UP_TX_W):
    """Uplink power [W] onto the satellite SiPM at time t of ``pass_`` (receiver input)."""
    return UPLINK.received_at_w(pass_, t, kappa_db, ogs_pointing_rms_rad, tx_w)


def table1(max_elevation_deg=90.0, min_elevation_deg=MIN_ELEVATION_DEG):
    """Table 1 quantities (dB, W, s) as a dict of plain floats.

    "zenith" keys are evaluated at the pass's maximum elevation (= zenith for the paper's
    90 deg pass).  "el20" keys are at ``min_elevation_deg``; they are None when the pass
    never climbs that high (then the "max" totals are None too and the duration is 0).
    "min" = best case (clear sky at max elevation), "max" = worst (fog at min elevation).
    """
    p = geometry.Pass(max_elevation_deg)
    el_top = max_elevation_deg * geometry.DEG
    d_top = geometry.range_at_elevation_m(max_elevation_deg)
    reach = max_elevation_deg >= min_elevation_deg
    el_low = min_elevation_deg * geometry.DEG
    d_low = geometry.range_at_elevation_m(min_elevation_deg) if reach else None

    def low(f):
        return f() if reach else None

    down, up = DOWNLINK, UPLINK
    atm_min = atmosphere_loss_db(KAPPA_CLEAR_DB, el_top)
    atm_top_fog = atmosphere_loss_db(KAPPA_FOG_DB, el_top)
    atm_max = low(lambda: atmosphere_loss_db(KAPPA_FOG_DB, el_low))
    r = {
        "max_elevation_deg": max_elevation_deg,
        "min_elevation_deg": min_elevation_deg,
        "range_zenith_m": d_top,
        "range_el20_m": d_low,
        "pass_duration_above_20deg_s": p.duration_above_s(min_elevation_deg),
        "kappa_clear_db": KAPPA_CLEAR_DB,
        "kappa_fog_db": KAPPA_FOG_DB,
        # downlink
        "down_divergence_urad": down.divergence_rad * 1e6,
        "down_diffraction_zenith_db": down.diffraction_db(d_top),
        "down_diffraction_el20_db": low(lambda: down.diffraction_db(d_low)),
        "down_atmosphere_min_db": atm_min,
        "down_atmosphere_max_db": atm_max,
        "down_pointing_db": down.pointing_db(),
        "down_optics_db": down.optics_db,
        "down_total_min_db": down.loss_db(d_top, el_top, KAPPA_CLEAR_DB),
        "down_total_max_db": low(lambda: down.loss_db(d_low, el_low, KAPPA_FOG_DB)),
        # The paper's "48.4 dB at zenith" (§4) is this one: zenith under the worst weather.
        "down_total_zenith_worst_db": down.loss_db(d_top, el_top, KAPPA_FOG_DB),
        "down_tx_w": down.tx_w,
        "down_received_zenith_best_w": down.received_w(d_top, el_top, KAPPA_CLEAR_DB),
        "down_received_zenith_worst_w": down.received_w(d_top, el_top, KAPPA_FOG_DB),
        "down_received_el20_worst_w": low(lambda: down.received_w(d_low, el_low, KAPPA_FOG_DB)),
        # uplink
        "up_waist_mm": up.waist_m * 1e3,
        "up_diffraction_zenith_db": up.diffraction_db(d_top),
        "up_diffraction_el20_db": low(lambda: up.diffraction_db(d_low)),
        "up_atmosphere_min_db": atm_min,
        "up_atmosphere_max_db": atm_max,
        "up_pointing_db": up.pointing_db(),
        "up_optics_db": up.optics_db,
        "up_total_min_db": up.loss_db(d_top, el_top, KAPPA_CLEAR_DB),
        "up_total_max_db": low(lambda: up.loss_db(d_low, el_low, KAPPA_FOG_DB)),
        "up_tx_w": up.tx_w,
        "up_received_zenith_worst_w": up.received_w(d_top, el_top, KAPPA_FOG_DB),
        "up_received_el20_worst_w": low(lambda: up.received_w(d_low, el_low, KAPPA_FOG_DB)),
    }
    # Uplink minus downlink loss at equal conditions (paper: 23.3 dB), and the uplink
    # transmitter power giving the same received power as the downlink (paper: >= 26 W).
    r["up_minus_down_db"] = (r["up_total_min_db"] - r["down_total_min_db"])
    r["up_tx_for_equal_power_w"] = down.tx_w / db_to_ratio(r["up_minus_down_db"])
    r["down_atmosphere_zenith_worst_db"] = atm_top_fog
    return r


# ------------------------------------------------------------------------ CLI (CPython) ---

# Rows of the human-readable table: (label, key, unit, paper value or None).
_ROWS = (
    ("pass above 20 deg", "pass_duration_above_20deg_s", "s", "328"),
    ("range at max elevation", "range_zenith_m", "km", "560"),
    ("range at 20 deg", "range_el20_m", "km", None),
    ("downlink diffraction, max el", "down_diffraction_zenith_db", "dB", "39.0"),
    ("downlink diffraction, 20 deg", "down_diffraction_el20_db", "dB", "46.4"),
    ("atmosphere, clear, max el", "down_atmosphere_min_db", "dB", "0.9"),
    ("atmosphere, fog, 20 deg", "down_atmosphere_max_db", "dB", "4.8"),
    ("downlink pointing", "down_pointing_db", "dB", "0.3 %"),
    ("downlink optics", "down_optics_db", "dB", "7.8"),
    ("downlink total, best", "down_total_min_db", "dB", "47.7"),
    ("downlink total, worst", "down_total_max_db", "dB", "59.0"),
    ("downlink total, max el, fog", "down_total_zenith_worst_db", "dB", "48.4"),
    ("downlink rx, max el, fog", "down_received_zenith_worst_w", "uW", "1.7"),
    ("downlink rx, 20 deg, fog", "down_received_el20_worst_w", "uW", "0.15"),
    ("uplink diffraction, max el", "up_diffraction_zenith_db", "dB", "65.0"),
    ("uplink diffraction, 20 deg", "up_diffraction_el20_db", "dB", "72.4"),
    ("uplink pointing (50 urad)", "up_pointing_db", "dB", "4.8"),
    ("uplink optics", "up_optics_db", "dB", "0.3"),
    ("uplink total, best", "up_total_min_db", "dB", "71.0"),
    ("uplink total, worst", "up_total_max_db", "dB", "82.3"),
    ("uplink - downlink", "up_minus_down_db", "dB", "23.3"),
    ("uplink TX for equal power", "up_tx_for_equal_power_w", "W", ">= 26"),
    ("uplink rx, max el, fog", "up_received_zenith_worst_w", "uW", None),
    ("uplink rx, 20 deg, fog", "up_received_el20_worst_w", "uW", None),
)

_SCALE = {"km": 1e-3, "uW": 1e6}


def format_table(r):
    lines = ["Vector link budget (paper Table 1), max elevation %.1f deg"
             % r["max_elevation_deg"],
             "%-32s %10s %-3s  %s" % ("quantity", "model", "", "paper (zenith pass)")]
    for label, key, unit, paper in _ROWS:
        v = r[key]
        s = "n/a" if v is None else "%.2f" % (v * _SCALE.get(unit, 1.0))
        lines.append("%-32s %10s %-3s  %s" % (label, s, unit, paper or ""))
    return "\n".join(lines)

