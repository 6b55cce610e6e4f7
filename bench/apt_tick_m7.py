"""The APT tick and its parts on the QEMU Cortex-M7 image, apart from the pass world.

    python -m bench.apt_tick_m7

The target bench's ``--profile`` calls each part of the tick alone with the heap unlocked;
the tick runs its maths with the heap locked (flight/apt.py ``Apt.tick``), and that
matters: MicroPython allocates the frame of a Python call with more than 11 words of
locals and stack on the heap and frees it after the call (``py/objfun.c``), and on a
fragmented heap the allocator's first-fit scan costs tens of thousands of instructions a
call.  Locked, the frame goes on the C stack.  Here the kit (tests/mpy/kit.py) tracks a
rendered spot, then replays its last 16×16 frame (the fake camera's copy allocates
nothing) under ``-icount shift=0`` (1 instruction = 1 ns: ``ticks_us`` counts thousands
of instructions, deterministic): instructions a call of each part, heap-locked as the
tick runs it, and of the centroid and the law's step unlocked on a heap fragmented on
purpose (1-block holes below the free space, as the pass world leaves it) — the cause of
the bimodal APT runs.  Then the same with the reaction-wheel line canceller on (four
lines: ``*_wheels``, ``lines_step_on``; ``lines_step_off``: its step with no speeds), and a
SEARCH tick on a replayed binned strip (``search_flight``: the tick less the replay's copy;
``strip_highpass``: the strip's row high-pass alone); ``to_send_flight``: the instructions
from a TRACK tick's start to its waveform reaching the mirror driver (the wheel lines on,
the fake camera's copy taken out): the delay the tick adds to the loop.  ``wave_check_*``:
the board's mirror driver's checks of the predictor's waveform, its buffers registered
(``hal.interfaces.WaveBuffers``) and not (``check_wave``, every sample);
``board_play_wave``: the driver's call to sample 0's DAC frames (its bus's C calls stood
in for by C builtins; ``_timed``: the whole call, the timer armed after the frames);
``board_wave_sample``: one later sample, the driver's timer callback (1 kHz on the
board; ``board_wave_first``: a waveform's first callback, which reads the clock,
writing a sample; ``board_wave_idle``: one that finds nothing to write), and from them
``fsm_timer_load_100mips``: the timer's share of the CPU in TRACK, which no task's figure
holds (:func:`timer_load`); ``fsm_driver_load_100mips``: the board driver's play_wave
beyond the simulated one's, a frame (:func:`driver_load`); ``board_read_roi``: the board's
camera driver's frame_ready and read_roi (hal/real/camera.py, the bus's calls stood in
for), ``sim_read_roi`` the simulated driver's part of the same (the target bench's APT
holds it), ``camera_driver_load_100mips`` the board's excess (:func:`camera_driver_load`),
``to_send_board``: the tick to sample 0's DAC frames with the board's drivers
(sim/run/costmodel.py MIRROR_SEND_INSTR); ``spi_bus_load``: the time
TRACK's transfers hold the CPU on the board's buses, which no instruction count holds
(:func:`bus_load`).
Figures in README.md (target figures), docs/firmware.md §4, docs/design.md §3.3 and docs/apt-loop.md §4.
"""

import json
import sys

