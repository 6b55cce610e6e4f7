"""The ground's fit of the transmitter boresight scan (``vector-tc bore-fit``; flight side
flight/bore_scan.py, docs/point-ahead.md "Procedure: transmitter boresight calibration").

On ``PA_BORE_SCAN(step, dwell, cycles)`` the payload adds trial deltas to its boresight
parameter (``pa_tx_bore_x/y_urad``) dwell by dwell while the station logs the received
downlink power.  The schedule, from the event PA_BORE_SCAN_STARTED (``t0`` onboard s,
step ``s`` µrad, dwell ``D`` s, ``N`` cycles): dwell ``k`` = 0 .. 8N-1 covers onboard time
``[t0 + k D, t0 + (k+1) D)`` with the trial ``PATTERN[k % 8] * s``.

The model.  The downlink beam is Gaussian: an aim error ``a`` keeps the fraction
``exp(-2 |a|^2 / theta^2)`` of the power (paper Eq. 2, theta = lambda / (pi w0) = 67.6 µrad,
sim/linkbudget ``DOWNLINK.divergence_rad``).  The trial ``t`` is added to the parameter
whose error is the correction ``c`` we look for, and parameter space maps onto the sky by
a rotation (norms kept), so ``P(t) = P0 exp(-2 |t - c|^2 / theta^2)``, largest at
``t = c``.  For a trial ``+s`` and ``-s`` along one axis (the other axis' error is the same
in both and cancels)::

    ln P(+s) - ln P(-s) = -2/theta^2 (|s - c|^2 - |s + c|^2) = 8 s c / theta^2

so per cycle and axis ``c = theta^2 L / (8 s)`` with ``L`` = ln(mean power of the two "+"
dwells) - ln(mean power of the two "-" dwells).  The pattern is ABBA on each axis
(+ - - +): a power drift linear in time over a cycle (the range closing, the air mass)
scales the "+" and the "-" pairs alike and cancels in ``L``.  Each pair's mean is the mean
of its two dwells' means (equal weights), so the cancellation holds even when a dwell lost
samples; with equal sample counts it is the mean of the pooled samples.  The correction is
the mean over the cycles, its standard error the cycles' scatter / sqrt(N).

The loop's own residual jitter ``e`` (isotropic, variance ``sigma^2`` per axis) averages
the Gaussian over a Gaussian: the mean power goes as ``exp(-2 |t - c|^2 / (theta^2 +
4 sigma^2))``, i.e. the fit's theta^2 is low by 4 sigma^2 and ``c`` by the same fraction:
1 % at sigma = 3.5 µrad, negligible against the ~2 µrad being corrected.

Samples are used from ``guard`` after each dwell's start to its end: the trial changes at
the point-ahead task's first 10 Hz tick at or after the start (up to 100 ms late) and the
meter averages over its own sample time.  The fit refuses (``accepted`` false, ``why``
said) rather than guess: fewer than 2 cycles (no standard error), a dwell without samples
(wrong t0 or clock offset, the log cut), a non-positive or non-finite power (link lost),
a correction beyond the step (the Gaussian is only trusted inside the scan), a standard
error above ``max_se_urad``, a correction within :data:`SIGNIFICANCE` standard errors
(noise: the parameters are kept).

Pure Python (``math``, ``bisect``): the command line loads this module on every
``vector-tc`` start, and the simulator's operator (sim/run/bore_ground.py) calls
:func:`fit` directly.
"""

import bisect
import math
import numbers

from flight.bore_scan import PATTERN  # trial per dwell: ABBA on x, then on y
from sim.linkbudget import DOWNLINK

# Positions within a cycle of each axis' "+" and "-" dwells (from PATTERN).
_PLUS_X, _MINUS_X = (0, 3), (1, 2)
_PLUS_Y, _MINUS_Y = (4, 7), (5, 6)

GUARD_S = 0.2  # assumed: the trial is up to 0.1 s late (10 Hz tick) + the meter's 0.01 s
# sample, about doubled for margin; a fifth of the operator's 1 s dwell (sim/run/bore_ground.py)
# paper §3.2: lambda / (pi w0) at 850 nm, w0 = 4.0 mm: 67.6 µrad (the unit's bench value
# may be given with --divergence)
DIVERGENCE_URAD = DOWNLINK.divergence_rad * 1e6
MAX_SE_URAD = 1.0  # assumed: half the ~2 µrad/axis ground calibration error being
# corrected; a noisier fit says little either way (repeat it longer)
# A correction smaller than this many times its radial standard error is not applied:
# applied, it would move the boresight by noise (the expected error after a fit is
# ~the standard error), so the parameters are kept (simulated campaign, docs/point-ahead.md:
# a 1.4 µrad error "corrected" by a 1.1 ± 0.6 µrad fit read 0.1 µrad worse in the pass).
SIGNIFICANCE = 2.0
HEADER = "t_s,power_w"  # the power log's header (sim/ogs_power.py write_csv writes it)


