"""Breakdown tracked against temperature (issue 14.3; DESIGN §3.4.1; operator procedure in
docs/calibration.md): the knees of a session and the k_T fitted through them.

Why: one knee fixes V_br at the sweep's temperature only; a unit's k_T differs from the
flight default by ~1 mV/K (σ), and a pass warms the die by 10–15 K after the session
starts (power-on heating), so the over-voltage drifts by Δk_T·ΔT — 20–35 mV at the end of
a pass for the units 1.5–2.5 σ off, with every knee before exact.  Each further knee at a
temperature ``bias_knee_track_dk`` away from the last one re-anchors V_br where the die
is now, and the knees together give the unit's own k_T:

* the least-squares line of V_br(T) through this session's accepted knees — dark ones
  with the unit's line across sessions (flight/bias_kt_line.py: every accepted dark knee
  of earlier sessions); light ones alone, or with fewer than two the last accepted knee
  of an earlier session, ``bias_knee_last_t_c`` / ``_vbr_v``, when light and
  ``bias_knee_kt_min_dk`` away;
* of one kind only, the latest knee's: dark knees (the trigger rate, the uplink off) with
  dark ones, light knees (the code violations, the uplink on) with light ones — a light
  knee's breakdown lies ~10 mV below a dark knee's at the same temperature (the signal's
  on-chips missed at the sweep's low over-voltages count as noise), and a line through a
  dark first knee and light later ones came out 1–3 mV/K low (measured,
  docs/calibration.md "Commissioning"); ``bias_knee_last_light`` says which the saved
  knee was;
* its quality: the slope's standard error, from the knees' scatter about the line (at
  least ``bias_knee_vbr_err_v``, the repeatability of one knee, with two knees the only
  figure there is) over the spread of their temperatures;
* refused (the default or earlier k_T kept, event says why) when the slope lies outside
  ``bias_knee_kt_min..max`` or its standard error exceeds ``bias_knee_kt_max_err`` (the
  prior's own uncertainty: a worse estimate would not help).

Accepted: ``bias_kt_mv_per_k`` and ``bias_vbr25_v`` from the line (the line, not the last
knee alone, averages the knees' errors); else ``bias_vbr25_v`` from the latest knee with
the k_T in use.  Short lists of floats: a knee is accepted a few times per session.

When the next knee is due — before the link (*pre-link knees*, dark, on by default: a
session started ahead of the uplink warms the payload first, docs/calibration.md "A
warm-up before the link") and with it (*tracking knees*, light, off by default: the link
pays for them) — is :mod:`flight.bias_kt_due`'s.
"""

from flight import bias_kt_line as L
from flight.bias_kt_due import DUE_PARAMS, MIN_PACKETS, KneeDue  # noqa: F401 (bias_knee's)
from flight.bias_knee_fit import fit_knee
from flight.events import SEV_INFO, SEV_WARN, Event
from flight.params import ParamDef
from hal.compat import const

EV_KNEE_KT = const(0x6E)
EV_KNEE_HINDSIGHT = const(0x75)
EV_KNEE_LINE = const(0x76)
EV_KNEE_LINE_RESTART = const(0x77)
KT_EVENTS = (  # the breakdown module's (flight/bias_knee.py EVENTS adds it)
    Event(EV_KNEE_KT, "BIAS_KNEE_KT", SEV_INFO,
          "breakdown temperature coefficient from the knees at several temperatures "
          "(refused: outside bias_knee_kt_min..max or sigma above bias_knee_kt_max_err)",
          (("kt_mv_per_k", "float"), ("accepted", "bool"), ("sigma_mv_per_k", "float"),
           ("knees", "int"))),
    Event(EV_KNEE_HINDSIGHT, "BIAS_KNEE_HINDSIGHT", SEV_INFO,
          "the last knee's temperature and its points re-read in hindsight, 1-2 s later "
          "(the sensor's lag inverted with the readings around each): V_br25 (and k_T) "
          "from the points refitted; refused: a correction beyond "
          "bias_knee_hindsight_max_k, 0 with a reading lost around the knee, or the "
          "points' refit lost, failed or implausible — the knee kept as it was",
          (("dt_k", "float"), ("accepted", "bool"), ("vbr25_v", "float"), ("t_c", "float"))),
    Event(EV_KNEE_LINE, "BIAS_KNEE_LINE", SEV_INFO,
          "the unit's V_br(T) line across sessions (bias_kt_line_*) after a dark knee: "
          "its knees, and whether it was kept (not kept: the k_T through it refused — "
          "this session's knees stay out of it)",
          (("knees", "int"), ("kept", "bool"))),
    Event(EV_KNEE_LINE_RESTART, "BIAS_KNEE_LINE_RESTART", SEV_WARN,
          "the unit's V_br(T) line no longer fits it: bias_kt_line_restart_n dark knees in "
          "a row off it, agreeing with each other, became the line (the old one dropped)",
          (("old_knees", "int"), ("knees", "int"))),
)

