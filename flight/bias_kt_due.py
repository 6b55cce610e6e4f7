"""When the next knee of a session is due (issue 14.3; docs/calibration.md "Tracking
against temperature" and "A warm-up before the link"): the base of
:class:`flight.bias_kt.KtTrack`, which holds the knees themselves.

A knee is started by the die's temperature (the bias loop's estimate) moving away from
the session's latest knee:

* *before the link* — no framer window yet this session with ``MIN_PACKETS``, the
  comparator not yet out of WAIT_SIGNAL (light on its triggers) — every
  ``bias_knee_prelink_dk`` (3 K; up to ``bias_knee_prelink_max``, 4).  A dark knee costs
  the link nothing (there is none yet), so a session started ahead of the station's
  uplink lets the warming payload give the unit's k_T and re-anchor V_br where the die
  is when the link comes (a unit's first pass: 21–24 mV RMS of over-voltage error on the
  k_T tails before, docs/calibration.md).  With the usual plan (the uplink 2.4 s after the
  session starts) the die warms ~0.4 K before the uplink: none runs;
* *with the link* — every ``bias_knee_track_dk`` (0: off by default; up to
  ``bias_knee_track_max``) while the link's BER over the last 5 s is at least
  ``bias_knee_track_ber_min``: a light knee's points are bit errors by construction.

Integer comparisons only in the 100 ms polls (thresholds in 1/``T_Q`` K set when a knee
is accepted): no allocation.
"""

from flight.bias import T_Q
from flight.framer_ctl import W_CRC, W_OK, W_PRE
from flight.params import ParamDef
from hal.compat import const
from hal.interfaces import PREAMBLE_BITS

MIN_PACKETS = const(50)  # packets in a window before it counts as light (comparator's)
_BLOCK = const(50)  # framer windows (5 s) of the link's BER before a tracking knee

P = ParamDef
DUE_PARAMS = (  # the breakdown module's (flight/bias_kt.py KT_PARAMS adds them)
    P("bias_knee_track_dk", "float", 0.0, 0.0, 50.0, "K",
      "die temperature change from the last knee that starts a tracking knee (0: off; "
      "3.5 fixes the k_T tails at a cost to the link, docs/calibration.md)"),
    P("bias_knee_track_max", "int", 4, 0, 20, "", "tracking knees per session"),
    P("bias_knee_track_ber_min", "float", 0.0, 0.0, 0.5, "",
      "link BER (preamble, last 5 s) at or above which a tracking knee may run (0: any)"),
    P("bias_knee_prelink_dk", "float", 3.0, 0.0, 50.0, "K",
      "die temperature change from the last knee that starts a dark knee before the "
      "session first sees the uplink (0: off; docs/calibration.md warm-up)"),
    P("bias_knee_prelink_max", "int", 4, 0, 20, "", "pre-link knees per session"),
)


class KneeDue:
    """The session's knees started by the temperature, and when the next one is due."""

    def __init__(self):
        self._max = self._pmax = 0  # the caps, tracking and pre-link (set with a knee)
        self._hi = self._lo = self._phi = self._plo = 0  # their thresholds, 1/T_Q K
        self._t_last = 0.0  # the latest knee's temperature (degC)
        self._ber_min = 0.0
        self.due_start()

    def due_start(self):
        """A new session: no knee yet, the uplink not seen."""
        self.tracks = 0  # knees started by the temperature this session (both kinds)
        self.prelinks = 0  # ... of them before the uplink was first seen
        self.lit = False  # the uplink seen this session (a window of MIN_PACKETS)
        self._armed = self._parmed = False  # a tracking / pre-link knee may come
        self._pre = self._pk = self._n = 0  # the link's preamble errors, packets, windows
        self._link_ok = False

    def due_from(self, p, t):
        """A knee accepted at ``t`` (degC): the next is due ±dk from here."""
        self._t_last = t
        self._ber_min = p["bias_knee_track_ber_min"]
        self._max = p["bias_knee_track_max"]
        self._pmax = p["bias_knee_prelink_max"]
        dk = p["bias_knee_track_dk"]
        self._armed = dk > 0.0
        self._hi = int((t + dk) * T_Q)
        self._lo = int((t - dk) * T_Q)
        dk = p["bias_knee_prelink_dk"]
        self._parmed = dk > 0.0
        self._phi = int((t + dk) * T_Q)
        self._plo = int((t - dk) * T_Q)

    def see(self, w, light=False):
        """Every framer window (``w``: its counts): the uplink is seen once a window holds
        ``MIN_PACKETS``, or the comparator saw its light (``light``: it left WAIT_SIGNAL —
        a link too weak for packets still puts photons on a dark knee's triggers) — the
        session's pre-link knees are over."""
        if light or w[W_OK] + w[W_CRC] >= MIN_PACKETS:
            self.lit = True

    def ready(self, w, t_q):
        """Every framer window while no sweep runs (``w``: its counts): before the uplink
        a pre-link knee is :meth:`due`; after it a tracking knee, when the link's BER over
        the last block is at least ``bias_knee_track_ber_min``.  Why: a knee's points read
        the noise from the off-chips read high — ~3e4 bit errors — what the link loses in
        ~10 s at 1e-4 but in hours at 1e-7: where the link is good, its sweep would
        multiply the session's errors (the issue's bar: within 2x the best level's).
        Integer sums per window; the comparison once per block of ``_BLOCK`` windows."""
        if not self.lit:
            return self.due(t_q)
        self._pre += w[W_PRE]
        self._pk += w[W_OK] + w[W_CRC]
        self._n += 1
        if self._n >= _BLOCK:
            self._link_ok = self._pre >= self._pk * PREAMBLE_BITS * self._ber_min
            self._pre = self._pk = self._n = 0
        return self._link_ok and self.due(t_q)

    def due(self, t_q):
        """A knee is due: this session has one, the die (``t_q``: the bias loop's
        estimate in 1/``T_Q`` K) has moved ``bias_knee_prelink_dk`` from the latest before
        the uplink (fewer than ``bias_knee_prelink_max`` started for it),
        ``bias_knee_track_dk`` after it (fewer than ``bias_knee_track_max``)."""
        if not self.lit:
            return self.waiting and (t_q >= self._phi or t_q <= self._plo)
        return self._armed and self.tracks - self.prelinks < self._max \
            and (t_q >= self._hi or t_q <= self._lo)

    # a pre-link knee may still come: the knee's object is kept for it (knee_owner)
    waiting = property(lambda self: not self.lit and self._parmed
                       and self.prelinks < self._pmax)

    def started(self, t):
        """A knee due was started at ``t`` (degC): counted; why, for its event."""
        self.tracks += 1
        if not self.lit:
            self.prelinks += 1
        return "temperature %.1f K from the last knee%s" % (
            t - self._t_last, "" if self.lit else ", before the uplink")
