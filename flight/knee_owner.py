"""Owner ``bias_knee``: the SiPM breakdown sweep (flight/bias_knee.py) held only while it
is needed (issue 11).  A sweep runs at a session's start (``bias_knee_auto``) or on
BIAS_KNEE_CALIBRATE; between them a tracking pass holds none of its code (bias_knee,
bias_knee_fit, bias_kt: ~3 kB of heap) nor its object (~1 kB), unless k_T tracking is on
(``bias_knee_track_dk`` > 0: its knees are started by the temperature, any time in the
session) or the uplink has not come yet (a pre-link knee may: flight/bias_kt_due.py).

The :class:`flight.bias_knee.BiasKnee` is built (flight/lazy.py ``make``) when a sweep
may start and dropped, its modules released, once it is idle again.  Its outcome lives
on: V_br in the parameter store (the bias loop's), the noise at the operating point
(``floor_sigma``, the comparator's) and what the next one needs (:data:`_CARRIED`) here,
carried into the next object; its housekeeping as it last reported it.  No heap to load
it: MODULE_LOAD_FAILED (the module in the text), the session's sweep not made (the
comparator finds its floor by its own noise sweep), the command BUSY.

Where the code was loaded from a file (CPython, the VM, the unix port) the object is
kept once built (a reload would put the code on the heap again: flight/lazy.py
``done``); its attributes read through this owner either way.
"""

from flight import lazy
from flight.cmddict import Busy
from flight.scheduler import Task

KNEE = "flight.bias_knee"
# What the knee's code imports that nothing else holds in TRACK (the comparator's sweep,
# which uses bias_knee_fit, is released there too): released with it.
_WITH = ("flight.bias_kt", "flight.bias_kt_due", "flight.bias_kt_line", "flight.bias_knee_fit",
         "flight.bias_knee_report")
# A knee's state that outlives it (its last outcome, counts, the noise it measured),
# and of its k_T track, the last fit (the session's knees are held with tracking only).
_CARRIED = ("result", "vbr25", "resid_v", "sweeps", "aborts", "n_fit", "sigma_e",
            "floor_sigma")
_KT_CARRIED = ("kt_sigma", "kt_fit")


