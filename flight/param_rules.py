"""Cross-parameter rules (issue 12 finding 12; DESIGN §3.7 parameters).

A parameter's own range (flight/params.py ``ParamDef``) says what the hardware allows for
that value alone; a rule says what a *combination* must satisfy — e.g. the "safe" bias
must stay below the lowest breakdown voltage the other parameters describe.  Rules span
components, so they live here, one home, beside no owner.

Each rule: a name (what a rejection reports: ``rule <name>: ...``), the parameters it
reads, and a check ``fn(values)`` returning None when satisfied or the text of the
violation (``values[name]`` gives each parameter).  flight/params.py applies them on
every change (PARAM_SET, a module's ``params.set``) with the new value in place, and at
load (a stored set that breaks a rule has that rule's parameters reset to their
defaults, with PARAM_INVALID naming the rule).  Every default set satisfies every rule
(tests/test_param_rules.py).
"""


class Rule:
    def __init__(self, name, params, check, text):
        self.name = name
        self.params = params
        self.check = check
        self.text = text  # what the rule demands (the dictionary, docs)


def _safe_below_breakdown(v):
    # The lowest breakdown voltage of the plausible temperature range (V_br falls with
    # temperature): the safe bias a FAULT sets must be below it at any temperature.
    low = v["bias_vbr25_v"] + v["bias_kt_mv_per_k"] * 1e-3 * (v["bias_t_min_c"] - 25.0)
    if v["bias_safe_v"] >= low:
        return "bias_safe_v %.2f V is not below the lowest breakdown voltage %.2f V" % (
            v["bias_safe_v"], low)
    return None


def _ordered(lo, hi, equal_ok=False):
    """``lo`` below ``hi`` (``equal_ok``: at most ``hi``, a closed window of one value)."""
    text = "%s %r is above %s %r" if equal_ok else "%s %r is not below %s %r"

    def check(v):
        if v[lo] > v[hi] or (v[lo] == v[hi] and not equal_ok):
            return text % (lo, v[lo], hi, v[hi])
        return None
    return check


def _sign(name):
    def check(v):
        if v[name] not in (-1, 1):
            return "%s must be -1 or +1, not %r (0 zeroes the axis)" % (name, v[name])
        return None
    return check


def _exposure_band(v):
    # The auto-exposure steps by ~x1.19 (both ladders 2**(1/4), flight/apt_exposure.py): a
    # band narrower than two steps lets a step from just outside it land outside again on
    # the peak's noise and its swing with the spot's sub-pixel position, and the exposure
    # hunts.  Measured (nominal seed 2, 32 s of TRACK, camera writes): 250/750 DN 10,
    # 500/700 14, 500/640 59, 500/600 361, 500/560 867; inverted (250/20) the loop lost
    # the beacon ten times and ended in SEARCH (stop 64).
    lo, hi = v["apt_peak_lo_dn"], v["apt_peak_hi_dn"]
    if 100 * hi < 141 * lo:
        return "apt_peak_hi_dn %r is under 1.41 x apt_peak_lo_dn %r (two exposure steps)" % (
            hi, lo)
    return None


def _mirror_timing(v):
    # The lead and the mirror delay as the unit's latency moves them (flight/apt_predict.py
    # mirror_timing) stay times after the tick: a negative delay would read the mirror's
    # commands before they were sent (a latency under the reference's moves both down).
    # (imported here: the store loads this module for each check, and with the import at
    # its top and the rule's text formatted from it the firmware's heap grew by 7 008 B
    # over tests/mpy/test_tc_robust_heap_mpy.py's TC campaign, against its 3 KiB slack)
    from hal.interfaces import FSM_LATENCY_US

    shift = v["apt_fsm_latency_us"] - FSM_LATENCY_US
    for name in ("apt_kf_lead_us", "apt_fsm_delay_us"):
        if v[name] + shift < 0:
            return "%s %r moved by apt_fsm_latency_us %r to %r us, below 0" % (
                name, v[name], v["apt_fsm_latency_us"], v[name] + shift)
    return None


RULES = (
    Rule("safe_bias_below_breakdown",
         ("bias_safe_v", "bias_vbr25_v", "bias_kt_mv_per_k", "bias_t_min_c"),
         _safe_below_breakdown,
         "bias_safe_v < bias_vbr25_v + bias_kt_mv_per_k x (bias_t_min_c - 25 degC)"),
    Rule("plausible_range_ordered", ("bias_t_min_c", "bias_t_max_c"),
         _ordered("bias_t_min_c", "bias_t_max_c"), "bias_t_min_c < bias_t_max_c"),
    Rule("limit_range_ordered", ("temp_min_c", "temp_max_c"),
         _ordered("temp_min_c", "temp_max_c"), "temp_min_c < temp_max_c"),
    Rule("apt_sign_x_nonzero", ("apt_sign_x",), _sign("apt_sign_x"), "apt_sign_x is -1 or +1"),
    Rule("apt_sign_y_nonzero", ("apt_sign_y",), _sign("apt_sign_y"), "apt_sign_y is -1 or +1"),
    # The knee's sweep goes up, and its plausibility windows are windows: inverted, a sweep
    # has no points above breakdown, or every result is refused (stop 64).
    Rule("knee_sweep_ordered", ("bias_knee_lo_v", "bias_knee_hi_v"),
         _ordered("bias_knee_lo_v", "bias_knee_hi_v"), "bias_knee_lo_v < bias_knee_hi_v"),
    Rule("knee_track_sweep_ordered", ("bias_knee_track_lo_v", "bias_knee_hi_v"),
         _ordered("bias_knee_track_lo_v", "bias_knee_hi_v"),
         "bias_knee_track_lo_v < bias_knee_hi_v"),
    # (the windows are closed, min <= x <= max: a window of one value is one, not inverted)
    Rule("knee_vbr25_window_ordered", ("bias_knee_vbr25_min", "bias_knee_vbr25_max"),
         _ordered("bias_knee_vbr25_min", "bias_knee_vbr25_max", True),
         "bias_knee_vbr25_min <= bias_knee_vbr25_max"),
    Rule("knee_kt_window_ordered", ("bias_knee_kt_min", "bias_knee_kt_max"),
         _ordered("bias_knee_kt_min", "bias_knee_kt_max", True),
         "bias_knee_kt_min <= bias_knee_kt_max"),
    Rule("apt_exposure_band", ("apt_peak_lo_dn", "apt_peak_hi_dn"), _exposure_band,
         "apt_peak_hi_dn >= 1.41 x apt_peak_lo_dn"),
    # (a smallest valid spot above the largest: no spot is ever valid, the APT searches on)
    Rule("apt_spot_size_ordered", ("apt_min_spot_px", "apt_max_spot_px"),
         _ordered("apt_min_spot_px", "apt_max_spot_px", True),
         "apt_min_spot_px <= apt_max_spot_px"),
    Rule("apt_mirror_timing", ("apt_kf_lead_us", "apt_fsm_delay_us", "apt_fsm_latency_us"),
         _mirror_timing, "apt_kf_lead_us and apt_fsm_delay_us each >= "
         "hal.interfaces.FSM_LATENCY_US (500) - apt_fsm_latency_us"),
)
