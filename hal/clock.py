"""Clocks for the scheduler: the board's real clock and a virtual clock for simulation.

Both give time as MicroPython ticks (microseconds, wrapping at ``TICKS_PERIOD``; compare
only with ``ticks_diff``) and have the same methods:

``now_us()``         current time, ticks µs.
``sleep_until(t)``   return once the clock reads ``t`` or later (never before, whatever the
                     resolution of the sleep); a ``t`` in the past returns at once.
``cpu_now_us()``     time base for measuring what a task costs (ticks µs).
``advance(us)``      let ``us`` of time pass while busy (the virtual clock's way of
                     modelling computation; the real clock busy-waits).
"""

from hal.compat import TICKS_PERIOD, cpu_us, sleep_us, ticks_add, ticks_diff, ticks_us

_MASK = TICKS_PERIOD - 1


class RealClock:
    """Wall-clock time of the machine; sleeps until the next release.

    ``speed`` > 1 runs the schedule faster than real time (simulated board paced to the
    wall clock ×speed): one scheduled µs lasts 1/speed real µs.
    """

    def __init__(self, speed=1.0):
        if not speed > 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._t0_real = ticks_us()
        self._t0 = 0
        self.step_hook = None  # a simulated board may still want its physics stepped

    def now_us(self):
        if self.speed == 1.0:
            return ticks_us()
        real = ticks_diff(ticks_us(), self._t0_real)
        if real > (1 << 28) or real < 0:
            # Keep the real-time anchor recent so ticks_diff stays in its valid half-range.
            self._t0 = ticks_add(self._t0, int(real * self.speed))
            self._t0_real = ticks_add(self._t0_real, real)
            real = 0
        return ticks_add(self._t0, int(real * self.speed))

    def cpu_now_us(self):
        return ticks_us()

    def sleep_until(self, t):
        # Round the real sleep up and look again: a sleep of int(dt / speed) real µs on a
        # clock read to the µs (or coarser) can end a tick short of t, and a release must
        # never start before its time.
        dt = ticks_diff(t, self.now_us())
        while dt > 0:
            us = int(dt / self.speed)
            if us * self.speed < dt:
                us += 1
            sleep_us(us)
            dt = ticks_diff(t, self.now_us())

    def advance(self, us):
        end = ticks_add(self.now_us(), int(us))
        while ticks_diff(end, self.now_us()) > 0:
            pass


class VirtualClock:
    """Simulated time: jumps straight to the next release and steps the physics.

    ``step_hook(dt_us)`` (if set) is called every time virtual time moves forward, so the
    simulator advances its models by exactly the elapsed time.  ``elapsed_us`` counts
    without wrapping for reports.  ``start_ticks`` lets tests start just before the ticks
    wrap-around.

    Task cost (``cpu_now_us``) is virtual too: the busy time a test or model charges
    through ``advance``, nothing of the host's — so a run is deterministic and a busy host
    that pre-empts the process never shows as a task overrun.  Only with ``charge_cpu``
    set is the host's CPU time of this thread added (and the scheduler charges it ×
    ``cpu_scale`` to virtual time, so slow flight code makes later tasks late exactly as
    on the board).  A simulated world may install its own ``cpu_now_us`` (flight CPU
    without the physics).
    """

    def __init__(self, start_ticks=0, step_hook=None, charge_cpu=False, cpu_scale=1.0):
        self._t = int(start_ticks) & _MASK
        self.elapsed_us = 0
        self._burnt = 0
        self.step_hook = step_hook
        self.charge_cpu = charge_cpu
        self.cpu_scale = cpu_scale

    def now_us(self):
        return self._t

    def cpu_now_us(self):
        if self.charge_cpu:
            return (cpu_us() + self._burnt) & _MASK
        return self._burnt & _MASK

    def advance(self, us):
        us = int(us)
        if us <= 0:
            return
        self._burnt += us
        self._move(us)

    def sleep_until(self, t):
        dt = ticks_diff(t, self._t)
        if dt > 0:
            self._move(dt)

    def _move(self, dt):
        self._t = (self._t + dt) & _MASK
        self.elapsed_us += dt
        hook = self.step_hook
        if hook is not None:
            hook(dt)


class PacedClock(VirtualClock):
    """Virtual time paced to the wall clock ×``speed``: a simulated board run as a process.

    Time is still virtual (it jumps, steps the physics, is deterministic), but every jump
    of ``dt`` first sleeps ``dt / speed`` of real time, minus the real time already spent
    since the last jump — so the flight app meets its TC/TM partners in (scaled) real time.
    Task cost is this thread's CPU time (``hal.compat.cpu_us``: measured, not charged; a
    host that pre-empts the process does not inflate it).
    """

    def __init__(self, speed=1.0, start_ticks=0, step_hook=None):
        VirtualClock.__init__(self, start_ticks=start_ticks, step_hook=step_hook)
        if not speed > 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._real_anchor = ticks_us()
        self._virt_anchor = 0  # elapsed_us at the anchor
        self.behind_us = 0  # how far real time ran ahead of the schedule (overload)

    def cpu_now_us(self):
        return (cpu_us() + self._burnt) & _MASK

    def sleep_until(self, t):
        dt = ticks_diff(t, self._t)
        if dt <= 0:
            return
        target_real = (self.elapsed_us + dt - self._virt_anchor) / self.speed
        spent = ticks_diff(ticks_us(), self._real_anchor)
        wait = int(target_real - spent)
        if wait > 0:
            sleep_us(wait)
            self.behind_us = 0
        else:
            self.behind_us = -wait
        if spent > (1 << 27):  # keep the anchor recent for ticks_diff
            self._real_anchor = ticks_us()
            self._virt_anchor = self.elapsed_us + dt
        self._move(dt)