def _finite(name, v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError("%s must be a number, not %r" % (name, v)) from None
    if not math.isfinite(x):
        raise ValueError("%s must be finite, not %r" % (name, v))
    return x


def _positive(name, v):
    x = _finite(name, v)
    if not x > 0.0:
        raise ValueError("%s must be > 0, not %r" % (name, v))
    return x


def _check_schedule(t0, step_urad, dwell_s, cycles):
    t0 = _finite("t0", t0)
    step = _positive("step_urad", step_urad)
    dwell = _positive("dwell_s", dwell_s)
    # bool is an int in Python: refused, it is never a count the operator meant
    if isinstance(cycles, bool) or not isinstance(cycles, numbers.Integral) or cycles < 1:
        raise ValueError("cycles must be an integer >= 1, not %r" % (cycles,))
    return t0, step, dwell, int(cycles)


def schedule(t0, step_urad, dwell_s, cycles):
    """The scan's dwells: a list of ``(start, end, dx_urad, dy_urad)`` in onboard seconds,
    dwell ``k`` = ``[t0 + k dwell, t0 + (k+1) dwell)`` with the trial
    ``PATTERN[k % 8] * step`` (each bound computed from ``k``, not accumulated, as the
    flight side counts it)."""
    t0, step, dwell, cycles = _check_schedule(t0, step_urad, dwell_s, cycles)
    out = []
    for k in range(8 * cycles):
        px, py = PATTERN[k % 8]
        out.append((t0 + k * dwell, t0 + (k + 1) * dwell, px * step, py * step))
    return out


def _result(cycles, samples_min, why, per_cycle=(), c=(None, None), se=(None, None)):
    return {"dx_urad": c[0], "dy_urad": c[1], "se_x_urad": se[0], "se_y_urad": se[1],
            "cycles": cycles, "per_cycle": [list(p) for p in per_cycle],
            "samples_min": samples_min, "accepted": not why, "why": why}


def _se(values):
    """Standard error of the mean (sample standard deviation / sqrt(n)); None below 2."""
    n = len(values)
    if n < 2:
        return None
    m = math.fsum(values) / n
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (n - 1) / n)


