"""The unit's breakdown line V_br(T), kept across sessions (issue 14.3; DESIGN §3.4.1;
docs/calibration.md "The k_T line across sessions").

Why: a session's k_T from its own dark knees — or from its first knee and the last one of
an earlier session — rests on two or three knees of ~3 mV repeatability each, 10–15 K
apart: ±0.35–0.5 mV/K, 4–8 mV of over-voltage at the end of a pass.  The unit's V_br(T)
does not change from pass to pass, so every accepted dark knee of every session is a
point on the same line: kept as the line's sufficient statistics in the parameter table
(saved with it by ``PARAM_SAVE``), each session's knees merge with it and the slope's
error falls as 1/sqrt(knees) (0.37 → 0.30 mV/K over four sessions, where the pair of
one earlier knee and this session's stays at 0.37: docs/calibration.md).

Dark knees only: a light knee's breakdown lies ~10 mV below a dark one's at the same
temperature (flight/bias_kt.py), and a line mixing them comes out 1–3 mV/K low.

The statistics (n, mean T, mean V_br, S_tt, S_tv, S_vv — sums of products of deviations
from the means) merge exactly (the pairwise update of Chan et al.), so no knee list is
kept and the table holds six numbers whatever the count.  A unit with ``_n`` 0 but a
dark last knee (``bias_knee_last_t_c``/``_vbr_v``: a table saved before this line
existed) starts from that knee.  ``bias_kt_line_n`` 0 and ``bias_knee_last_t_c`` -273 by
``PARAM_SET`` forget the line (a unit replaced, docs/calibration.md).

A line that no longer fits its unit (the unit replaced, its breakdown drifted with age)
restarts by itself: a dark knee kept out of the line as too far off it is kept instead in
a second group, ``bias_kt_line_off_*`` (the same six statistics), which a knee agreeing
with it joins and a knee on the line clears; ``bias_kt_line_restart_n`` such knees in a
row (3: a knee's own scatter puts one beyond the limit less than once in 10^4 knees, so
three are never chance) become the unit's line.  Why: without it, every later session of such a
unit keeps its knee out and k_T would never learn again (docs/calibration.md "A line that
stops fitting").
"""

import math

from flight.params import ParamDef as P

LINE_PARAMS = (  # the breakdown module's (flight/bias_kt.py KT_PARAMS adds them)
    P("bias_kt_line_n", "int", 0, 0, 100000, "",
      "dark knees in the unit's V_br(T) line across sessions (0: none)"),
    P("bias_kt_line_t_c", "float", 25.0, -100.0, 150.0, "degC",
      "mean temperature of the line's knees"),
    P("bias_kt_line_vbr_v", "float", 0.0, 0.0, 80.0, "V", "mean V_br of the line's knees"),
    P("bias_kt_line_stt", "float", 0.0, 0.0, 1e9, "K^2",
      "sum of the knees' squared temperature deviations from their mean"),
    P("bias_kt_line_stv", "float", 0.0, -1e7, 1e7, "K V",
      "sum of the knees' temperature times V_br deviations"),
    P("bias_kt_line_svv", "float", 0.0, 0.0, 1e7, "V^2",
      "sum of the knees' squared V_br deviations"),
    P("bias_kt_line_max_off_v", "float", 0.015, 0.001, 1.0, "V",
      "farthest a dark knee may lie from the line's prediction, beyond 3 sigma of it, "
      "and join it (a knee's own scatter: ~4 mV RMS)"),
    P("bias_kt_line_restart_n", "int", 3, 0, 20, "",
      "dark knees in a row off the line, agreeing with each other, that restart it "
      "(0: never)"),
    P("bias_kt_line_off_n", "int", 0, 0, 20, "",
      "dark knees in a row kept out of the line (their own statistics: bias_kt_line_off_*)"),
    P("bias_kt_line_off_t_c", "float", 25.0, -100.0, 150.0, "degC",
      "mean temperature of the knees off the line"),
    P("bias_kt_line_off_vbr_v", "float", 0.0, 0.0, 80.0, "V",
      "mean V_br of the knees off the line"),
    P("bias_kt_line_off_stt", "float", 0.0, 0.0, 1e9, "K^2",
      "S_tt of the knees off the line"),
    P("bias_kt_line_off_stv", "float", 0.0, -1e7, 1e7, "K V",
      "S_tv of the knees off the line"),
    P("bias_kt_line_off_svv", "float", 0.0, 0.0, 1e7, "V^2",
      "S_vv of the knees off the line"),
)
_NAMES = ("bias_kt_line_n", "bias_kt_line_t_c", "bias_kt_line_vbr_v",
          "bias_kt_line_stt", "bias_kt_line_stv", "bias_kt_line_svv")
OFF_NAMES = ("bias_kt_line_off_n", "bias_kt_line_off_t_c", "bias_kt_line_off_vbr_v",
             "bias_kt_line_off_stt", "bias_kt_line_off_stv", "bias_kt_line_off_svv")

EMPTY = (0, 0.0, 0.0, 0.0, 0.0, 0.0)