SCRIPT = r"""
import gc, micropython
from array import array
from time import ticks_us, ticks_diff
from kit import rig
from fakes import FakeCamera
import flight.apt as A
from flight.apt_search import TRACK_WIN as TW  # (TRACK's window, px a side)
from flight import apt_pixels as px
from hal.interfaces import CAMERA_FRAME_PERIOD_US, META_LEN, camera_exposure_max

# The board's frame (6 ms since stop 63; the kit's camera has 10 ms frames): the predictor's
# waveform and the wheel lines' are two frames long (flight/apt_predict.py C_NW), the exposure
# ladder ends at the board's longest.  (At 10 ms until stop 53.)
FakeCamera.frame_period_us = CAMERA_FRAME_PERIOD_US
FakeCamera.exposure_max_us = camera_exposure_max(CAMERA_FRAME_PERIOD_US)
# A hot pixel in TRACK's window, 2 px from the boresight: the patch measured has one to
# patch (the model's own hot pixels fell in the 16 px window until stop 63, not the 8 px).
r = rig("apt", err=(0.001, 0.001), hot={(642, 510): 200})
apt = r.apt
r.fsm.record = False  # (the fake's own step log would allocate)
r.until(A.TRACK, 80)
r.tick(10)
# The survey's look around the target (flight/apt_survey.py) reads a wider frame than the
# replayed window: off here, so every tick measured is a tracking frame's.
sv = apt.search.survey
sv.every = sv.every_locked = 0
sv.fast = False
r.cam.replay = array("H", apt.trk_buf)
apt.tick()
buf = apt.trk_buf
N = 100
NOP = lambda: None


def run(f, lock):
    gc.collect()
    gc.disable()
    if lock:
        micropython.heap_lock()
    t0 = ticks_us()
    for _ in range(N):
        f()
    dt = ticks_diff(ticks_us(), t0)
    if lock:
        micropython.heap_unlock()
    t0 = ticks_us()
    for _ in range(N):
        NOP()
    d0 = ticks_diff(ticks_us(), t0)
    gc.enable()
    return (dt - d0) * 1000 // N


law = apt.law
R = {}
R['tick'] = run(apt.tick, False)
R['replay_copy'] = run(lambda: r.cam.read_roi(apt.win_x0, apt.win_y0, TW, TW, 1, buf, apt._meta),
                       True)
R['centroid'] = run(lambda: apt.centroid(buf, TW), True)
R['centroid_kernel'] = run(lambda: px.centroid_k(apt._cen_args), True)
R['law_step'] = run(lambda: law.step(10, -10, apt.cal), True)
R['patch_hot'] = run(lambda: px.patch_hot(buf, apt.search.hot, apt.exposure.dark(), 9000),
                     True)
R['command'] = run(apt._command_mirror, False)
R['exposure'] = run(lambda: apt.exposure.update(apt.peak, apt._peak_lo, apt._peak_hi), False)
# The reaction-wheel lines (flight/apt_wheels.py): inactive above (no speeds); now the
# seed-1 wheels (four lines), fresh, the predictor settled.
ln = law.lines
lt = [0]


def lines_step():
    lt[0] += 10000
    ln.step(lt[0], law.pred.c, law.pred.lad)


R['lines_step_off'] = run(lines_step, True)
t0 = ticks_us()
ln.set_speeds([33.7, 65.12])  # (the NAV_STATE handler: rotations, the tables queued)
R['lines_set_speeds'] = ticks_diff(ticks_us(), t0) * 1000
piece = 0
while True:  # the tables, one piece per pointahead run (flight/apt_wheels.py service)
    t0 = ticks_us()
    busy = ln.service()
    dt = ticks_diff(ticks_us(), t0) * 1000
    if not busy:
        break
    piece = max(piece, dt)
R['lines_design_piece_max'] = piece
ln.k[1] = 1  # (K_ON: the pointahead task's)
for _ in range(60):
    apt.tick()
R['lines'] = ln.k[3]
R['lines_step_on'] = run(lines_step, True)
R['tick_wheels'] = run(apt.tick, False)
# The time from the tick's start to its waveform reaching the mirror driver (the loop's
# delay the tick adds: the DAC plays sample 0 then), the wheel lines on: ticks_us at the
# driver's call, less the fake camera's copy (the board's read is a DMA stream).
SEND = [0, 0]
_pw = r.fsm.play_wave


def play_wave(xs, ys, n):
    SEND[1] += ticks_diff(ticks_us(), SEND[0])
    _pw(xs, ys, n)


r.fsm.play_wave = play_wave
gc.collect()
gc.disable()
for _ in range(N):
    SEND[0] = ticks_us()
    apt.tick()
gc.enable()
r.fsm.play_wave = _pw
R['to_send_wheels'] = SEND[1] * 1000 // N
R['law_step_wheels'] = run(lambda: law.step(10, -10, apt.cal), True)
R['command_wheels'] = run(apt._command_mirror, False)
ln.set_speeds([0.0, 0.0])  # (inactive again for the fragmented-heap figures below)
ln.k[1] = 0
ln.k[2] = 0
# The board's mirror driver (hal/real/fsm.py) on the predictor's buffers, its bus's C
# calls (machine.SPI.write, Pin.__call__ for SYNC, Pin.value) stood in for by C builtins
# (len, abs): its checks,
# the predictor's pairs registered (hal.interfaces.WaveBuffers) and not (check_wave: every
# sample), and its play_wave to sample 0's DAC frames (no timer).
from hal.real.fsm import Ad5664Fsm
from hal.interfaces import check_wave


class _Pin:
    value = abs  # (a C call, as the board's; builtins do not bind to the instance)


class _Spi:
    write = len


class _Timer:  # machine.Timer's init (keywords parsed in C) / deinit: C builtins stand in
    init = {"freq": 0, "callback": None}.update  # (its keys there: nothing allocated)
    deinit = int


bfsm = Ad5664Fsm(_Spi(), abs, _Pin(), timer=_Timer())  # (SYNC: the driver calls the pin)
bfsm0 = Ad5664Fsm(_Spi(), abs, _Pin())  # (no timer: play_wave returns at sample 0's frames)
pred = law.pred
law.pred.register(bfsm)
wx, wy = pred.wx[0], pred.wy[0]
NW = len(wx)
R['wave_check_registered'] = run(lambda: bfsm._waves.check(wx, wy, NW), True)
R['wave_check_unregistered'] = run(lambda: check_wave(wx, wy, NW), True)
law.pred.register(bfsm0)
R['board_play_wave'] = run(lambda: bfsm0.play_wave(wx, wy, NW), True)
R['board_play_wave_timed'] = run(lambda: bfsm.play_wave(wx, wy, NW), True)
# The board's camera driver (hal/real/camera.py): a TRACK frame's frame_ready and
# read_roi, the bus's calls stood in for (SPI.write by a C builtin; readinto(buf, 0) by a
# Python no-op: no C builtin takes a buffer and an int without a type check, and a Python
# call costs about what the port's C call does before its DMA).  The tick's figures above
# take the fake camera's whole read out (replay_copy): this is the board's read instead.
from hal.real.camera import FpgaCamera, HDR_TAG


class _CamSpi:
    write = len
    readinto = staticmethod(lambda b, w: None)


bcam = FpgaCamera(_CamSpi(), _Pin())
bcam._hdr[0] = HDR_TAG >> 8  # (the stand-in moves no octets: the stream's tag pre-set;
bcam._hdr[1] = HDR_TAG & 255  # the age word's reserved half reads 0)
bmeta = array('i', [0] * META_LEN)


def board_read():  # (the tick reads the window alone: its counter says a frame is new)
    bcam.read_roi(apt.win_x0, apt.win_y0, TW, TW, 1, buf, bmeta)


board_read()  # (its first call caches a view of the buffer)
R['board_read_roi'] = run(board_read, True)
# The simulated driver's own part of a read (hal/sim/devices.py SimCamera: its checks and
# the meta; the render is physics, which the target bench takes out): what the target
# bench's APT holds of a read, against the board's above.
from hal.sim.devices import SimCamera
from hal.sim.frameclock import FrameClock


class _World:
    frame_us = CAMERA_FRAME_PERIOD_US
    t_us = 0  # (the frame's age the driver reports: the world's frame clock, below)
    frame_clock = FrameClock(CAMERA_FRAME_PERIOD_US, 1)
    camera_powered = staticmethod(lambda: True)
    physics_begin = staticmethod(lambda: 0)
    physics_end = staticmethod(lambda t0: None)


class _Model:
    read = staticmethod(lambda b, x0, y0, w, h, k: None)


scam = SimCamera(_World(), _Model())


def sim_read():
    scam.read_roi(apt.win_x0, apt.win_y0, TW, TW, 1, buf, bmeta)


R['sim_read_roi'] = run(sim_read, True)
# One sample of a waveform playing: the driver's timer callback (1 kHz on the board), a
# DAC write outside any task (the pass world's simulated driver has none to charge): a
# later callback (the next sample), a waveform's first callback (it reads the clock: a
# period after sample 0, it writes sample 1; 0.3 periods after, nothing), each less the
# set-up that puts the driver there.
bfsm._ws[0] = NW  # (hal/real/fsm.py _WS_N)
SETUP = [0]  # (the first callback's time from sample 0, µs; 0: a later callback)


def wave_setup():
    ws = bfsm._ws
    ws[1] = 0  # _WS_I
    d = SETUP[0]
    ws[2] = 1 if d != 0 else 0  # _WS_FIRST
    bfsm._t0 = ticks_us() - d


def wave_sample():
    wave_setup()
    bfsm._next(None)


for key, d in (('board_wave_sample', 0), ('board_wave_first', 1000), ('board_wave_idle', 300)):
    SETUP[0] = d
    R[key] = run(wave_sample, True) - run(wave_setup, True)
# A fragmented heap: 1-block holes below the free space (every other small object freed).
gc.collect()
keep = [bytearray(8) for _ in range(4000)]
for i in range(0, len(keep), 2):
    keep[i] = None
R['centroid_unlocked_fragmented'] = run(lambda: apt.centroid(buf, TW), False)
R['law_step_unlocked_fragmented'] = run(lambda: law.step(10, -10, apt.cal), False)
R['centroid_locked_fragmented'] = run(lambda: apt.centroid(buf, TW), True)
R['tick_fragmented'] = run(apt.tick, False)
R['state'] = apt.state
R['hot_pixels'] = len(apt.search.hot) // 2
# A SEARCH tick (flight/apt_search.py): one 160 x 16 strip of the 8 x 8-binned frame, the
# night's flat background replayed (no candidate: the tick's whole strip work), the dark
# calibration done; then the strip's row high-pass alone.
del keep
gc.collect()
apt._enter(A.SEARCH)
apt.search.dark_n = 1 << 20  # (past the dark frames)
# At the ladder's end (apt_search SEARCH_MAX_EXP_US 4305, SEARCH_MAX_GAIN 6: constants the
# firmware folds): no camera setting (the fake's model re-tables, not flight work) in the
# ticks.
while apt.exposure.us() < 4305:
    apt.exposure.set(apt.exposure.idx + 1)
apt.exposure.raise_gain(99, 6)
r.cam.replay = array("H", [33 + (i * 7919) % 3 for i in range(160 * 16)])
sbuf = apt.search.buf
R['search_tick'] = run(apt.tick, False)
R['search_replay_copy'] = run(lambda: r.cam.read_roi(0, 0, 160, 16, 8, sbuf, apt._meta), True)
R['strip_highpass'] = run(lambda: px.strip_highpass_k(0, sbuf, 160, 160 * 16), True)
R['strip_sum'] = run(lambda: sum(sbuf), True)  # (what the strip's mean cost before)
R['strip_max'] = run(lambda: max(sbuf), True)  # (and its maximum: the kernel's now)
R['search_state'] = apt.state
print('RESULT', R)
"""


