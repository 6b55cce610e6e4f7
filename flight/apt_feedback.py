"""The ADCS pointing feedback (APID 0x0A4, 5 Hz), computed and encoded without allocating
(DESIGN §3.1: no task allocates in steady state, so no collection falls in a pass).

The same quantities as :func:`error_urad` and ``ApertureLaw.mirror_urad`` — line-of-sight
error = mirror deflection + signed residual of the spot against the boresight, and the
mirror deflection — but in integers, 1/256 µrad (``Q``), from the APT's integer state
(``law.u_x``: FSM code × 256; ``spot_x - ref_x``: pixels × 64) and the camera IFOV
parameter (scaled once per change).  The values go straight into the declared map's
encoded octets (flight.tm.MapPacker.set_q: a double made from the integer by struct, the
2**-8 applied to its exponent field), so no float, tuple or dict is made per packet.
Ranges stay small ints on a 32-bit port: |u_x| < 2**23 is split in code and fraction
before scaling, |spot − ref| < 2**14 (q6 pixels) times the scaled IFOV stays below 2**30
for an IFOV up to 256 µrad (default 100).
"""

from flight.events import SEV_WARN, Event
from flight.tm import MapPacker
from hal.compat import const
from flight.scheduler_telemetry import S_PERIOD_US
from hal.interfaces import APT_ACQUIRE as ACQUIRE, APT_TRACK as TRACK, FSM_LSB_RAD, META_FRAME_AGE_US

# The mirror driver's own failures: the board's waveform timer cannot raise, so a sample
# it could not write is only counted by the driver (Fsm.wave_errors); the APT's
# housekeeping reads that count each second and reports its growth (:func:`hk`; the count
# in HK_DIAG apt_fsm_wave_errors, flight/apt.py).  Part of flight/apt.py's EVENTS.
EV_APT_FSM_WAVE_ERROR = const(0x5B)
EVENTS = (
    Event(EV_APT_FSM_WAVE_ERROR, "APT_FSM_WAVE_ERROR", SEV_WARN,
          "mirror timer's samples not written (bus errors) since the last report",
          (("new", "int"), ("count", "int"))),
)

# The values' fixed point, Q: 1/256 µrad (the 8 of MapPacker.set_q's calls below: a
# literal, no globals entry).  Mirror: µrad per FSM code in 2**-16 µrad (2**-8 would be
# 0.1 % off: 28 µrad at full deflection), used as its high and low octets so no product
# passes 2**30.
_LSB_Q16 = int(FSM_LSB_RAD * 1e6 * 65536 + 0.5)


class Feedback:
    """One APT's feedback map (the declared ``ADCS`` fields), refilled in place."""

    def __init__(self, fields):
        self.rec = MapPacker(fields)
        n = self.rec.names
        self.k_ex = n.index("err_x_urad")
        self.k_ey = n.index("err_y_urad")
        self.k_valid = n.index("valid")
        self.k_state = n.index("state")
        self.k_offload = n.index("offload")
        self.k_fx = n.index("fsm_x_urad")
        self.k_fy = n.index("fsm_y_urad")
        self.ifov = None  # the IFOV parameter the scale below was made from
        self._ifov_q = 0  # µrad per pixel, in 1/256 µrad

    def scale(self, ifov_urad):
        """The IFOV parameter ``ifov_urad`` (a float: allocates, so never under the lock)."""
        self.ifov = ifov_urad
        self._ifov_q = int(ifov_urad * 256 + 0.5)

    def fill(self, apt):
        """Write the feedback of ``apt`` into the map; count an offload request.  Returns
        0 when nothing is due (only a verified beacon steers the platform), 1 to send the
        map, 2 to send it and report APT_OFFLOAD_REQUEST (1st, 50th, ...).  Allocates
        nothing (the caller holds the heap lock: Apt.feedback); ``scale`` comes first."""
        st = apt.state
        if st != TRACK and not (st == ACQUIRE and apt.search.verified):
            return 0
        law = apt.law
        lim = apt._offload_lim
        ux = law.u_x
        uy = law.u_y
        go = 1
        offload = 0
        if ux > lim or -ux > lim or uy > lim or -uy > lim:  # (abs(): a builtin's call)
            offload = 1
            apt.offload_requests += 1
            if apt.offload_requests == 1 or apt.offload_requests % 50 == 0:
                go = 2
        fx = _mirror_q(ux)
        fy = _mirror_q(uy)
        ex = fx
        ey = fy
        valid = 1 if apt.valid else 0
        if valid:
            ex += law.sign_x * (((apt.spot_x - apt.ref_x) * self._ifov_q) >> 6)
            ey += law.sign_y * (((apt.spot_y - apt.ref_y) * self._ifov_q) >> 6)
        r = self.rec
        r.set_q(self.k_ex, ex, 8)
        r.set_q(self.k_ey, ey, 8)
        r.set_small(self.k_valid, valid)
        r.set_small(self.k_state, st)
        r.set_small(self.k_offload, offload)
        r.set_q(self.k_fx, fx, 8)
        r.set_q(self.k_fy, fy, 8)
        return go


