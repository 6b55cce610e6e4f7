"""SiPM operating point: breakdown voltage V_br(T), over-voltage, gain, PDE, dark counts.

MicroPython-clean (``math`` only).  Volts, deg C, Hz.

    V_br(T) = V_br25 + k_T * (T - 25 degC)                  (DESIGN §3.4, k_T = 21.5 mV/K)
    V_ov    = V_bias - V_br(T_die)
    gain    = G_1V * V_ov                  (V_ov > 0; 0 below breakdown: no Geiger mode)
    P_trig  = 1 - exp(-V_ov / V_sat)       (avalanche trigger probability)
    PDE     = PDE_max * P_trig
    DCR     = DCR_ref * (V_ov * P_trig) / (V_ov,ref * P_trig,ref) * 2 ** ((T - 25) / dT_2)

Gain is linear in over-voltage because each microcell discharges its capacitance from
V_bias to V_br: Q = C * V_ov, gain = C * V_ov / q.  Dark counts are thermally generated
carriers (doubling every dT_2 kelvin) that trigger an avalanche with probability P_trig
and whose charge, hence their chance of crossing a fixed threshold, grows with V_ov; the
product V_ov * P_trig captures the observed faster-than-linear rise at low over-voltage
and near-linear rise above a few volts.
"""

import math

# DESIGN §3.4 and §5: reference k_T = 21.5 mV/K (equal to the temperature coefficient in
# onsemi's J-series SiPM datasheet, 21.5 mV/degC).
K_T_V_PER_K = 0.0215
# Assumed: breakdown at 25 degC of a J-series-class SiPM (24.2-24.7 V family range).
V_BR25_V = 24.55
# The one nominal over-voltage of the simulator (issue 13): the flight bias loop's default
# target (flight/bias.py ``bias_vov_v`` = 3.0 V) and sim/receiver.py's V_OV_NOMINAL, within
# the J-series recommended 1-6 V.
V_OV_NOMINAL_V = 3.0
# Assumed: the over-voltage at which DCR_REF_HZ and the unit relative gain are quoted (a
# datasheet reference point, 2.5 V; not the operating point).
DCR_REF_VOV_V = 2.5
# Assumed: gain per volt of over-voltage, C/q for a ~160 fF (35 um) microcell.
GAIN_PER_V = 1.0e6
# Assumed: dark-count rate at V_ov = DCR_REF_VOV_V (2.5 V) and 25 degC for a 3 mm x 3 mm device
# (~50 kHz/mm2 class).
DCR_REF_HZ = 500e3
# Assumed: DCR doubles every 8 K.
DCR_DOUBLING_K = 8.0
# Assumed: trigger-probability saturation voltage.
V_TRIG_SAT_V = 2.0
# Assumed: photon detection efficiency at 808 nm at full trigger probability.
PDE_MAX = 0.10


# Photon energy at the 808 nm uplink wavelength, h c / lambda (SI constants).
PHOTON_J_808 = 6.62607015e-34 * 299792458.0 / 808e-9


def saturation_power_w(cells, pde=PDE_MAX, chip_s=10e-9, photon_j=PHOTON_J_808):
    """Received power at which the mean number of detected photons per on-chip equals the
    number of cells (63 % of them fire): the SiPM model's counterpart of sim/receiver.py's
    fitted P_SAT_W (docs/physics-link.md §3 "Consistency with the SiPM model")."""
    return cells * photon_j / (chip_s * pde)


def breakdown_voltage(t_c, v_br25=V_BR25_V, k_t=K_T_V_PER_K):
    """V_br(T) in volts."""
    return v_br25 + k_t * (t_c - 25.0)


class Sipm:
    """One SiPM with a settable bias voltage."""

    def __init__(self, v_br25=V_BR25_V, k_t=K_T_V_PER_K, gain_per_v=GAIN_PER_V,
                 dcr_ref_hz=DCR_REF_HZ, v_ov_ref=DCR_REF_VOV_V, dcr_doubling_k=DCR_DOUBLING_K,
                 v_trig_sat=V_TRIG_SAT_V, pde_max=PDE_MAX, bias_v=0.0):
        self.v_br25 = float(v_br25)
        self.k_t = float(k_t)
        self.gain_per_v = float(gain_per_v)
        self.dcr_ref_hz = float(dcr_ref_hz)
        self.v_ov_ref = float(v_ov_ref)
        self.dcr_doubling_k = float(dcr_doubling_k)
        self.v_trig_sat = float(v_trig_sat)
        self.pde_max = float(pde_max)
        self.bias_v = float(bias_v)
        self._dcr_norm = 1.0 / (self.v_ov_ref * self._ptrig(self.v_ov_ref))

    def _ptrig(self, v_ov):
        if v_ov <= 0.0:
            return 0.0
        return 1.0 - math.exp(-v_ov / self.v_trig_sat)

    def set_bias(self, v):
        self.bias_v = float(v)

    def v_br(self, t_c):
        return self.v_br25 + self.k_t * (t_c - 25.0)

    def bias_for(self, t_c, v_ov=V_OV_NOMINAL_V):
        """Bias that gives over-voltage v_ov at die temperature t_c (the ideal correction)."""
        return self.v_br(t_c) + v_ov

    def overvoltage(self, t_c):
        """V_ov = V_bias - V_br(T_die) (negative below breakdown)."""
        return self.bias_v - self.v_br(t_c)

    def gain(self, t_c):
        v = self.overvoltage(t_c)
        return self.gain_per_v * v if v > 0.0 else 0.0

    def relative_gain(self, t_c):
        """Gain relative to the gain at the reference over-voltage."""
        v = self.overvoltage(t_c)
        return v / self.v_ov_ref if v > 0.0 else 0.0

    def trigger_probability(self, t_c):
        return self._ptrig(self.overvoltage(t_c))

    def pde(self, t_c):
        return self.pde_max * self._ptrig(self.overvoltage(t_c))

    def dcr_hz(self, t_c):
        v = self.overvoltage(t_c)
        if v <= 0.0:
            return 0.0
        return (self.dcr_ref_hz * v * self._ptrig(v) * self._dcr_norm
                * math.pow(2.0, (t_c - 25.0) / self.dcr_doubling_k))