class KneeOwner:
    name = "bias_knee"

    def __init__(self, ctx, bias, framer_control, dac, comparator=None, period_us=100000):
        self.ctx = ctx
        self.period_us = period_us
        self._args = (ctx, bias, framer_control, dac, comparator, period_us)
        self.knee = None  # the BiasKnee while built
        m = lazy.load(KNEE)  # (imported at boot: its declarations)
        self._hk = [0] * len(m.HK)  # its housekeeping when last dropped (a new one: 0)
        self._diag = [0] * len(m.HK_DIAG)
        self._kept = [0, None, None, 0, 0, 0, None, None]  # _CARRIED of a new knee
        self._kt = [None] * len(_KT_CARRIED)
        self.hold = not lazy.frozen(KNEE)  # built once, kept (see the module's docstring)
        self._session = False
        self._boot = True  # the boot's import of the code not yet released

    def __getattr__(self, name):
        # (only for what the owner itself lacks) the knee's own, or what it left
        k = self.knee
        if k is not None:
            return getattr(k, name)
        if name in _CARRIED:
            return self._kept[_CARRIED.index(name)]
        raise AttributeError(name)

    # ------------------------------------------------------------------ read by others
    @property
    def state(self):
        k = self.knee
        return 0 if k is None else k.state  # IDLE: no sweep without a knee

    @property
    def floor_sigma(self):  # the comparator's noise at the operating point (or None)
        k = self.knee
        return self._kept[7] if k is None else k.floor_sigma

    # ------------------------------------------------------------------ the knee
    def _get(self):
        """The knee, built if need be (its state carried in); None: no heap for it."""
        k = self.knee
        if k is not None:
            return k
        try:
            k = lazy.make(KNEE, "BiasKnee", self.ctx.emit, *self._args)
        except lazy.LoadFailed:
            return None
        kept = self._kept
        for i in range(len(_CARRIED)):
            setattr(k, _CARRIED[i], kept[i])
        kt = k.kt
        for i in range(len(_KT_CARRIED)):
            setattr(kt, _KT_CARRIED[i], self._kt[i])
        self.knee = k
        return k

    def _tracking(self):
        """k_T tracking on: the knee may start a sweep any time in the session."""
        return self._session and self.ctx.params["bias_knee_track_dk"] > 0.0

    def _drop(self):
        """An idle knee not needed until the next sweep: its outcome kept, the object and
        its code released (a ``gc.collect()`` frees them).  Kept while its last knee's
        hindsight is due (1–1.5 s after it: flight/bias_kt.py ``KtTrack.refine``), and
        while a pre-link knee may still come (flight/bias_kt_due.py ``waiting``)."""
        k = self.knee
        if k is None or self.hold or k.state != 0 or k._job is not None or self._tracking() \
                or k.kt.pending or k.kt.waiting:
            return
        kept = self._kept
        for i in range(len(_CARRIED)):
            kept[i] = getattr(k, _CARRIED[i])
        kt = k.kt
        for i in range(len(_KT_CARRIED)):
            self._kt[i] = getattr(kt, _KT_CARRIED[i])
        k.hk(self._hk, 0)
        k.hk_diag(self._diag, 0)
        self.knee = None
        self._release()

    def _release(self):
        lazy.release(KNEE)
        for name in _WITH:
            lazy.release(name)

    # ------------------------------------------------------------------ commands
    def check_command(self, cmd, args):
        k = self._get()
        if k is None:
            raise Busy("no heap for the knee sweep's code")
        if k._job is not None:
            raise Busy("knee report in progress (~0.4 s)")
        k.check_command(cmd, args)

    def cmd_knee_calibrate(self, args, tc):
        k = self._get()
        if k is None:
            raise Busy("no heap for the knee sweep's code")
        return k.cmd_knee_calibrate(args, tc)

    def tasks(self):
        return [Task("bias_knee", self.period_us, self.update, offset_us=3000,
                     budget_us=20000, critical=False, max_faults=5,
                     on_disable=self.task_disabled)]

    def task_disabled(self):
        """Its task disabled for its faults (``Task.on_disable``, flight/scheduler.py): a
        sweep or report left in place would hold the bias at one of its points, the
        comparator suspended and the session's start waiting on it for the rest of the
        session.  It ends, aborted for that reason (the bias back to its loop, the
        comparator resumed, the modules after it started); no retry this session."""
        k = self.knee
        if k is not None:
            k._auto = False
            if k._job is not None or k.state != 0:
                k._job = None
                k._abort("its task was disabled")

    # ------------------------------------------------------------------ session hooks
    def start_session(self):
        self._session = True
        k = self.knee
        if k is None and (self.ctx.params["bias_knee_auto"] or self._tracking()):
            k = self._get()  # (None: MODULE_LOAD_FAILED; the comparator sweeps the noise)
        if k is None:
            self._kept[7] = None  # no noise measured this session
            return
        self._drain(k)  # (a report left by a session never stopped: whole, before)
        k.start_session()
        self._drop()  # (no sweep started: bias loop not ACTIVE)

    def session_ready(self):
        k = self.knee
        return True if k is None else k.session_ready()

    def stop_session(self):
        self._session = False
        k = self.knee
        if k is not None:
            self._drain(k)
            k.stop_session()
            k.kt.stop(self.ctx)
            self._drop()

    def safe(self):
        self._session = False
        k = self.knee
        if k is not None:
            self._drain(k)
            k.safe()
            k.kt.stop(self.ctx)
            self._drop()

    def update(self):
        k = self.knee
        if k is None:
            if self._boot:  # the code imported at boot for the declarations
                self._boot = False
                if not self.hold:
                    self._release()
            return
        self._drop()  # (idle since the last run: dropped in a run of its own, ~130 k)
        if self.knee is None:
            return
        p = self.ctx.params
        p.hold_rules(True)  # (a knee's report: ~15 changes, the rules imported once)
        try:
            if k._job is None:
                k.update()
            if k._job is not None:  # a report: its first stage in the run that made it
                self._stage(k)
        finally:
            if k._job is None:  # (held across a report's stages: one import, ~90 k)
                p.hold_rules(False)

    def _stage(self, k):
        """One stage of the knee's report in progress (flight/bias_knee_report.py)."""
        done = True
        try:
            next(k._job)
            done = False
        except StopIteration:
            pass
        except Exception:  # the task's fault; the report not retried, the hardware back
            k._release()
            raise
        finally:
            if done:
                k._job = None

    def _drain(self, k):
        """What is left of a report, now: the session ends (or SAFE) with it whole."""
        p = self.ctx.params
        p.hold_rules(True)
        try:
            while k._job is not None:
                try:
                    self._stage(k)
                except Exception as e:  # (never out of a session's end or SAFE)
                    k._auto = False  # (no retry: the session is ending)
                    k._abort("report: %r" % (e,))
        finally:
            p.hold_rules(False)

    # ------------------------------------------------------------------ telemetry
    def hk(self, values, i):
        k = self.knee
        if k is not None:
            k.hk(values, i)
            return
        h = self._hk
        for j in range(len(h)):
            values[i + j] = h[j]

    def hk_diag(self, values, i):
        k = self.knee
        if k is not None:
            k.hk_diag(values, i)
            return
        h = self._diag
        for j in range(len(h)):
            values[i + j] = h[j]
