"""The APT's look around its target in TRACK (DESIGN §3.3; docs/apt-loop.md §6 "A light
near the station"): is there a brighter spot than the one it tracks?

Why: SEARCH starts ACQUIRE on the brightest spot it sees, and a session starts before the
station's beacon is on (the usual plan 2.9 s before it, the warm-up 100 s).  At night the
lights of a town near the station are spots too; fixed on the ground, they move with the
pointing as the beacon does, so ACQUIRE's target check ("it moves against the mirror")
passes them, and TRACK would hold one for the whole pass with the downlink a few mrad off
the station (the `city-lights` scenario: 3.8 mrad, before this).  Once on, the beacon is
the brightest light of the station's scene — the station is built so (a 671 nm laser into
the payload's aperture; the simulator's lights are 1-30 % of it).

How: one TRACK frame now and then reads the 256 x 256 px around the tracked spot binned
16 x 16 (into TRACK's own 16 x 16 buffer: nothing allocated).  Each cell is taken over
its row's neighbours (flight/apt_pixels.py ``strip_highpass_py``: a bright background's
gradient is no spot).  The square is laid out with the tracked spot at a cell's centre:
the cells its 3-sigma box touches (one, but at the sensor's edges) are its sum, and the
3 x 3 cells around the brightest other cell the other's, each less the square's mean;
a spot ``apt_survey_ratio`` times brighter than the tracked one is the beacon:
APT_TARGET_SWITCH, and ACQUIRE on it (the downlink laser off until TRACK again).  The
survey's frame is a missed frame for the loop — the predictor's waveform bridges it
(flight/apt_predict.py) at a cost to the aim (docs/apt-loop.md §6: +5 % of aim error at
one frame in 50) — so its cadence follows the uplink, which the station switches on with
its beacon: every ``apt_survey_frames`` (50) TRACK frames while the framer is not locked
(no station, or not yet: a light is what there is to track), one at the next frame
after it locks if TRACK is past its pull-in (the beacon came on with the uplink), then
every ``apt_survey_locked_frames`` (1000, 10 s): a safety net.  Not while the FSM
calibration runs (its regression counts on every frame).  It sees ±12.8 mrad around the
target: a brighter spot beyond is not looked for.

The near look (stop 69).  The cell the tracked spot sits in is its own (±8 px), and TRACK's
8 px window sees ±4 px: a beacon 0.45–1 mrad from a light tracked before it came on was in
neither, and TRACK kept the light for the whole pass (the downlink 0.6–0.85 mrad off the
station).  So a look whose own cell holds at least twice the tracked spot's flux (its
peak over the background from TRACK's frames times ``_PEAK_TO_FLUX``) asks for a near look
two ticks later: the 32 x 32 px around the spot binned 2 x 2, where a spot
``apt_survey_ratio`` times the tracked one's 3 x 3 bins, outside its 3-sigma box, is the
beacon as above.  Without a second light in the cell the look never asks: nothing changes
on a pass without one.
"""

from flight.apt_devices import no_new_frame
from hal.errors import HalError
from flight import apt_pixels as px
from flight.events import SEV_WARN, Event
from flight.params import ParamDef
from hal.compat import const
from hal.interfaces import LINK_DEGRADED, LINK_LOCKED, MODE_LOOPBACK