P = ParamDef
KT_PARAMS = (  # the breakdown module's (flight/bias_knee.py PARAMS adds them)
    P("bias_knee_kt_min", "float", 15.0, 0.0, 100.0, "mV/K", "plausible k_T, low"),
    P("bias_knee_kt_max", "float", 28.0, 0.0, 100.0, "mV/K", "plausible k_T, high"),
    P("bias_knee_kt_min_dk", "float", 10.0, 1.0, 100.0, "K",
      "temperature distance of this session's knee from an earlier session's for k_T"),
    P("bias_knee_track_lo_v", "float", 1.1, 0.3, 3.0, "V",
      "first point of a tracking knee above the breakdown (known then to a few mV)"),
    P("bias_knee_track_min_span", "float", 3.0, 0.5, 100.0, "K",
      "temperature span of one session's knees before k_T is fitted through them"),
    P("bias_knee_vbr_err_v", "float", 0.003, 0.0005, 0.1, "V",
      "repeatability of one knee (least scatter assumed in the k_T fit's sigma)"),
    P("bias_knee_kt_max_err", "float", 1.0, 0.05, 10.0, "mV/K",
      "largest sigma of a fitted k_T accepted (the default's own spread: 1 mV/K)"),
    P("bias_knee_hindsight_max_k", "float", 1.0, 0.0, 10.0, "K",
      "largest plausible hindsight correction of a knee's temperature (0: none made)"),
    P("bias_knee_last_t_c", "float", -273.0, -273.0, 150.0, "degC",
      "temperature of the last accepted knee (-273: none)"),
    P("bias_knee_last_vbr_v", "float", 0.0, 0.0, 80.0, "V",
      "V_br measured at bias_knee_last_t_c"),
    P("bias_knee_last_light", "bool", False, False, True, "",
      "the last accepted knee was read with the uplink on (paired with its kind only)"),
) + DUE_PARAMS + L.LINE_PARAMS

_MAX_KNEES = 8  # knees a session keeps (the oldest dropped): the due rules make ≤ 9