def timer_load(sample_instr, first_instr, idle_instr, frame_us=None):
    """The board's mirror timer: in TRACK each frame's waveform plays its samples 1 .. k-1
    by the driver's timer callback (sample 0 in the tick's play_wave) before the next
    frame's replaces it, k = the frame's whole waveform samples: outside every task, so
    outside the target bench's flight CPU load (its simulated driver plays them in the
    world).  The timer fires on the MCU's millisecond tick, whose phase against sample 0
    is uniform: in half the frames the first callback (it reads the clock) finds sample 0
    still the nearest and writes nothing (``idle_instr``), then k - 1 later callbacks
    write a sample each (``sample_instr``); in the other half the first writes sample 1
    (``first_instr``) and k - 2 later ones the rest (hal/real/fsm.py).  Their share of the
    CPU at the payload computer's 100 M instructions/s."""
    from hal.interfaces import CAMERA_FRAME_PERIOD_US, FSM_WAVE_PERIOD_US
    from sim.run.costmodel import MIPS

    frame_us = frame_us or CAMERA_FRAME_PERIOD_US
    frames_per_s = 1e6 / frame_us
    k = frame_us // FSM_WAVE_PERIOD_US
    per_frame = 0.5 * (idle_instr + (k - 1) * sample_instr) + \
        0.5 * (first_instr + (k - 2) * sample_instr)
    return {"apt_tick_m7_fsm_timer_samples_per_s": round((k - 1) * frames_per_s, 1),
            "apt_tick_m7_fsm_timer_load_100mips": round(per_frame * frames_per_s / (MIPS * 1e6),
                                                        4)}


