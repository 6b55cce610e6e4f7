"""Finding the beacon (DESIGN §3.3): the APT's SEARCH work and ACQUIRE's target check.

* Dark calibration of the TRACK window at session start: DARK_FRAMES frames at the
  longest exposure, their per-pixel minimum → the hot pixels and their excess
  (flight/apt_pixels.py), which TRACK subtracts, scaled to its exposure, before the
  centroid: a hot pixel beside the spot would otherwise pull the centroid by a tenth of a
  pixel (10 µrad) at long exposures.  (Replacing the pixel by its neighbours' mean
  instead biases the centroid when the hot pixel sits on the spot.)
* SEARCH: one horizontal strip of the 8×8-binned full frame per tick (8 ticks a frame),
  each bin taken over its row's neighbours (a bright background's gradient is no spot);
  a bin above the search threshold is looked at in full resolution (a hot pixel is a
  single pixel there and fails the spot test); the brightest real spot of a frame
  starts ACQUIRE.
* ACQUIRE's target check: the beacon moves against the mirror, a hot pixel cluster or a
  glint does not; a static target is rejected and SEARCH resumes without it.

Rejected targets are remembered for the session (per strip, as cells of the binned
frame) and masked before a strip's maximum is taken.  :class:`Search` works on its
:class:`flight.apt.Apt` (camera reads, centroid, exposure, state changes).
"""

from array import array

from flight import apt_pixels as px
from flight import lazy
from flight.apt_survey import Survey
from hal.compat import const
from hal.interfaces import APT_IDLE, APT_SEARCH, APT_TRACK

_SEARCH_BIN = const(8)  # 1280x1024 → 160x128 binned pixels
_SEARCH_STRIP_ROWS = const(16)  # binned rows per tick: 8 ticks per full frame
# TRACK's window, px a side (flight/apt.py reads it; the dark look below finds its hot
# pixels).  8: the ~1 px spot (DESIGN §5) sits within a pixel of its centre in TRACK,
# its edge rows (the background) 3-4 sigma out, the centroid's 7 x 7 weighted box
# inside; a 16 px window cost 124 µs more of bus a frame (docs/apt-loop.md §5, stop 63).
TRACK_WIN = const(8)
_LOOK_WIN = const(16)  # the full-resolution look at a candidate: its 8x8 bin and around
_ACQ_PIX = const(32 * 32)  # ACQUIRE's and LOST's window (flight/apt.py ACQ_WIN)
DARK_FRAMES = const(8)  # dark frames of the TRACK window at session start
_DARK_HOT_DN = const(8)  # excess over the window median at 9 ms that marks a hot pixel
_DARK_MAX_HOT = const(16)  # hot pixels remembered in the TRACK window
_REJECT_MAX = const(1024)  # false-target cells remembered a session (128 a strip)
SEARCH_MAX_EXP_US = const(4305)  # longest SEARCH exposure (see Search.step)
SEARCH_MAX_GAIN = const(6)  # GAINS_X16 index: x2.8, the highest SEARCH gain (Search.step)