def fit(times_s, powers_w, t0, step_urad, dwell_s, cycles, guard_s=GUARD_S,
        divergence_urad=DIVERGENCE_URAD, max_se_urad=MAX_SE_URAD):
    """Fit the boresight correction from a power log (onboard seconds, watts).

    Returns a dict: ``dx_urad``/``dy_urad`` the correction to add to the parameters in
    force during the scan, ``se_x_urad``/``se_y_urad`` its standard errors (None with one
    cycle), ``cycles``, ``per_cycle`` ([cx, cy] each), ``samples_min`` (fewest samples in
    a dwell's window), ``accepted`` and ``why`` ("" when accepted, else the reason).
    Invalid inputs (not a refusal of the data: a caller's mistake) raise ValueError.
    """
    t0, step, dwell, cycles = _check_schedule(t0, step_urad, dwell_s, cycles)
    guard = _finite("guard_s", guard_s)
    if not 0.0 <= guard < dwell:
        raise ValueError("guard_s must be in [0, dwell_s = %g), not %r" % (dwell, guard_s))
    theta = _positive("divergence_urad", divergence_urad)
    max_se = _positive("max_se_urad", max_se_urad)
    times = [float(t) for t in times_s]
    powers = [float(p) for p in powers_w]
    if len(times) != len(powers):
        raise ValueError("times_s and powers_w differ in length (%d, %d)"
                         % (len(times), len(powers)))
    for i, t in enumerate(times):
        if not math.isfinite(t):
            raise ValueError("time %d is not finite (%r)" % (i, t))
        if i and not t > times[i - 1]:
            raise ValueError("times must increase: time %d (%r) is not after time %d (%r)"
                             % (i, t, i - 1, times[i - 1]))

    # Each dwell's window [start + guard, end) in the log, then its mean power.
    dwells = schedule(t0, step, dwell, cycles)
    win = [(bisect.bisect_left(times, a + guard), bisect.bisect_left(times, b))
           for a, b, _dx, _dy in dwells]
    samples_min = min(i1 - i0 for i0, i1 in win)
    means = []
    for k, (i0, i1) in enumerate(win):
        if i1 == i0:
            a, b, dx, dy = dwells[k]
            return _result(cycles, 0, "dwell %d (onboard %.3f..%.3f s, trial %+g,%+g urad) "
                           "has no power sample after the %g s guard: check --t0 and "
                           "--time-offset (station clock minus onboard time) and that the "
                           "log covers the scan" % (k, a, b, dx, dy, guard))
        for i in range(i0, i1):
            p = powers[i]
            if not (math.isfinite(p) and p > 0.0):
                return _result(cycles, samples_min, "dwell %d has a non-positive or "
                               "non-finite power (%r W at t = %.3f s): the link was lost "
                               "or the log is corrupt" % (k, p, times[i]))
        means.append(math.fsum(powers[i0:i1]) / (i1 - i0))

    # Per cycle and axis: L = ln(+ pair) - ln(- pair), c = theta^2 L / (8 step).
    gain = theta * theta / (8.0 * step)
    per_cycle = []
    for j in range(cycles):
        m = means[8 * j:8 * j + 8]
        c = []
        for plus, minus in ((_PLUS_X, _MINUS_X), (_PLUS_Y, _MINUS_Y)):
            lp = math.log((m[plus[0]] + m[plus[1]]) / 2.0)
            lm = math.log((m[minus[0]] + m[minus[1]]) / 2.0)
            c.append(gain * (lp - lm))
        per_cycle.append(c)
    cx = math.fsum(c[0] for c in per_cycle) / cycles
    cy = math.fsum(c[1] for c in per_cycle) / cycles
    se = (_se([c[0] for c in per_cycle]), _se([c[1] for c in per_cycle]))

    why = ""
    if cycles < 2:
        why = ("fewer than 2 cycles (%d): no standard error from the cycles' scatter; "
               "repeat the scan with cycles >= 2" % cycles)
    elif abs(cx) > step or abs(cy) > step:
        why = ("correction (%.2f, %.2f) urad beyond the %g urad step: outside the scan: "
               "repeat with a larger step" % (cx, cy, step))
    elif se[0] > max_se or se[1] > max_se:
        why = ("standard error (%.2f, %.2f) urad above %g urad: the power is too noisy; "
               "repeat with more cycles or longer dwells" % (se[0], se[1], max_se))
    elif math.hypot(cx, cy) < SIGNIFICANCE * math.hypot(se[0], se[1]):
        why = ("correction (%.2f, %.2f) urad within the scan's noise (%g x its standard "
               "error, %.2f urad): the boresight is as good as this scan can tell; keep "
               "the parameters (in commissioning: repeat once with twice the cycles, a "
               "longer scan resolves a smaller correction)" % (
                   cx, cy, SIGNIFICANCE, SIGNIFICANCE * math.hypot(se[0], se[1])))
    return _result(cycles, samples_min, why, per_cycle, (cx, cy), se)


def load_power(path):
    """Read a station power log: a ``t_s,power_w`` header line, then one ``t,p`` line per
    sample (onboard seconds, watts); blank lines and ``#`` comment lines are skipped.
    Returns ``(times, powers)`` lists.  ValueError naming the line on a bad one (times
    must be finite and increase; a power that is not positive or finite is left to the
    fit, which refuses it with the reason).  OSError when the file cannot be read."""
    times, powers = [], []
    header = False
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not header:
                if line.replace(" ", "") != HEADER:
                    raise ValueError("%s:%d: expected the header %r, got %r"
                                     % (path, lineno, HEADER, line[:60]))
                header = True
                continue
            fields = line.split(",")
            try:
                if len(fields) != 2:
                    raise ValueError("2 fields expected")
                t = float(fields[0])
                p = float(fields[1])
                if not math.isfinite(t):
                    raise ValueError("time not finite")
            except ValueError as e:
                raise ValueError("%s:%d: bad line %r (%s): want t_s,power_w"
                                 % (path, lineno, line[:60], e)) from None
            if times and not t > times[-1]:
                raise ValueError("%s:%d: time %r is not after the previous line's %r"
                                 % (path, lineno, t, times[-1]))
            times.append(t)
            powers.append(p)
    if not header:
        raise ValueError("%s: no %r header: not a power log" % (path, HEADER))
    return times, powers