def _frame_load(instr, frame_us=None):
    """``instr`` instructions once a frame (``frame_us``, the board's by default) as a
    share of the payload computer's 100 M instructions/s, to 4 places."""
    from hal.interfaces import CAMERA_FRAME_PERIOD_US
    from sim.run.costmodel import MIPS

    frame_us = frame_us or CAMERA_FRAME_PERIOD_US
    return round(instr * 1e6 / frame_us / (MIPS * 1e6), 4)


def driver_load(play_instr, sim_instr, frame_us=None):
    """The board's mirror driver in the APT's task, beyond what the target bench counts:
    its play_wave once a frame (sample 0's frames, the clock's read, the timer armed:
    ``play_instr``) less the simulated driver's flight-side work the bench's APT already
    holds (the same registered-buffer check: ``sim_instr``), at the payload computer's
    100 M instructions/s."""
    return {"apt_tick_m7_fsm_driver_load_100mips": _frame_load(play_instr - sim_instr, frame_us)}


def camera_driver_load(board_instr, sim_instr, frame_us=None):
    """The board's camera driver in the APT's task, beyond what the target bench counts:
    its frame_ready and read_roi a frame (``board_instr``) less the simulated driver's
    part the bench's APT holds (``sim_instr``: its checks and meta; the render is physics),
    at the payload computer's 100 M instructions/s."""
    return {"apt_tick_m7_camera_driver_load_100mips": _frame_load(board_instr - sim_instr, frame_us)}