def group(ts, vs):
    """The statistics (n, mean T, mean V, S_tt, S_tv, S_vv) of knees at ``ts`` (degC)
    measuring ``vs`` (V)."""
    n = len(ts)
    if n == 0:
        return EMPTY
    mt = sum(ts) / n
    mv = sum(vs) / n
    stt = stv = svv = 0.0
    for i in range(n):
        dt = ts[i] - mt
        dv = vs[i] - mv
        stt += dt * dt
        stv += dt * dv
        svv += dv * dv
    return (n, mt, mv, stt, stv, svv)


def merge(a, b):
    """The statistics of two groups of knees taken together (exact)."""
    na = a[0]
    nb = b[0]
    if na == 0:
        return b
    if nb == 0:
        return a
    n = na + nb
    dt = b[1] - a[1]
    dv = b[2] - a[2]
    w = na * nb / n
    return (n, a[1] + dt * nb / n, a[2] + dv * nb / n, a[3] + b[3] + dt * dt * w,
            a[4] + b[4] + dt * dv * w, a[5] + b[5] + dv * dv * w)


def line(g, v_err):
    """(slope mV/K, its standard error mV/K, n, mean T, mean V) of the line through the
    knees of ``g``, or None with fewer than two or no spread of temperature; the scatter
    about it is taken as at least ``v_err`` volts per knee (with two knees, the only
    figure there is)."""
    n, mt, mv, stt, stv, svv = g
    if n < 2 or stt <= 0.0:
        return None
    k = stv / stt
    s2 = v_err * v_err
    if n > 2:
        r = (svv - k * stv) / (n - 2)  # the residuals' sum of squares, per degree of freedom
        s2 = r if r > s2 else s2
    return k * 1e3, math.sqrt(s2 / stt) * 1e3, n, mt, mv


def predict(g, t, v_err):
    """(V_br, its standard error) the line ``g`` predicts at ``t`` (degC) — the line's
    scatter (at least ``v_err`` a knee) carried to ``t`` — or None with no line yet."""
    f = line(g, v_err)
    if f is None:
        return None
    n, mt, mv, stt = g[0], g[1], g[2], g[3]
    s2 = (f[1] * 1e-3) * (f[1] * 1e-3) * stt  # (the scatter per knee, V²)
    dt = t - mt
    return mv + f[0] * 1e-3 * dt, math.sqrt(s2 * (1.0 / n + dt * dt / stt))


def off_line(p, g, t, v):
    """Why a dark knee measuring ``v`` (V) at ``t`` (degC) may not join the line ``g``:
    farther from its prediction than ``bias_kt_line_max_off_v`` plus 3 σ of the
    prediction; None when it may, or when ``g`` predicts nothing yet."""
    pr = predict(g, t, p["bias_knee_vbr_err_v"])
    if pr is None:
        return None
    lim = p["bias_kt_line_max_off_v"] + 3.0 * pr[1]
    off = v - pr[0]
    if -lim <= off <= lim:
        return None
    return "knee %+.1f mV off the line's %.4f V at %.2f degC (allowed %.1f): kept out of it" \
        % (off * 1e3, pr[0], t, lim * 1e3)


def load(p):
    """The unit's saved line; with none, its last dark knee alone (a table from before the
    line), or :data:`EMPTY`."""
    if p["bias_kt_line_n"] > 0:
        return _stats(p, _NAMES)
    t = p["bias_knee_last_t_c"]
    if t > -200.0 and not p["bias_knee_last_light"]:
        return (1, t, p["bias_knee_last_vbr_v"], 0.0, 0.0, 0.0)
    return EMPTY


def _stats(p, names):
    """The six statistics kept under ``names`` in the parameter table."""
    return tuple([p[k] for k in names])


def save(p, g, names=_NAMES):
    """The line ``g`` into the parameter table (kept by the next ``PARAM_SAVE``); False,
    nothing changed, when a value lies outside its parameter's range.  (``names``:
    :data:`OFF_NAMES` for the knees off the line.)"""
    old = [p[k] for k in names]
    try:
        for i in range(6):
            p.set(names[i], g[i] if i else int(g[0]))
    except ValueError:
        for i in range(6):
            p.set(names[i], old[i])
        return False
    return True


def off_add(p, t, v):
    """A dark knee measuring ``v`` (V) at ``t`` (degC) kept out of the line: into the
    group of the knees off it, which it joins when it agrees with them — within
    ``bias_kt_line_max_off_v`` plus 3 sigma (``bias_knee_vbr_err_v`` a knee) of their
    mean, referred to ``t`` with the k_T in use — or starts afresh (so too when the group
    would not fit its parameters' ranges).  The group as it now stands."""
    off = _stats(p, OFF_NAMES)
    n = off[0]
    one = group([t], [v])
    g = one
    if n > 0:
        ref = off[2] + p["bias_kt_mv_per_k"] * 1e-3 * (t - off[1])
        lim = p["bias_kt_line_max_off_v"] + \
            3.0 * p["bias_knee_vbr_err_v"] * math.sqrt(1.0 + 1.0 / n)
        if -lim <= v - ref <= lim:
            g = merge(off, one)
    if not save(p, g, OFF_NAMES):
        save(p, one, OFF_NAMES)
        return one
    return g


def off_clear(p):
    """A dark knee on the line: the knees off it were not a trend."""
    if p["bias_kt_line_off_n"]:
        save(p, EMPTY, OFF_NAMES)