EV_APT_TARGET_SWITCH = const(0x5A)
_BIN = const(16)  # the survey's binning: 16 x 16 cells of 16 x 16 px
_CELLS = const(16)  # cells a side (in TRACK's buffer: flight/apt.py _TRK_BUF_PX)
_SIDE = const(256)  # px a side
# The tracked spot's half-width in px: 3 sigma of the ~1 px spot (DESIGN §3.3; the
# centroid's window holds it so, flight/apt_pixels.py).  The square is laid out with the
# spot at a cell's centre, so it is one cell, and only the cells it touches are its own:
# a light 9 px (0.9 mrad) or more from it is another spot (city-lights seed 3: the beacon
# 1.9 mrad from the light tracked, inside the 3 x 3 cells counted as the light's before).
_SPOT_PX = const(3)
# TRACK frames from the uplink's lock to the look it asks for, at most: the next frame (the
# beacon came on with the uplink, ~10 ms before the framer locked; a light tracked since
# before costs the downlink until the look: 0.1 s of it read 72-77 µrad RMS on the pass).
_LOCK_GAP = const(1)
# TRACK frames before the lock's look may come at once: past the pull-in (a frame missed in
# its first frames cost the nominal pass ~280 µrad for a few frames); a younger TRACK has
# its look this many frames after the lock, or at its cadence's first look.
_PULL_IN = const(50)
# The tracked spot's flux in DN·px from its brightest pixel over the background: the DESIGN
# §3.3 ~1 px (sigma) spot puts 11.7 % (centred on a corner) to 14.7 % (on a pixel) of its
# light in that pixel, so x8 errs within +18 / -7 %; the near look is asked from a cell
# holding twice that, so a second spot of >= ~1.4x the tracked one asks for it.
_PEAK_TO_FLUX = const(8)
_NEAR_BIN = const(2)  # the near look's binning: 16 x 16 bins of 2 x 2 px, ±16 px
_NEAR_AFTER = const(2)  # TRACK ticks from the look to its near look (a TRACK frame between)

EVENTS = (
    Event(EV_APT_TARGET_SWITCH, "APT_TARGET_SWITCH", SEV_WARN,
          "a spot brighter than the tracked one near it: ACQUIRE on it",
          (("x_px", "int"), ("y_px", "int"), ("ratio_x10", "int"))),
)

PARAMS = (
    ParamDef("apt_survey_frames", "int", 50, 0, 6000, "frames",
             "TRACK frames between looks for a brighter spot around the target while the "
             "uplink is not locked (0: none)"),
    ParamDef("apt_survey_locked_frames", "int", 1000, 0, 60000, "frames",
             "the same while the uplink is locked, after a first look (0: none)"),
    ParamDef("apt_survey_ratio", "float", 1.5, 1.2, 20.0, "",
             "how much brighter a spot near the target must be to be taken for the beacon"),
)


