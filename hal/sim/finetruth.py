"""The honest world's continuous-time truth (issue 13), a part of hal/sim/world.py's World.

* :meth:`FineTruth._fine_step`: the FSM stepped through every point of the 1 ms grid (and
  every delayed command), the platform's jitter sampled there; the slow ADCS part stepped
  once per clock jump, its coarse error interpolated linearly between the jump's ends.
  Each grid point gives the camera-frame residual (kept for the exposure integration) and
  the aim error (to the recorder's ``fine``).
* :meth:`FineTruth.fsm_command`: DAC writes applied after the command latency.
* :meth:`FineTruth._exposed_residual`: the camera-frame residual averaged over the
  exposure that ended one ROI read-out before the frame.
* :meth:`FineTruth.aim_error`: the downlink's direction error from the beacon residual.

MicroPython: plain Python (``typing`` only for the checker).
"""

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any  # noqa: F401  (type comments)

_HIST = 24  # 1 kHz camera-frame residual samples kept (>= 9 ms exposure + read-out)


class FineTruth:
    """Mixed into World; uses these attributes of it (set in World.__init__)."""

    platform = None  # type: Any
    fsm_model = None  # type: Any
    camera = None  # type: Any
    recorder = None  # type: Any
    calib = {}  # type: Any
    point_ahead = (0.0, 0.0)  # type: Any
    aim_point_ahead = False
    fine_us = 0
    t_us = 0
    readout_us = 0
    fsm_latency_us = 0
    _rot_c = 1.0
    _rot_s = 0.0
    _hist = []  # type: Any
    _fsm_q = []  # type: Any

    def aim_error(self, rx, ry):
        """Downlink direction minus the direction it must leave in, from the beacon
        residual (rx, ry): plus the transmitter's boresight offset from the camera, minus
        the point-ahead (both zero in the idealised world)."""
        cal = self.calib
        ax = rx + cal["tx_bore_x_rad"]
        ay = ry + cal["tx_bore_y_rad"]
        if self.aim_point_ahead:
            ax -= self.point_ahead[0]
            ay -= self.point_ahead[1]
        return ax, ay

    def _fine_step(self, dt_us):
        """FSM through every point of the 1 ms grid (and every delayed command), the
        platform's jitter sampled there; the slow ADCS part is stepped once over the jump
        and its coarse error interpolated linearly between the jump's ends."""
        fine = self.fine_us
        t_start = self.t_us
        cur = t_start
        end = cur + dt_us
        p = self.platform
        f = self.fsm_model
        q = self._fsm_q
        pts = []  # (t_us, jitter x, y, fsm x, y) at the grid points of this jump
        t0_s = p.t - t_start * 1e-6  # platform time = world time + t0_s
        while cur < end:
            while q and q[0][0] <= cur:
                _, cx, cy = q.pop(0)
                f.command(cx, cy)
            nxt = (cur // fine + 1) * fine
            if nxt > end:
                nxt = end
            if q and q[0][0] < nxt:
                nxt = q[0][0]
            f.step((nxt - cur) * 1e-6)
            cur = nxt
            if cur % fine == 0 and cur < end:
                jx, jy = p.jitter_at(t0_s + cur * 1e-6)
                pts.append((cur, jx, jy, f.theta_x, f.theta_y))
        c0x = p.coarse_x
        c0y = p.coarse_y
        p.step(dt_us * 1e-6)
        if end % fine == 0:
            pts.append((end, p.jit_x, p.jit_y, f.theta_x, f.theta_y))
        if not pts:
            return
        dcx = p.coarse_x - c0x
        dcy = p.coarse_y - c0y
        # an observer may not record the 1 kHz truth (e.g. a test's reduced recorder)
        rec = getattr(self.recorder, "fine", None)
        hist = self._hist
        c = self._rot_c
        s = self._rot_s
        # aim error = residual + (boresight - point-ahead): constant over the step
        cal = self.calib
        box = cal["tx_bore_x_rad"] - (self.point_ahead[0] if self.aim_point_ahead else 0.0)
        boy = cal["tx_bore_y_rad"] - (self.point_ahead[1] if self.aim_point_ahead else 0.0)
        k = 1.0 / dt_us
        for t, jx, jy, fx, fy in pts:
            fr = (t - t_start) * k
            rx = c0x + dcx * fr + jx - fx
            ry = c0y + dcy * fr + jy - fy
            hist.append((t, c * rx + s * ry, c * ry - s * rx))
            if rec is not None:
                rec(t * 1e-6, rx + box, ry + boy)
        if len(hist) > 2 * _HIST:  # trimmed in blocks: fewer list moves
            del hist[:len(hist) - _HIST]

    def fsm_command(self, cx, cy):
        """A DAC write from the HAL: applied after the command latency (honest world).
        It stops a waveform: samples the DAC has not output yet are dropped."""
        self._drop_unplayed()
        if self.fsm_latency_us or self.fine_us == 0 and self._fsm_q:
            self._fsm_q.append((self.t_us + self.fsm_latency_us, cx, cy))
        else:
            self.fsm_model.command(cx, cy)

    def fsm_wave(self, xs, ys, n, period_us):
        """A waveform from the HAL (Fsm.play_wave): sample i output by the DAC at
        ``i * period_us`` from now, each applied after the command latency; it replaces
        the samples of an earlier waveform not output yet."""
        self._drop_unplayed()
        q = self._fsm_q
        t = self.t_us + self.fsm_latency_us
        for i in range(n):
            q.append((t + i * period_us, xs[i], ys[i]))

    def _coarse_fsm_step(self, dt_us):
        """The idealised world's step of the mirror: queued samples applied at their
        times within the jump."""
        q = self._fsm_q
        f = self.fsm_model
        cur = self.t_us
        end = cur + dt_us
        while q and q[0][0] < end:
            due, cx, cy = q.pop(0)
            if due > cur:
                f.step((due - cur) * 1e-6)
                cur = due
            f.command(cx, cy)
        f.step((end - cur) * 1e-6)

    def _drop_unplayed(self):
        q = self._fsm_q
        t = self.t_us + self.fsm_latency_us  # output by the DAC after now: not yet
        while q and q[-1][0] > t:
            q.pop()

    def _exposed_residual(self):
        """Mean camera-frame residual over the exposure that ended read-out ago."""
        t1 = self.t_us - self.readout_us
        t0 = t1 - self.camera.exposure_us
        hist = self._hist
        # The samples are in time order: find those in (t0, t1] from the end (an exposure
        # holds a few of the ~24 kept), then add them up oldest first.
        b = len(hist)
        while b and hist[b - 1][0] > t1:
            b -= 1
        if not b:
            return None
        a = b
        while a and hist[a - 1][0] > t0:
            a -= 1
        if a == b:
            e = hist[b - 1]
            return (e[1], e[2])
        sx = sy = 0.0
        for i in range(a, b):
            e = hist[i]
            sx += e[1]
            sy += e[2]
        n = b - a
        return sx / n, sy / n