class KtTrack(KneeDue):
    """The accepted knees of one session and the k_T through them (when the next is due:
    :class:`flight.bias_kt_due.KneeDue`)."""

    def __init__(self):
        KneeDue.__init__(self)
        self.ts = []  # knee temperatures (bias loop estimate, degC)
        self.vs = []  # V_br measured at them (V)
        self.ks = []  # their kinds: True read with the uplink on (light), False dark, None
        # a dark knee too far off the unit's line to join it (fitted with none)
        self.kt_sigma = None  # standard error of the last fitted k_T (mV/K), or None
        self.kt_fit = None  # the last fitted k_T (mV/K), accepted or not
        self._prior = None  # the unit's line (bias_kt_line) as the session found it
        self._line = None  # (line, kept, why) after the last dark knee's fit: its event
        self.restarted = None  # (old knees, new knees) of a line restarted, its event due
        self._ref_n = -1  # the bias loop's reading of the latest knee, its hindsight due
        self._ref_t = 0.0  # that knee's temperature as estimated then (degC)
        self._ref_kt = 0.0  # the k_T in use before it (mV/K)
        self._ref_last = None  # the earlier session's knee as it was then (fit's ``last``)
        self._ref_fit = None  # its sweep's points and fit inputs, refitted in hindsight
        self.sweep_start()  # (the sweep's points: bias, estimate, place)
        self._rd = -1  # the bias loop's readings count at the last window, and the
        self._wj = 0  # windows since it last changed (a point's place between readings)

    pending = property(lambda self: self._ref_n >= 0)  # a knee's hindsight is still due

    def start(self):
        """A new session: no knee yet."""
        self._ref_n = -1
        self._prior = None
        del self.ts[:]
        del self.vs[:]
        del self.ks[:]
        self.due_start()

    def stop(self, ctx):
        """The session is over (or safe): a knee's hindsight still due cannot come (no
        more readings); said, the knee kept as it was."""
        if self._ref_n >= 0:
            self._ref_n = -1
            self._kept(ctx, 0.0, "no hindsight: the session ended first")

    def add(self, p, t, v, light=False):
        """An accepted knee: V_br ``v`` at ``t`` (``light``: read with the uplink on);
        the next is due ±dk from here."""
        self._ref_n = -1  # (a hindsight still due was for the knee before)
        if self._prior is None:  # the session's first knee: the unit's line before it
            self._prior = L.load(p)
        if len(self.ts) >= _MAX_KNEES:
            t0 = self.ts.pop(0)
            v0 = self.vs.pop(0)
            if self.ks.pop(0) is False:  # (a dark knee dropped stays in the line)
                self._prior = L.merge(self._prior, L.group([t0], [v0]))
        self.ts.append(t)
        self.vs.append(v)
        self.ks.append(bool(light))
        self.due_from(p, t)

    def _restart(self, p, old, off):
        """The knees off the line ``old`` (``off``, this one the last of them) become the
        unit's line: saved now, whatever the k_T through it; this session's knees that
        joined the old line leave the fits (they are its knees, not the unit's now)."""
        for i in range(len(self.ks)):
            if self.ks[i] is False or i == len(self.ks) - 1:
                self.ks[i] = None
        self._prior = off
        L.save(p, off)
        L.off_clear(p)
        self.restarted = (old[0], off[0])

    def fit(self, p, last=None, check=False):
        """(k_T mV/K, σ mV/K, knees, mean T, mean V_br) of the line through this
        session's knees of the latest knee's kind, or None when there is none.

        Dark (``self._line`` set): the unit's line across sessions
        (:mod:`flight.bias_kt_line`, as the session's first knee found it) with this
        session's dark knees — fitted when these span ``bias_knee_track_min_span`` or
        all of them spread as two knees ``bias_knee_kt_min_dk`` apart do (S_tt ≥
        dk²/2: a first knee that far from the unit's one earlier knee).  Light: this
        session's light knees when they span ``bias_knee_track_min_span`` — with one of
        them, through it and the last knee of an earlier session when that was light
        and ``bias_knee_kt_min_dk`` away (``last``: that knee as (T, V_br, light); None:
        from the parameters).

        ``check`` (a knee just accepted): a dark knee farther from the line's prediction
        than :func:`flight.bias_kt_line.off_line` allows is kept out of the line for the
        session (its kind None) and nothing is fitted: one bad knee saved into the line
        would tilt every later session's k_T.  It joins the knees off the line instead
        (:func:`flight.bias_kt_line.off_add`); ``bias_kt_line_restart_n`` of them in a row
        restart the line from them (:meth:`_restart`), fitted as the line is."""
        kind = self.ks[-1]
        if kind is None:
            return None
        ts = [self.ts[i] for i in range(len(self.ts)) if self.ks[i] == kind]
        vs = [self.vs[i] for i in range(len(self.vs)) if self.ks[i] == kind]
        n = len(ts)
        min_dk = p["bias_knee_track_min_span"]
        if not kind:
            if check:
                base = L.merge(self._prior, L.group(ts[:-1], vs[:-1]))
                why = L.off_line(p, base, ts[-1], vs[-1])
                if why is None:
                    L.off_clear(p)
                else:
                    off = L.off_add(p, ts[-1], vs[-1])
                    m = p["bias_kt_line_restart_n"]
                    if not 0 < m <= off[0]:
                        self.ks[-1] = None
                        self._line = (base, False, "%s (%d off it in a row)" % (why, off[0]))
                        return None
                    self._restart(p, base, off)
                    ts = []
                    vs = []
                    n = 0
            g = L.merge(self._prior, L.group(ts, vs))
            self._line = (g, False, None)
            dk = p["bias_knee_kt_min_dk"]
            if (n < 2 or _span(ts) < min_dk) and g[3] < 0.5 * dk * dk:
                return None
            return L.line(g, p["bias_knee_vbr_err_v"])
        if last is None:
            last = (p["bias_knee_last_t_c"], p["bias_knee_last_vbr_v"], p["bias_knee_last_light"])
        t0 = last[0]
        if n == 1 and t0 > -200.0 and bool(last[2]) == kind \
                and abs(ts[0] - t0) >= p["bias_knee_kt_min_dk"]:
            ts = [t0, ts[0]]
            vs = [last[1], vs[0]]
            n = 2
            min_dk = p["bias_knee_kt_min_dk"]
        if n < 2 or _span(ts) < min_dk:
            return None
        return line_fit(ts, vs, p["bias_knee_vbr_err_v"])


    def sweep_start(self):
        """A sweep's points begin (again): none recorded."""
        self._pv = []  # bias commanded (V)
        self._pt = []  # the die estimate it was referred to 25 degC with (degC)
        self._pp = []  # its place in the bias loop's readings (index + fraction)

    def point(self, knee):
        """A sweep point above breakdown was referred to 25 degC with the bias loop's
        estimate of the moment: what :meth:`refine` needs to refer it again in hindsight
        — the bias, that estimate, and when in the readings its window was (the windows
        since the last reading, from :meth:`refine`'s count, at ``period_us`` each)."""
        b = knee.bias
        self._pv.append(b.v_cmd)
        self._pt.append(b.t_est)
        f = self._wj * knee.period_us / b.period_us
        self._pp.append(b.readings - 1 + (f if f < 1.0 else 1.0))

    def accept_report(self, ctx, p, t, vbr_t, kt, light=False, reading=-1, fit=None):
        """:meth:`accept`, and the k_T fit's event when there is one: V_br25.
        ``reading``: the bias loop's reading ``t`` was estimated from (its hindsight,
        :meth:`refine`, then due; -1: none); ``fit``: the sweep's σ and
        :func:`flight.bias_knee_fit.fit_knee`'s other inputs (σ_e, k, min_ratio, level),
        its points refitted then in hindsight too (with ``kt``, they were referred with)."""
        vbr25, f, ok = self.accept(p, t, vbr_t, kt, light)
        self._report(ctx, f, ok)
        if reading >= 0 and p["bias_knee_hindsight_max_k"] > 0.0:
            self._ref_n = reading
            self._ref_t = t
            self._ref_kt = kt
            self._ref_fit = None
            if fit is not None and len(self._pv) == len(fit[0]):
                self._ref_fit = (self._pv, self._pt, self._pp) + tuple(fit)
            # (the earlier session's knee, before this one replaces it in the parameters)
            self._ref_last = (p["bias_knee_last_t_c"], p["bias_knee_last_vbr_v"],
                              p["bias_knee_last_light"])
        return vbr25

    def refine(self, knee):
        """Every framer window: once the bias loop (``knee.bias``) has two readings past
        the latest knee's (three with its sweep's points), that knee's temperature in
        hindsight (:meth:`flight.bias.BiasControl.hindsight`) replaces the estimate of
        the moment, its points are referred to 25 degC again with the die's temperature
        in hindsight at each and refitted, and V_br25 — and k_T, when this session's
        knees give one — follow (event ``BIAS_KNEE_HINDSIGHT``).  Why: the session's
        first knee runs 1–3 s after power-on, while the die warms at ~0.17 K/s and the
        bias loop's estimate lags it by ~0.1 K more than at rest, and each point carries
        that estimate's noise (its slope's lead): V_br25 read ~2.3 mV high and scattered
        5.4 mV RMS, and a k_T through that knee and one 10 K warmer ~0.3 mV/K low
        (docs/calibration.md "The knee's temperature in hindsight")."""
        b = knee.bias
        if b.readings != self._rd:
            self._rd = b.readings
            self._wj = 0
        else:
            self._wj += 1
        n = self._ref_n
        pts = self._ref_fit
        if n < 0 or b.readings < n + (4 if pts is not None else 3):
            return
        self._ref_n = -1
        self._ref_fit = None
        knee._job = self._hindsight(knee, n, pts)

    def _hindsight(self, knee, n, pts):
        """:meth:`refine`'s work, a stage a framer window as a sweep's report is
        (flight/bias_knee_report.py: one run was ~1.1 M instructions on the Cortex-M7):
        the refit; V_br25 and k_T; the knee's record and the events."""
        b = knee.bias
        t_h = b.hindsight(n)
        ctx = knee.ctx
        p = ctx.params
        if t_h is None:  # the run broke around the knee (a hold, a sensor switch)
            self._kept(ctx, 0.0, "no hindsight: a temperature reading lost within 1 s of the knee")
            return
        d = t_h - self._ref_t
        max_k = p["bias_knee_hindsight_max_k"]
        if not -max_k <= d <= max_k:
            self._kept(ctx, d, "knee temperature %+.3f K in hindsight: implausible" % d)
            return
        vbr_t = self.vs[-1]
        if pts is not None:
            v25, why = _refit(b, pts, self._ref_kt, max_k)
            if why is None and not (p["bias_knee_vbr25_min"] <= v25[0] <= p["bias_knee_vbr25_max"]
                                    and v25[2] <= p["bias_knee_max_resid_v"]):
                why = "V_br25 %.4f V, residual %.1f mV: refused" % (v25[0], v25[2] * 1e3)
            if why is not None:
                self._kept(ctx, d, "knee's points in hindsight: " + why)
                return
            vbr_t = v25[0] + self._ref_kt * 1e-3 * (t_h - 25.0)
        yield  # (the next window: the knee decided again, its parameters and events)
        self.vs[-1] = vbr_t
        self.ts[-1] = t_h
        self.due_from(p, t_h)
        # The knee's outcome decided again from before it: the k_T its first reading may
        # have fitted undone (at 10.02 K from an earlier session's knee, it can lie 9.92
        # in hindsight: no k_T from it then — campaign draw 34 ran 1 mV/K off).
        p.set("bias_kt_mv_per_k", self._ref_kt)
        vbr25, f, ok = self._from_line(p, t_h, vbr_t, self._ref_kt, self._ref_last)
        p.set("bias_vbr25_v", vbr25)  # (with k_T: the bias loop's pair, set together)
        yield  # (the next: the knee's record, the events)
        self._report(ctx, f, ok, " (knee in hindsight)")
        p.set("bias_knee_last_t_c", t_h)
        p.set("bias_knee_last_vbr_v", vbr_t)  # (the pair an earlier-session knee is for k_T)
        knee.vbr25 = vbr25
        ctx.emit(EV_KNEE_HINDSIGHT, [d, True, vbr25, t_h],
                 "knee temperature %+.3f K in hindsight: V_br25 %.4f V, k_T %.2f mV/K"
                 % (d, vbr25, p["bias_kt_mv_per_k"]))

    def _kept(self, ctx, d, why):
        """A hindsight refused (``d``: the knee temperature's correction, K): said, the
        knee kept as it was."""
        ctx.emit(EV_KNEE_HINDSIGHT, [d, False, ctx.params["bias_vbr25_v"], self._ref_t],
                 why + ", kept")

    def accept(self, p, t, vbr_t, kt, light=False):
        """(V_br25, fit or None, accepted) after a knee measuring ``vbr_t`` at ``t``
        (``light``: read with the uplink on): from the line when its k_T is accepted
        (``bias_kt_mv_per_k`` set), else from this knee with ``kt``, the k_T in use."""
        self.add(p, t, vbr_t, light)
        return self._from_line(p, t, vbr_t, kt, None, True)

    def _from_line(self, p, t, vbr_t, kt, last=None, check=False):
        """:meth:`accept`'s result for this session's knees as they stand."""
        self._line = None
        f = self.fit(p, last, check)
        if f is None:
            return vbr_t - kt * 1e-3 * (t - 25.0), None, False
        new, sig, n, mt, mv = f
        self.kt_fit = new
        self.kt_sigma = sig
        ok = p["bias_knee_kt_min"] <= new <= p["bias_knee_kt_max"] \
            and sig <= p["bias_knee_kt_max_err"]
        if ok:
            try:  # (the plausible bounds are parameters: one set wider than k_T's range)
                p.set("bias_kt_mv_per_k", new)
            except ValueError:
                ok = False
        if self._line is not None:  # a dark knee: the line kept with it, or as it was
            g = self._line[0]
            kept = ok and L.save(p, g)
            if not kept:
                L.save(p, self._prior)
            self._line = (g, kept, None)
        if not ok:
            return vbr_t - kt * 1e-3 * (t - 25.0), f, False
        return mv + new * 1e-3 * (25.0 - mt), f, True

    def _report(self, ctx, f, ok, why=""):
        """The k_T fit's event when there is a fit; the line's after a dark one."""
        if f is not None:
            ctx.emit(EV_KNEE_KT, [f[0], ok, f[1], f[2]], "k_T %.2f +/- %.2f mV/K from %d "
                     "knees%s%s" % (f[0], f[1], f[2], why, "" if ok else ": refused, kept"))
        r = self.restarted
        if r is not None:
            self.restarted = None
            ctx.emit(EV_KNEE_LINE_RESTART, [r[0], r[1]], "the unit's V_br(T) line no longer "
                     "fits it: %d dark knees in a row off it are the line now (the old "
                     "line's %d dropped)" % (r[1], r[0]))
        ln = self._line
        if ln is not None and (f is not None or ln[2] is not None):
            n = ln[0][0]
            ctx.emit(EV_KNEE_LINE, [n, ln[1]], "the unit's V_br(T) line: %d dark knees, %s"
                     % (n, "kept" if ln[1] else ln[2] or "not kept (k_T refused): as it was"))


