"""Per-unit calibration errors: the truth of one flight unit differs from the flight
defaults (which equal the simulator's nominal values) by amounts drawn per seed.

Before issue 13 every flight default equalled the simulator's truth, so the loops were
certified against a perfectly calibrated payload.  :func:`draw` gives one unit's errors
from the distributions below (each with its source; docs/physics-platform.md and
docs/physics-link.md list them too); :func:`ideal` gives all zeros (``--ideal``).

| key | distribution | source |
|---|---|---|
| ``ifov_scale`` | Gaussian σ = 1 % | assumed: focal-length tolerance of a COTS lens (±2 % class, taken as 2σ) |
| ``cam_fsm_rot_rad`` | Gaussian σ = 1° | assumed: mechanical mounting of camera vs FSM axes |
| ``tx_bore_x/y_rad`` | uniform on a disc of 25 µrad | TBIRD measured camera/transmitter boresight offsets ≤ 20-25 µrad |
| ``fsm_gain_x/y`` | Gaussian σ = 3 % | assumed: voice-coil FSM gain tolerance (±5 % uncalibrated class) |
| ``fsm_cross_xy/yx`` | Gaussian σ = 1 % | assumed: FSM axis cross-coupling (≤ 2 % datasheet class) |
| ``v_br25_v`` | uniform over 24.2-24.7 V (−350…+150 mV from the nominal 24.55 V) | onsemi J-series breakdown spread (24.2-24.7 V) before calibration |
| ``k_t_v_per_k`` | Gaussian σ = 1 mV/K | issue 13's example figure; J-series typical 21.5 mV/K |
| ``temp_offset_k``, ``temp_offset2_k`` (primary, secondary) | Gaussian σ = 0.05 K | TMP117 absolute accuracy ±0.1 °C (−20…50 °C) taken as 2σ |
| ``die_gradient_k`` | Gaussian mean 0.5 K, σ 0.3 K | assumed: die above the board sensor by its dissipation |
| ``comparator_offset_v`` | Gaussian σ = 2 mV | assumed: comparator input offset (typ. 1 mV, max ±6.5 mV class) |

MicroPython-clean: ``math`` and sim.rng only.
"""

import math

from sim.rng import Rng

KEYS = ("ifov_scale", "cam_fsm_rot_rad", "tx_bore_x_rad", "tx_bore_y_rad", "fsm_gain_x",
        "fsm_gain_y", "fsm_cross_xy", "fsm_cross_yx", "v_br25_v", "k_t_v_per_k",
        "temp_offset_k", "temp_offset2_k", "die_gradient_k", "comparator_offset_v")

IFOV_SCALE_SIGMA = 0.01
CAM_FSM_ROT_SIGMA_RAD = 1.0 * math.pi / 180.0
TX_BORE_MAX_RAD = 25e-6
FSM_GAIN_SIGMA = 0.03
FSM_CROSS_SIGMA = 0.01
# The J-series range 24.2-24.7 V as offsets from sim/sipm.py's nominal 24.55 V (issue 13
# drew ±250 mV about the nominal, 24.30-24.80 V: a fifth of the units out of the family).
V_BR25_LO_V = -0.35
V_BR25_HI_V = 0.15
K_T_SIGMA_V_PER_K = 0.001
TEMP_ACCURACY_SIGMA_K = 0.05
DIE_GRADIENT_MEAN_K = 0.5
DIE_GRADIENT_SIGMA_K = 0.3
COMPARATOR_OFFSET_SIGMA_V = 0.002

# Seed salt: the calibration draw has its own stream, so turning it on or off does not
# change any other random process of the world.
_SALT = 0x3C1B


def ideal():
    """Errors of a perfectly calibrated unit (every value zero)."""
    d = {}
    for k in KEYS:
        d[k] = 0.0
    return d


def draw(seed):
    """One unit's errors (additive offsets to the nominal values; scales as fractions)."""
    r = Rng((seed * 2654435761 + _SALT) % (1 << 30))
    d = {}
    d["ifov_scale"] = r.gauss(0.0, IFOV_SCALE_SIGMA)
    d["cam_fsm_rot_rad"] = r.gauss(0.0, CAM_FSM_ROT_SIGMA_RAD)
    rad = TX_BORE_MAX_RAD * math.sqrt(r.uniform())  # uniform over the disc
    ang = r.uniform(0.0, 2.0 * math.pi)
    d["tx_bore_x_rad"] = rad * math.cos(ang)
    d["tx_bore_y_rad"] = rad * math.sin(ang)
    d["fsm_gain_x"] = r.gauss(0.0, FSM_GAIN_SIGMA)
    d["fsm_gain_y"] = r.gauss(0.0, FSM_GAIN_SIGMA)
    d["fsm_cross_xy"] = r.gauss(0.0, FSM_CROSS_SIGMA)
    d["fsm_cross_yx"] = r.gauss(0.0, FSM_CROSS_SIGMA)
    d["v_br25_v"] = r.uniform(V_BR25_LO_V, V_BR25_HI_V)
    d["k_t_v_per_k"] = r.gauss(0.0, K_T_SIGMA_V_PER_K)
    d["temp_offset_k"] = r.gauss(0.0, TEMP_ACCURACY_SIGMA_K)
    d["temp_offset2_k"] = r.gauss(0.0, TEMP_ACCURACY_SIGMA_K)
    d["die_gradient_k"] = r.gauss(DIE_GRADIENT_MEAN_K, DIE_GRADIENT_SIGMA_K)
    d["comparator_offset_v"] = r.gauss(0.0, COMPARATOR_OFFSET_SIGMA_V)
    return d