class Survey:
    """The look of one :class:`flight.apt.Apt` (``apt.search.survey``; its count restarts
    with every state change, flight/apt_search.py ``Search.restart``)."""

    def __init__(self, apt):
        self.apt = apt
        self.count = 0  # TRACK frames since the last look (or TRACK's start)
        self.looks = 0
        self.switches = 0
        self.near_looks = 0
        self.near_next = False  # the last look asked for a near look (the next look is one)
        self.framer = None  # flight.framer_ctl.FramerControl (flight/payload.py), or None
        self.locked = False  # the uplink at the last tick
        self.fast = False  # the link has locked since the last look: one within _LOCK_GAP
        apt.ctx.params.listeners.append(self._load_params)
        self._load_params()

    def _load_params(self, name=None, value=None):
        if name is not None and not name.startswith("apt_survey") and name != "apt_snr_min_dn":
            return
        p = self.apt.ctx.params
        self.every = p["apt_survey_frames"]
        self.every_locked = p["apt_survey_locked_frames"]
        cam = self.apt.camera
        if cam.width < _SIDE or cam.height < _SIDE:  # no room for the square: no looks
            self.every = self.every_locked = 0
        # the cadence of the look a lock asks for (due: the unlocked one, or the pull-in's)
        self.every_lock = self.every if self.every > 0 else _PULL_IN
        self.ratio_q4 = int(p["apt_survey_ratio"] * 16 + 0.5)
        # the near look's least spot: a spot's 3 x 3 bins hold ~2x its peak, so twice the
        # least peak TRACK takes (flight/apt.py apt_snr_min_dn)
        self.near_floor = 2 * p["apt_snr_min_dn"]

    def due(self, cal_busy):
        """Once a TRACK tick, before its frame: True when this tick's frame was the
        survey's (the tick does nothing else).  Integers only, nothing allocated."""
        fr = self.framer
        # (a LOOPBACK framer locks on its own packets: not the station's uplink, stop 61)
        locked = fr is not None and (fr.link == LINK_LOCKED or fr.link == LINK_DEGRADED) \
            and fr.mode != MODE_LOOPBACK
        fast = self.every_lock
        if locked and not self.locked and (self.every > 0 or self.every_locked > 0):
            # The station's uplink, so its beacon, came on: a look at the next frame if
            # TRACK is past its pull-in (a light taken before the beacon was on).
            self.fast = True
            self.near_next = False  # (the lock's look is a look: the beacon may be far)
            if self.apt.state_ticks >= _PULL_IN and self.count < fast - _LOCK_GAP:
                self.count = fast - _LOCK_GAP
        self.locked = locked
        if self.fast:
            every = fast
        else:
            every = self.every_locked if locked else self.every
        if cal_busy:
            self.near_next = False  # (the calibration's frames: a near look asked is dropped)
            return False
        if every <= 0:
            return False
        self.count += 1
        if self.count < every:
            return False
        apt = self.apt
        try:
            ready = apt.camera.frame_ready()
        except HalError as e:  # (counted, said: a camera error, not the task's fault)
            apt._camera_error(e)
            return True
        if not ready:
            no_new_frame(apt)  # (counted; a silent camera: LOST, flight/apt_devices.py)
            return True  # (the look at the next tick)
        self.count = 0
        self.fast = False
        if self.near_next:
            self.near_next = False
            self.look_near()
            return True
        self.look()
        if self.near_next:  # asked: the near look _NEAR_AFTER ticks on, a TRACK frame between
            # (on the cadence of the ticks to come: the lock's fast one is spent)
            self.count = (self.every_locked if self.locked else self.every) - _NEAR_AFTER
        return True

    def look(self):
        apt = self.apt
        buf = apt.trk_buf
        sx = apt.spot_x >> 6
        sy = apt.spot_y >> 6
        # the spot at the centre of cell 8 (but for the sensor's edges)
        x0 = px.clamp(sx - _SIDE // 2 - _BIN // 2, 0, apt.camera.width - _SIDE)
        y0 = px.clamp(sy - _SIDE // 2 - _BIN // 2, 0, apt.camera.height - _SIDE)
        ok = apt.read(x0, y0, _CELLS, _CELLS, _BIN, buf)  # (a camera error: counted there)
        apt.frames += 1
        if not ok:
            return
        self.looks += 1
        # Each cell over its row's neighbours first: a bright background's gradient (the
        # sunlit ground: its far corner ~20x "brighter" than the beacon) is no spot.
        px.strip_highpass_k(0, buf, _CELLS, _CELLS * _CELLS)
        # Sums against the square's exact mean, in 1/256 DN (its 256 cells: no division,
        # whose floor would add up to 9 DN to both sums and pull their ratio towards 1)
        tot = sum(buf)
        bg = tot >> 8  # (whole DN: only to mask the tracked spot with)
        # the tracked spot's cells: those its 3-sigma box touches (one, but at an edge)
        i0 = _cell(sx - _SPOT_PX, x0, _BIN)
        i1 = _cell(sx + _SPOT_PX, x0, _BIN)
        j0 = _cell(sy - _SPOT_PX, y0, _BIN)
        j1 = _cell(sy + _SPOT_PX, y0, _BIN)
        own = 0
        for j in range(j0, j1 + 1):  # summed, then out of the maximum
            for i in range(i0, i1 + 1):
                k = j * _CELLS + i
                own += (buf[k] << 8) - tot
                buf[k] = bg
        # (own, in 1/256 DN of a cell's mean, is the cells' light in DN·px; < 2^30 as above)
        flux = (apt.peak - apt.bg) * _PEAK_TO_FLUX
        if flux > 0 and own >= flux << 1:
            self.near_next = True  # a second spot in its own cell: looked at closer
        mx = max(buf)
        if mx <= bg:
            return
        k = px.index_of(buf, mx)
        other = (_sum9_at(buf, k) << 8) - 9 * tot
        if other < apt.search_snr << 8 or other * 16 < self.ratio_q4 * own:
            # (< 2^30: 9 x 1023 x 256 x 320.)  A spot across the own cell's edge is split
            # between the two sums: at least half the own cells' light next to them asks
            # for the near look too.
            if other << 1 >= own and i0 - 2 <= k % _CELLS <= i1 + 2 \
                    and j0 - 2 <= k // _CELLS <= j1 + 2:
                self.near_next = True
            return
        self.switch(x0 + (k % _CELLS) * _BIN + _BIN // 2, y0 + (k // _CELLS) * _BIN + _BIN // 2,
                    other, own)

    def look_near(self):
        """The near look: the 32 x 32 px around the tracked spot binned 2 x 2 into TRACK's
        16 x 16 buffer; a spot outside the tracked one's 3-sigma box ``apt_survey_ratio``
        times brighter (3 x 3 bins each) is the beacon.  Integers only, nothing allocated."""
        apt = self.apt
        buf = apt.trk_buf
        sx = apt.spot_x >> 6
        sy = apt.spot_y >> 6
        side = _CELLS * _NEAR_BIN
        x0 = px.clamp(sx - side // 2, 0, apt.camera.width - side)
        y0 = px.clamp(sy - side // 2, 0, apt.camera.height - side)
        ok = apt.read(x0, y0, _CELLS, _CELLS, _NEAR_BIN, buf)  # (a camera error: counted there)
        apt.frames += 1
        if not ok:
            return
        self.near_looks += 1
        px.strip_highpass_k(0, buf, _CELLS, _CELLS * _CELLS)  # each bin over its row's: >= 0
        own = _sum9_at(buf, _cell(sy, y0, _NEAR_BIN) * _CELLS + _cell(sx, x0, _NEAR_BIN))
        i0 = _cell(sx - _SPOT_PX, x0, _NEAR_BIN)
        i1 = _cell(sx + _SPOT_PX, x0, _NEAR_BIN)
        j0 = _cell(sy - _SPOT_PX, y0, _NEAR_BIN)
        j1 = _cell(sy + _SPOT_PX, y0, _NEAR_BIN)
        for j in range(j0, j1 + 1):  # the tracked spot's bins out of the maximum
            for i in range(i0, i1 + 1):
                buf[j * _CELLS + i] = 0
        mx = max(buf)
        if mx <= 0:
            return
        k = px.index_of(buf, mx)
        other = _sum9_at(buf, k)
        if other < self.near_floor or other * 16 < self.ratio_q4 * own:
            return
        self.switch(x0 + (k % _CELLS) * _NEAR_BIN + _NEAR_BIN // 2,
                    y0 + (k // _CELLS) * _NEAR_BIN + _NEAR_BIN // 2, other, own)

    def switch(self, x, y, other, own):
        """The brighter spot at sensor (x, y) px: reported, and ACQUIRE on it."""
        self.switches += 1
        r10 = (10 * other) // own if own > 0 else 9999
        r10 = r10 if r10 < 9999 else 9999
        apt = self.apt
        apt.ctx.emit(EV_APT_TARGET_SWITCH, [x, y, r10],
                     "a spot %d.%dx brighter at (%d, %d) px: ACQUIRE on it"
                     % (r10 // 10, r10 % 10, x, y))
        s = apt.search
        s.best_x = x  # (ACQUIRE's rejection, if it comes, names this target)
        s.best_y = y
        # A new target: the predictor's estimate restarts at its first frame, on the
        # nominal gains (the mirror's command is kept).  The old target's level, rate and
        # jitter states are no prediction of it: carried over, its ~mrad step tripped the
        # supervisor (robust gains for the rest of the pass: stop 58's city-lights).
        apt.law.pred.reset()
        apt.candidate_found(x, y)


def _cell(p, p0, binning):
    """The cell (0 .. _CELLS - 1) of a look's axis that sensor pixel ``p`` falls in, the
    look's first pixel ``p0`` and its ``binning``."""
    return px.clamp((p - p0) // binning, 0, _CELLS - 1)


def _sum9_at(buf, k):
    """The 3 x 3 cells around cell ``k``, moved in from the square's edge."""
    return _sum9(buf, px.clamp(k % _CELLS, 1, _CELLS - 2), px.clamp(k // _CELLS, 1, _CELLS - 2))


def _sum9(buf, ci, cj):
    """Sum of the 3 x 3 cells around (ci, cj) (1 .. _CELLS - 2 each)."""
    k = (cj - 1) * _CELLS + ci - 1
    m = k + _CELLS
    n = m + _CELLS
    return (buf[k] + buf[k + 1] + buf[k + 2] + buf[m] + buf[m + 1] + buf[m + 2]
            + buf[n] + buf[n + 1] + buf[n + 2])