# ---------------------------------------------------------------------- command line
def _num(v):
    x = float(v)
    if not math.isfinite(x):
        raise ValueError(v)
    return x


def cmd_bore_fit(args):
    # cliutil pulls in the link layer: loaded only when the command runs, so the
    # simulator's import of fit() does not need it
    from ground_tools.cliutil import Fail, note, verdict

    if (args.bore_x is None) != (args.bore_y is None):
        raise Fail("--bore-x and --bore-y go together (the parameters in force during "
                   "the scan)")
    try:
        times, powers = load_power(args.power)
    except OSError as e:
        raise Fail("cannot read %s: %s" % (args.power, e.strerror or e)) from None
    except UnicodeDecodeError:
        raise Fail("%s is not text" % args.power) from None
    except ValueError as e:
        raise Fail(str(e)) from None
    times = [t - args.time_offset for t in times]  # station clock -> onboard time
    try:
        res = fit(times, powers, args.t0, args.step, args.dwell, args.cycles,
                  guard_s=args.guard, divergence_urad=args.divergence,
                  max_se_urad=args.max_se)
    except ValueError as e:
        raise Fail(str(e)) from None
    out = dict(res)
    commands = []
    if args.bore_x is not None:
        have = res["dx_urad"] is not None
        # 0.01 µrad: the parameter's resolution on board (10 nrad units,
        # flight/pointahead.py), so the JSON shows what the commands set
        bx = round(args.bore_x + res["dx_urad"], 2) if have else None
        by = round(args.bore_y + res["dy_urad"], 2) if have else None
        out["pa_tx_bore_x_urad"] = bx
        out["pa_tx_bore_y_urad"] = by
        if res["accepted"]:
            commands = ["vector-tc send PARAM_SET name=pa_tx_bore_x_urad value=%.2f" % bx,
                        "vector-tc send PARAM_SET name=pa_tx_bore_y_urad value=%.2f" % by,
                        "vector-tc send PARAM_SAVE"]
    elif res["accepted"]:
        note("give --bore-x/--bore-y (the parameters in force during the scan) for the "
             "new values and the commands to send")
    out["commands"] = commands
    return verdict(out, "fit")


def add_parser(sub):
    p = sub.add_parser(
        "bore-fit", help="fit the transmitter boresight correction from a PA_BORE_SCAN "
        "power log",
        description="Fit the transmitter boresight correction from the station's power "
        "log of a PA_BORE_SCAN (the schedule from its PA_BORE_SCAN_STARTED event).  Prints "
        "one JSON object; exit 0 accepted, 4 refused (see 'why'), 2 bad input.")
    p.add_argument("--power", required=True, metavar="FILE",
                   help="power log CSV: header t_s,power_w (seconds, watts)")
    p.add_argument("--t0", type=_num, required=True, metavar="S",
                   help="scan start, onboard seconds (event PA_BORE_SCAN_STARTED t0)")
    p.add_argument("--step", type=_num, required=True, metavar="URAD", help="trial step")
    p.add_argument("--dwell", type=_num, required=True, metavar="S", help="dwell time")
    p.add_argument("--cycles", type=int, required=True, metavar="N", help="cycles")
    p.add_argument("--time-offset", type=_num, default=0.0, metavar="S",
                   help="station clock minus onboard time, subtracted from the log's "
                   "times (default 0)")
    p.add_argument("--guard", type=_num, default=GUARD_S, metavar="S",
                   help="seconds skipped at each dwell's start (default %g)" % GUARD_S)
    p.add_argument("--divergence", type=_num, default=DIVERGENCE_URAD, metavar="URAD",
                   help="downlink 1/e^2 half-angle divergence (default %.2f)" % DIVERGENCE_URAD)
    p.add_argument("--max-se", type=_num, default=MAX_SE_URAD, metavar="URAD",
                   help="refuse a standard error above this (default %g)" % MAX_SE_URAD)
    p.add_argument("--bore-x", type=_num, metavar="URAD",
                   help="pa_tx_bore_x_urad in force during the scan")
    p.add_argument("--bore-y", type=_num, metavar="URAD",
                   help="pa_tx_bore_y_urad in force during the scan")
    p.set_defaults(fn=cmd_bore_fit)