def _refit(bias, pts, kt, max_k):
    """(fit, None) of a knee's points referred to 25 degC with the die's temperature in
    hindsight at each (between the readings around it, by its place;
    :func:`flight.bias_knee_fit.fit_knee`'s result), or (None, why): a reading lost, a
    correction beyond ``max_k``, no fit.  ``pts``: ``KtTrack._ref_fit``; ``kt``: the k_T
    the points were referred with."""
    vs, ts, places, sig, se, k, min_ratio, level = pts
    v25 = []
    for i in range(len(vs)):
        m = int(places[i])
        t = bias.hindsight(m)
        f = places[i] - m
        if t is not None and f > 0.0:
            t2 = bias.hindsight(m + 1)
            t = None if t2 is None else t + f * (t2 - t)
        if t is None:
            return None, "a reading lost"
        if not -max_k <= t - ts[i] <= max_k:
            return None, "%+.3f K at a point: implausible" % (t - ts[i])
        v25.append(vs[i] - kt * 1e-3 * (t - 25.0))
    fit = fit_knee(v25, sig, se, k, min_ratio, level)
    return fit, None if fit is not None else "no fit"


def _span(ts):
    """The spread of temperatures ``ts`` (K)."""
    lo = hi = ts[0]
    for t in ts:
        lo = t if t < lo else lo
        hi = t if t > hi else hi
    return hi - lo


def line_fit(ts, vs, v_err):
    """(slope mV/K, its standard error mV/K, n, mean T, mean V) of V(T) by least squares
    (two or more points at different temperatures); the scatter is taken as at least
    ``v_err`` volts per point (:func:`flight.bias_kt_line.line`)."""
    return L.line(L.group(ts, vs), v_err)