def lines_load(wheels_instr, off_instr, frame_us=None):
    """The wheel-line canceller in the APT's task while it plays (flight/apt_wheels.py: the
    OBC's wheel speeds in NAV_STATE, as in every simulated pass), beyond what the target
    bench counts: its world sends no speeds, so there the canceller only checks that it
    is off.  The law's step with the lines on (``wheels_instr``, ``law_step_wheels``) less
    the same with them off (``off_instr``, ``law_step``), at the payload computer's 100 M
    instructions/s."""
    return {"apt_tick_m7_wheel_lines_load_100mips": _frame_load(wheels_instr - off_instr, frame_us)}


def bus_load(frame_us=None):
    """The board's SPI transfers in TRACK, in no instruction count (the QEMU bench's
    simulated HAL moves no bits; MicroPython's SPI calls block until the last octet, DMA
    or not): each frame's window burst and stream on the FPGA's bus (no STATUS read
    while frames come: ``hal.real.camera.frame_octets``, TRACK's window, at ``SPI_FPGA_HZ``) and
    each of its waveform samples' four DAC frames on the mirror's (sample 0 in the tick,
    the others from the timer, at ``SPI_FSM_DAC_HZ``): their share of the time.  The
    slower tasks' transfers (bias, comparator, framer counters, I2C sensors: a few to 20
    a second) are not in it."""
    from flight.apt_search import TRACK_WIN
    from hal.interfaces import (CAMERA_FRAME_PERIOD_US, FSM_WAVE_PERIOD_US, SPI_FPGA_HZ,
                                SPI_FSM_DAC_HZ)
    from hal.real.camera import frame_octets
    from hal.real.fsm import SAMPLE_OCTETS

    frame_us = frame_us or CAMERA_FRAME_PERIOD_US
    k = frame_us // FSM_WAVE_PERIOD_US
    bits = 8.0 * frame_octets(TRACK_WIN, TRACK_WIN)
    per_frame_us = bits * 1e6 / SPI_FPGA_HZ + k * 8.0 * SAMPLE_OCTETS * 1e6 / SPI_FSM_DAC_HZ
    return {"apt_tick_m7_spi_bus_load": round(per_frame_us / frame_us, 4)}


def measure():
    from tools import target

    out, err = target.run_script(SCRIPT, elf=target.ensure_image(), timeout=900, icount_shift=0)
    for line in out.splitlines():
        if line.startswith("RESULT "):
            import ast

            d = ast.literal_eval(line[7:])
            res = {"apt_tick_m7_%s_instr" % k: v for k, v in d.items()
                   if k not in ("state", "hot_pixels", "lines", "search_state")}
            res["apt_tick_m7_search_flight_instr"] = d["search_tick"] - d["search_replay_copy"]
            res["apt_tick_m7_search_state"] = d["search_state"]
            res["apt_tick_m7_lines"] = d["lines"]
            res["apt_tick_m7_flight_instr"] = d["tick"] - d["replay_copy"]
            res["apt_tick_m7_to_send_flight_instr"] = d["to_send_wheels"] - d["replay_copy"]
            # The board's: the tick to the driver's call with the board's camera read in
            # place of the kit's, and the driver to sample 0's DAC frames
            # (sim/run/costmodel.py MIRROR_SEND_INSTR).
            res["apt_tick_m7_to_send_board_instr"] = (
                res["apt_tick_m7_to_send_flight_instr"] + d["board_read_roi"]
                + d["board_play_wave"])
            res["apt_tick_m7_state"] = d["state"]
            res["apt_tick_m7_hot_pixels"] = d["hot_pixels"]
            res.update(timer_load(d["board_wave_sample"], d["board_wave_first"],
                                  d["board_wave_idle"]))
            res.update(driver_load(d["board_play_wave_timed"], d["wave_check_registered"]))
            res.update(bus_load())
            res.update(camera_driver_load(d["board_read_roi"], d["sim_read_roi"]))
            res.update(lines_load(d["law_step_wheels"], d["law_step"]))
            return res
    raise RuntimeError("no result from the target: %s %s" % (out, err))


if __name__ == "__main__":
    json.dump(measure(), sys.stdout, indent=1, sort_keys=True)
    print()