def _mirror_q(u):
    """Mirror deflection of the law output ``u`` (FSM code × 256) in 1/256 µrad."""
    n = u < 0  # (symmetric: the magnitude's, signed; no second call)
    if n:
        u = -u
    code = u >> 8
    lsb = _LSB_Q16
    m = code * (lsb >> 8) + ((code * (lsb & 0xFF)) >> 8) + (((u & 0xFF) * lsb) >> 16)
    return -m if n else m


def residual_urad(apt):
    """(x, y) spot − boresight in µrad, camera axes; (0, 0) without a valid spot."""
    if not apt.valid:
        return 0.0, 0.0
    k = apt._ifov_urad / 64
    return (apt.spot_x - apt.ref_x) * k, (apt.spot_y - apt.ref_y) * k


def error_urad(apt):
    """Line-of-sight error (µrad) = mirror + residual: what the ADCS must correct (the
    float reference of :meth:`Feedback.fill`'s integers)."""
    law = apt.law
    fx, fy = law.mirror_urad()
    rx, ry = residual_urad(apt)
    return fx + law.sign_x * rx, fy + law.sign_y * ry


# ---------------------------------------------------------------------- telemetry
def hk(apt, values, i):
    """The APT's HK values (flight/apt.py HK) from ``values[i]`` on."""
    rx, ry = residual_urad(apt)
    values[i] = apt.state
    values[i + 1] = int(apt.valid)
    values[i + 2] = int(apt.laser_on)
    values[i + 3] = int(rx * 10 + (0.5 if rx >= 0 else -0.5))
    values[i + 4] = int(ry * 10 + (0.5 if ry >= 0 else -0.5))
    values[i + 5] = apt.law.u_x >> 8
    values[i + 6] = apt.law.u_y >> 8
    values[i + 7] = apt.exposure.us()
    values[i + 8] = apt.peak
    values[i + 9] = apt.camera_errors
    values[i + 10] = apt.fsm_errors
    values[i + 11] = apt.acquisitions
    values[i + 12] = apt.losses
    if apt.state == TRACK:  # (once a second, as this; HK_DIAG reports it: apt_jitter.py)
        apt.jitter.sample(apt.law)
    # (each second: the event for the timer's failed samples, HK_DIAG's count below)
    n = apt.fsm.wave_errors()  # (the driver's own count: its timer cannot raise)
    if n != apt.wave_errors_seen:
        apt.ctx.emit(EV_APT_FSM_WAVE_ERROR, [n - apt.wave_errors_seen, n])
        apt.wave_errors_seen = n


def hk_diag(apt, values, i):
    """The APT's HK_DIAG values (flight/apt.py HK_DIAG) from ``values[i]`` on."""
    s = apt.search
    values[i] = apt.frames
    values[i + 1] = apt.valid_frames
    values[i + 2] = apt.invalid_frames
    values[i + 3] = apt.stale_frames
    values[i + 4] = apt.exposure.saturated
    values[i + 5] = apt.spot_px
    values[i + 6] = apt.bg
    values[i + 7] = s.rejections
    values[i + 8] = s.hot_pixels
    values[i + 9] = apt.offload_requests
    values[i + 10] = int(s.verified)
    values[i + 11] = apt.fsm_faults
    values[i + 12] = apt.laser_faults
    n = apt.wave_errors_seen  # (Fsm.wave_errors as the last HK read it: hk above)
    values[i + 13] = n if n < 0xFFFF else 0xFFFF
    values[i + 14] = apt._meta[META_FRAME_AGE_US]  # (held by flight/apt_phase.py follow)
    t = apt.law.frame_task
    values[i + 15] = t.row[S_PERIOD_US] if t is not None else apt.period_us
    apt.jitter.hk(values, i + 16)