class Search:
    def __init__(self, apt):
        self.apt = apt
        self.cols = apt.camera.width // _SEARCH_BIN  # binned columns
        # The strip buffer (SEARCH) or the 32 px window (ACQUIRE, LOST), one at a time,
        # held only in those states (see phase): None in TRACK and IDLE.
        self.buf = None
        self.dark_min = None  # the dark calibration's per-pixel minimum, while it runs
        self.dark_n = DARK_FRAMES
        self.dark_skip = 0
        self.saved_exp = 0
        self.hot = []  # TRACK window hot pixels: [index, excess DN at 9 ms, ...]
        self.hot_pixels = 0
        # The rejected cells (binned: row * cols + column) this session; None until the
        # first (a list a strip held ~300 octets through every pass, issue 11).
        self.rejected = None  # type: list | None
        self.rejections = 0
        self.strip = 0
        self.best_peak = 0
        self.best_x = 0  # the candidate, sensor px
        self.best_y = 0
        self.verified = False  # ACQUIRE's target moved against the mirror: a real beacon
        self.s0x = None  # ACQUIRE's first spot (q6 px) and mirror command (q8 codes)
        self.s0y = 0
        self.u0x = 0
        self.u0y = 0
        self._du = array("i", [0, 0])
        self.upx = 0  # the command of the frame before (q8 codes): what this frame shows
        self.upy = 0
        self.survey = Survey(apt)  # TRACK's look for a brighter spot (flight/apt_survey.py)

    def window(self, n):
        """The buffer of the states that are not TRACK: at least ``n`` pixels (the strip,
        or ACQUIRE's and LOST's window, which reuses the strip where SEARCH left one).
        Allocated when such a state begins and dropped in TRACK and IDLE (issue 11: 5 kB
        idle in TRACK), so it is asked for at a state change, never in steady state; None
        while the heap has no block for it (flight.lazy.buffer: counted, reported), and
        the tick skips its frame and asks again at the next one."""
        b = self.buf
        if b is not None and len(b) >= n:
            return b
        self.buf = None  # (the smaller one: its block may make room)
        b = self.buf = lazy.buffer(n, "apt window", self.apt.ctx.emit)
        return b

    def start(self):
        """A new session: forget the false targets, dark calibration first."""
        self.rejected = None
        self.dark_n = -1

    def restart(self, state=APT_SEARCH):
        """Every state change: a new frame scan, no candidate; the state's buffer."""
        self.strip = 0
        self.best_peak = 0
        self.survey.count = 0  # (TRACK's first look apt_survey_frames frames in)
        self.survey.near_next = False  # (a near look asked for belongs to the state left)
        if state == APT_TRACK or state == APT_IDLE:
            self.buf = self.dark_min = None  # (garbage at the next idle collection)
        else:
            self.window(self.cols * _SEARCH_STRIP_ROWS if state == APT_SEARCH else _ACQ_PIX)

    def step(self):
        """The SEARCH tick: a dark frame while the calibration runs, else one strip."""
        if self.dark_n < DARK_FRAMES:
            self._dark_step()
        else:
            self._strip_step()

    # ------------------------------------------------------------------ dark frames
    def _dark_step(self):
        apt = self.apt
        if self.dark_n < 0:
            if self.dark_min is None:
                self.dark_min = lazy.buffer(TRACK_WIN * TRACK_WIN, "apt dark", apt.ctx.emit)
                if self.dark_min is None:
                    return  # no heap yet: the calibration starts at a later tick
            d = self.dark_min  # a per-pixel minimum: every pixel at the 16-bit maximum
            for i in range(len(d)):
                d[i] = 65535
            self.saved_exp = apt.exposure.idx
            apt.exposure.set(apt.exposure.top)  # the camera's longest: the hot-pixel unit
            self.dark_n = 0
            self.dark_skip = 1  # the new exposure shows on a following frame
            return
        if self.dark_skip:
            self.dark_skip -= 1
            return
        buf = apt.trk_buf
        # TRACK's own window (Apt._center_window at the reference): on the sensor for a
        # reference near its edge too (until stop 64 an unclamped origin there was a
        # ValueError a frame, five task faults and the APT disabled).
        if apt.read(px.window_origin(apt.ref_x, TRACK_WIN, apt.camera.width),
                    px.window_origin(apt.ref_y, TRACK_WIN, apt.camera.height),
                    TRACK_WIN, TRACK_WIN, 1, buf):
            px.dark_accumulate(buf, self.dark_min)
        self.dark_n += 1
        if self.dark_n < DARK_FRAMES:
            return
        self.hot = px.classify_dark(self.dark_min, TRACK_WIN, _DARK_HOT_DN, _DARK_MAX_HOT)
        self.dark_min = None  # done: its 128 B are not held through the pass
        self.hot_pixels = len(self.hot) // 2
        apt.exposure.set(self.saved_exp)
        apt.dark_calibrated(self.hot_pixels)

    # ------------------------------------------------------------------ strips
    def _strip_step(self):
        apt = self.apt
        buf = self.window(self.cols * _SEARCH_STRIP_ROWS)
        if buf is None:
            return  # no heap for the strip yet (counted, reported): next tick
        y0 = self.strip * _SEARCH_STRIP_ROWS * _SEARCH_BIN
        cols = self.cols
        ok = apt.read(0, y0, cols, _SEARCH_STRIP_ROWS, _SEARCH_BIN, buf)
        apt.frames += 1
        if ok:
            # The known false targets as their local background, then each cell over its
            # row's neighbours (that background): a bright background's gradient is no
            # candidate (the sunlit ground's bright end beat the beacon); the kernel finds
            # the highest cell in the same pass (max() and the strip's mean cost 290 k
            # instructions each on the Cortex-M7).
            px.mask_rejected(buf, self.rejected, (y0 // _SEARCH_BIN) * cols, cols)
            i = px.strip_highpass_k(0, buf, cols, cols * _SEARCH_STRIP_ROWS)
            mx = buf[i]
            tries = 0
            while mx >= apt.search_snr and mx > self.best_peak and tries < 8:
                cx = i % cols
                if not self._looks_like_spot(cx, (y0 // _SEARCH_BIN) + i // cols):
                    buf[i] = 0  # mask the rejected target, look again
                    mx = max(buf)
                    i = px.index_of(buf, mx)
                    tries += 1
                    continue
                self.best_peak = mx
                self.best_x = cx * _SEARCH_BIN + _SEARCH_BIN // 2
                self.best_y = y0 + (i // cols) * _SEARCH_BIN + _SEARCH_BIN // 2
                break
        self.strip += 1
        if self.strip * _SEARCH_STRIP_ROWS * _SEARCH_BIN < apt.camera.height:
            return
        self.strip = 0
        if self.best_peak:
            apt.candidate_found(self.best_x, self.best_y)
            return
        if apt.search_timed_out():
            return
        # A whole frame without a spot: try a longer exposure next time, up to ~4.3 ms.
        # There the strongest hot pixels (1e6 e-/s) reach ~6 DN in the 8x8 binned frame,
        # the search threshold, while a beacon at 18 deg in fog gives ~8 DN; the few hot
        # pixels that still pass are told apart by ACQUIRE's first frames at full
        # resolution (a hot pixel is no spot: rejected in 3 frames).
        if apt.exposure.us() < SEARCH_MAX_EXP_US and apt.exposure.idx < apt.exposure.top:
            apt.exposure.set(apt.exposure.idx + 2)
        else:
            # A beacon in fog below 20 deg elevation gives ~5 DN over the background in the
            # binned frame at ~5 ms (campaign draw 13: found only when noise lifted it to
            # the 6 DN threshold, after 1.2 s).  The analog gain lifts it (x1.4, x2, x2.8,
            # a frame each) while the binned frame's noise (read noise / 8 x gain: 0.35 DN
            # at x2.8) stays far below the threshold; the hot pixels it lifts too are a
            # single pixel at full resolution and are rejected there, once.
            apt.exposure.raise_gain(2, SEARCH_MAX_GAIN)

    def _looks_like_spot(self, cx, cy):
        """A binned candidate seen at full resolution (one 16x16 read, rare: only for a
        bin above the search threshold).  A failing cell is remembered."""
        apt = self.apt
        x0 = px.clamp(cx * _SEARCH_BIN + _SEARCH_BIN // 2 - _LOOK_WIN // 2, 0,
                      apt.camera.width - _LOOK_WIN)
        y0 = px.clamp(cy * _SEARCH_BIN + _SEARCH_BIN // 2 - _LOOK_WIN // 2, 0,
                      apt.camera.height - _LOOK_WIN)
        buf = apt.trk_buf
        if not apt.read(x0, y0, _LOOK_WIN, _LOOK_WIN, 1, buf):
            return True  # cannot tell: let ACQUIRE judge
        apt.win_x0 = x0
        apt.win_y0 = y0
        if apt.centroid(buf, _LOOK_WIN):
            return True
        self.remember(cx, cy)
        return False

    def remember(self, cx, cy):
        """A false target at binned cell (cx, cy): masked for the rest of the session."""
        self.rejections += 1
        lst = self.rejected
        if lst is None:
            lst = self.rejected = []
        i = cy * self.cols + cx
        if 0 <= cx < self.cols and 0 <= i and len(lst) < _REJECT_MAX and i not in lst:
            lst.append(i)

    def reject_candidate(self):
        self.remember(self.best_x // _SEARCH_BIN, self.best_y // _SEARCH_BIN)

    # ------------------------------------------------------------------ ACQUIRE
    def acquire_check(self, law, spot_x, spot_y):
        """ACQUIRE's target check, once per valid frame: True when the target is static
        (reject it).

        From the first valid frame, the mirror's move ``du`` (in px) and the spot's move
        ``ds`` are compared once ``|du|`` exceeds 3 px: a spot that moved less than 30 %
        of that is static; a spot that moved at least half of it the opposite way is
        *verified* (from then on its error goes to the ADCS even before TRACK, which
        brings a target beyond the mirror's range within reach).  ``du`` is the move up to
        the previous frame's command: this frame's spot shows that one, as the command
        just sent reaches the mirror after the tick's compute and the command latency
        (stop 46: compared with the command just sent, the beacon itself failed the check
        on frames taken before the mirror had moved, and SEARCH began again).
        """
        if self.s0x is None:
            self.s0x = spot_x
            self.s0y = spot_y
            self.u0x = self.upx = law.u_x
            self.u0y = self.upy = law.u_y
            return False
        if self.verified:
            return False
        du = self._du
        law.mirror_px_q6(self.upx - self.u0x, self.upy - self.u0y, du)
        self.upx = law.u_x
        self.upy = law.u_y
        du2 = du[0] * du[0] + du[1] * du[1]
        if du2 < (3 << 6) * (3 << 6):
            return False
        dsx = spot_x - self.s0x
        dsy = spot_y - self.s0y
        ds2 = dsx * dsx + dsy * dsy
        if 100 * ds2 >= 25 * du2 and dsx * du[0] + dsy * du[1] < 0:
            self.verified = True
            return False
        return 100 * ds2 < 9 * du2  # else moving, not yet conclusive
