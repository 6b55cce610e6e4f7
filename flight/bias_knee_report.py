"""A breakdown sweep's outcome (flight/bias_knee.py ``_finish``): the fit, its bounds, k_T
and the unit's V_br(T) line, V_br25 set and the events — a stage a framer window.

Why stages: done in one run of the knee's task, the report was 1.4–1.8 M instructions on
the Cortex-M7 (``python -m tools.target_bench``: ``task_instr_max``), three times the
500 k a run may take (half the APT period: a longer run delays an APT tick past its
release).  :func:`report` is a generator; flight/knee_owner.py runs its first stage in the
run that ended the sweep and one more each framer window after (``KneeOwner._stage``),
the parameter rules held loaded across them, none over the budget (measured on the image,
``python -m tools.knee_runs``: 313 / 113 / 198 / 121 / 196 k instructions):

1. the fit and its bounds (refused: released, reported, done); the noise floor; the bias
   held at this knee's operating point and the rest of the hardware released — the
   comparator to its level, the session ready (a light sweep's last point and level
   cost the link ~0.1 of BER a window, and the prior V_br25 may be 250 mV off);
2. k_T and the unit's line (flight/bias_kt.py ``accept_report``: their parameters,
   events);
3. ``bias_vbr25_v`` set, the bias back to its loop;
4. the knee's record (``bias_knee_last_t_c``, ``_vbr_v``);
5. its kind (``bias_knee_last_light``), BIAS_KNEE_CALIBRATED.

Until the last, BIAS_KNEE_CALIBRATE is busy and no new sweep starts (the knee's
``_job``).  A session's end or SAFE runs what is left at once (``KneeOwner._drain``): a
knee is never half reported.
"""

import math

from flight.bias_knee_fit import fit_knee
from flight.events import SEV_INFO, SEV_WARN, Event
from hal.compat import const

RESULT_NAMES = ("NONE", "OK", "REFUSED", "ABORTED")  # a sweep's outcome (HK knee_result)
R_NONE = const(0)
R_OK = const(1)
R_REFUSED = const(2)
R_ABORTED = const(3)

EV_KNEE_DONE = const(0x67)
EV_KNEE_REFUSED = const(0x68)

REPORT_EVENTS = (  # (the knee's: flight/bias_knee.py EVENTS)
    Event(EV_KNEE_DONE, "BIAS_KNEE_CALIBRATED", SEV_INFO,
          "SiPM breakdown calibrated from the noise knee",
          (("vbr25_v", "float"), ("resid_mv", "float"), ("t_c", "float"), ("light", "bool"))),
    Event(EV_KNEE_REFUSED, "BIAS_KNEE_REFUSED", SEV_WARN,
          "knee result implausible or poor fit: parameters unchanged",
          (("vbr25_v", "float"), ("resid_mv", "float"))),
)


def report(knee):
    """The stages of ``knee``'s report (a generator: one ``next`` a stage)."""
    ctx = knee.ctx
    p = ctx.params
    se = knee._se()
    knee.sigma_e = se
    if not knee._first:
        knee._se_codes = knee._level_codes()
    k = p["bias_knee_exponent"]
    inputs = (se, k, p["bias_knee_min_ratio"], knee._level_codes() * knee.dac.volts_per_code)
    fit = fit_knee(knee._v25, knee._sig, *inputs)
    knee.sweeps += 1
    t = knee.bias.t_est  # (the knee's temperature, and its reading: as at its last point)
    reading = knee.bias.readings - 1
    if fit is None:
        _refused(knee, [0.0, 0.0], "no knee: too few points above noise", "too few points")
        return
    vbr25, slope, resid, n = fit
    knee.n_fit = n
    knee.vbr25 = vbr25
    knee.resid_v = resid
    if not (p["bias_knee_vbr25_min"] <= vbr25 <= p["bias_knee_vbr25_max"]) \
            or resid > p["bias_knee_max_resid_v"]:
        _refused(knee, [vbr25, resid * 1e3],
                 "V_br25 %.3f V, residual %.1f mV: refused" % (vbr25, resid * 1e3), "")
        return
    # Noise at the operating point: the comparator's noise floor without a sweep.
    vov = p["bias_vov_v"]
    knee.floor_sigma = math.sqrt(se * se + math.pow(slope * vov, 2.0 * k))
    # The bias to this knee's operating point now, the sweep's hold kept (a light
    # sweep's last point costs the link its BER each window; the prior V_br25 may be
    # 250 mV off).  Refused (the loop not ACTIVE, the supply's range): the last point's
    # bias until the release, two windows on.
    knee.bias.override(knee._volts(vbr25, vov))
    knee._release(bias=False)  # (the comparator back: its level, the session ready)
    yield  # (the next window: k_T and the line, their parameters and events)
    kt = p["bias_kt_mv_per_k"]
    vbr_t = vbr25 + kt * 1e-3 * (t - 25.0)  # the breakdown measured, at its temperature
    vbr25 = knee.kt.accept_report(ctx, p, t, vbr_t, kt, knee.light, reading,
                                  (knee._sig,) + inputs)
    knee.vbr25 = vbr25
    yield  # (the next: V_br25 set, the bias back to its loop)
    p.set("bias_vbr25_v", vbr25)
    knee.bias.override(None)
    yield  # (the next: the knee's record)
    p.set("bias_knee_last_t_c", t)
    p.set("bias_knee_last_vbr_v", vbr_t)
    yield  # (the last: its kind, the event)
    p.set("bias_knee_last_light", knee.light)
    knee.result = R_OK
    knee._auto = False
    light = knee.light
    ctx.emit(EV_KNEE_DONE, [vbr25, resid * 1e3, t, light],
             "V_br25 %.3f V (%d points%s, residual %.1f mV) at %.2f degC"
             % (vbr25, n, ", uplink on" if light else "", resid * 1e3, t))


def _refused(knee, args, text, why):
    """The fit refused: the sweep released, said; an automatic one reports REUSED."""
    knee.result = R_REFUSED
    knee._release()
    knee.ctx.emit(EV_KNEE_REFUSED, args, text)
    if knee._auto:
        knee._reused("refused: " + why if why else "refused")
