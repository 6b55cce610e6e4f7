"""Declared per-task CPU cost of the flight tasks: the simulated payload computer's timing.

The scheduler (flight/scheduler.py) measures each task's cost as the difference of
``clock.cpu_now_us()`` around the call and, when the clock has ``charge_cpu`` set, lets that
much virtual time pass.  Measuring the *host's* CPU time there made a pass depend on the
machine's load (issue 13: the same seed gave BER ratio 1.27, 1.36, 1.55 in three runs).  By
default the runner now installs :meth:`CostModel.cpu_now_us` instead: a counter that grows,
for each dispatch, by the task's declared cost - guest instructions converted to µs at a
stated instruction rate - so the timing is deterministic and still charged to virtual time
(late releases and deadline misses mean what they would on the board for that cost).
``--charge-cpu`` restores the host measurement.

Where the numbers come from (docs/simulator.md "Timing"): ``task_instr_mean`` of
``out/target.json`` written by the firmware issue's ``make target-bench``
(tools/target_bench.py: the FlightApp and the pass world in the QEMU MPS2-AN500 Cortex-M7
image under ``-icount shift=0``, guest instructions per dispatch, the simulated devices'
physics excluded), every task of the flight application measured there; re-measured at
stop 40 on the firmware with its Python stack (the means of three runs; the entries say
which are older).  A newer ``out/target.json`` should replace this table (same keys).

The instruction rate is the firmware bench's payload-computer figure, 100 M guest
instructions per second (``apt_deadline_misses_100mips``: the QEMU count ×10 charged to
the virtual clock).  Unknown task names cost ``DEFAULT_INSTR``.
"""

from flight.apt_search import TRACK_WIN
from hal.compat import TICKS_PERIOD
from hal.interfaces import (
    APT_ACQUIRE,
    APT_TRACK,
    SPI_FPGA_HZ,
    SPI_FSM_DAC_HZ,
    spi_transfer_us,
)
from hal.real.camera import frame_octets
from hal.real.fsm import SAMPLE_OCTETS

# Guest instructions per dispatch (see module docstring for the source of each entry).
# Stop 40: the means of three `make target-bench` runs on the firmware with its Python
# stack (docs/firmware.md "The Python stack": calls' state off the heap), 100 M phase.
TASK_INSTR = {
    "hk": 19783,
    "adcs_feedback": 101340,
    "health": 76093,
    "sipm_bias": 117417,
    # The APT's ticks outside the control law (IDLE, SEARCH) and law 0: the PI law's
    # TRACK mean at issue 14.2 (weighted centroid), before the Python stack; the bench
    # runs law 1 in TRACK, so this entry is not re-measured (an upper bound).  A SEARCH
    # tick alone (`python -m bench.apt_tick_m7`, search_flight): 138 k since stop 41's
    # strip kernel, 591 k before it (docs/firmware.md §4); kept, the passes' timing with it.
    "apt": 214991,
    # The predictor (apt_law 1, flight/apt_predict.py with its viper kernels): the
    # bench's task_instr_mean.apt, TRACK frames: 133 624 at stop 48, the mirror driver's
    # per-sample check gone (147 652 since stop 40, 158 449 at issue 11's APT-CPU work,
    # 202 k on main 38fcd3e, 304 k on the predict branch before).  Charged for the ticks the
    # law runs in (ACQUIRE/TRACK, CostModel._task_key); IDLE and SEARCH ticks run no law
    # and cost what law 0's entry says, whichever law is set.
    "apt_predict": 133624,
    "framer": 46117,
    # The tc task: its mean at stop 40, kept as an upper bound since stop 49's quiet tick
    # (29 234 measured: flight/app.py _task_tc skips the flood budget's clock checks);
    # the passes' timeline with it (the knee's sweep points move with the charged time).
    "tc": 50643,
    "comparator": 17910,
    "pointahead": 24277,
    "apt_calib": 8613,
    # The breakdown-knee task (flight/knee_owner.py): its mean over a run, the session
    # start's sweep and report included (until stop 40 not in the table: charged
    # DEFAULT_INSTR, 200 k, every 100 ms).
    "bias_knee": 13587,
}
DEFAULT_INSTR = 200000  # ESTIMATE for a task not in the table (none today: tests' tasks)
MIPS = 100.0  # payload computer, M guest instructions per second (firmware bench, 100 M)
# The APT tick's instructions from its dispatch to sample 0 of its waveform leaving the
# board's mirror driver for the DAC, TRACK with the wheel lines on (`python -m
# bench.apt_tick_m7`): the tick to its Fsm.play_wave call, `apt_tick_m7_to_send_flight_instr`
# 116 500 (the kit's fake camera read taken out), plus the board driver's play_wave to
# sample 0's DAC frames, `apt_tick_m7_board_play_wave_instr` 7 740 (hal/real/fsm.py, its
# bus's C calls stood in for by C builtins; the predictor's buffers registered,
# hal.interfaces.WaveBuffers; the octets by hal/real/fsm_viper.py; the clock's read and
# the timer's arming come after the frames).  Until stop 48 this figure left the driver
# out (116 840); the driver then took 28.7 k (every sample checked, a call a DAC frame),
# at stop 48 10.8 k (125 640, the tick then measured at 114 820).
# 1.24 ms at 100 M/s: the kit's send, the simulator's default until stop 51.
MIRROR_SEND_INSTR = 124240
KIT_SEND_US = int(round(MIRROR_SEND_INSTR / MIPS))  # 1 242 µs
# THE BOARD'S SEND, flown by default since stop 51: the figure above leaves out (a) the
# board's camera driver, which the kit's fake read took out with it — frame_ready and
# read_roi, `apt_tick_m7_board_read_roi_instr`: 36.5 k instructions a frame as found, 26.2 k
# with stop 50's window cache, 18.8 k at stop 52 (a read's checks and burst only for a
# new window, the window and stream reads in one call, the STATUS read's chip-select
# cycle written out: docs/firmware.md §4 "The camera's read"), **17.0 k since stop 53**
# (the stream header by a viper kernel, hal/real/camera_viper.py) — the board's
# whole `apt_tick_m7_to_send_board_instr`: 150 200 at stop 50, 139 100 at stop 52
# (also the predictor's frame in one call and its waveform sent by ControlLaw.command
# itself: docs/firmware.md §4 "The tick's calls"), **110 100 since stop 53** (the kernels'
# operations cut: the centroid, the predictor's transition, the wheel lines, the stream
# header; the waveform two frames long, 14 samples; measured at the board's 7 ms frames,
# docs/firmware.md §4 "Fewer operations"), **101 060 since stop 63** (the 8 px TRACK
# window read without a STATUS read first, the board's read 10.1 k, a hot pixel patched,
# 4.9 k, as the kit's 16 px window held one before; 6 ms frames, 12 samples: docs/apt-loop.md §5 "6 ms frames (stop 63)") — and (b) the time on the buses,
# which no instruction count holds (a blocking transfer holds the tick, DMA or not): the
# TRACK frame's window burst and stream, hal.real.camera.frame_octets(8, 8) = 163 octets
# (553 with the 16 px window and the STATUS read until stop 63) at the FPGA port's 25 MHz
# (hal.interfaces.SPI_FPGA_HZ), 52 µs, and sample 0's four DAC frames (12 octets at
# SPI_FSM_DAC_HZ: 3 µs).
BOARD_SEND_INSTR = 101060
MIRROR_SEND_BUS_US = (spi_transfer_us(frame_octets(TRACK_WIN, TRACK_WIN), SPI_FPGA_HZ)
                      + spi_transfer_us(SAMPLE_OCTETS, SPI_FSM_DAC_HZ))  # 55 µs
BOARD_SEND_US = int(round(BOARD_SEND_INSTR / MIPS)) + MIRROR_SEND_BUS_US  # 1 066 µs (1 280 at stop 62)
# The send every APT mirror command waits in the honest world (ACQUIRE, TRACK, a held
# code; other tasks' commands leave at their dispatch: none in a pass but a mode change's
# park): the board's, a delay of the loop the board has and virtual time, standing still
# inside a task, does not (hal/sim/finetruth.py ``mirror_send_us``).  The flight's lead
# and mirror delay are tuned on it (flight/apt_control.py; docs/apt-loop.md §4 "The
# board's send"); `python -m sim --tick-send US` flies another board.
MIRROR_SEND_US = BOARD_SEND_US


def mirror_send_us(sched, send_us=MIRROR_SEND_US):
    """The world's ``mirror_send_us`` for a command given now: the APT tick's compute up
    to its mirror command (``send_us``, by default the declared) while the scheduler runs
    the APT, else 0."""
    t = sched.current if sched is not None else None
    return send_us if t is not None and t.name == "apt" else 0


def send_after_compute(world, current_app, send_us=None):
    """The honest world's mirror: each command leaves after the APT tick's compute up to
    it (:func:`mirror_send_us`; the flight's delays assume it).  ``current_app()``: the
    flight app running now (a new one after every reboot); ``send_us``: another board's
    compute (``python -m sim --tick-send``), None the declared."""
    us = MIRROR_SEND_US if send_us is None else send_us
    world.mirror_send_us = lambda: mirror_send_us(current_app().sched, us)


_MASK = TICKS_PERIOD - 1  # the virtual clock's ticks wrap with hal.compat's period


def task_cost_us(name, table=None, mips=MIPS):
    """Declared cost of one dispatch of task ``name`` in µs."""
    instr = (table or TASK_INSTR).get(name, DEFAULT_INSTR)
    return int(round(instr / mips))


class CostModel:
    """A ``cpu_now_us`` for the virtual clock that counts declared task cost.

    The scheduler reads ``cpu_now_us`` twice per dispatch, both times with
    ``sched.current`` set to the task: the second read of the same task adds its cost.
    ``clock._burnt`` (busy time a model charges with ``clock.advance`` inside a task) is
    added as the host-measuring base does.
    """

    def __init__(self, clock, table=None, mips=MIPS):
        self.clock = clock
        self.table = dict(TASK_INSTR if table is None else table)
        self.mips = float(mips)
        self.sched = None
        self._params = None
        self._app = None
        self.count_us = 0
        self._open = None
        self._cost = {}

    def attach(self, app):
        """Follow the scheduler of ``app`` (a new FlightApp after every reboot)."""
        self.sched = app.sched
        self._params = app.params
        self._app = app
        self._open = None

    def _task_key(self, name):
        """The cost-table entry of a dispatch: the APT costs what its control law costs in
        the states the law runs in (ACQUIRE, TRACK).  Charging the predictor's TRACK cost
        on IDLE/SEARCH ticks too moved every task after it by ~0.9 ms from boot on, and
        with it the session start's knee sweep by one 100 ms mode tick: seed 3's
        over-voltage error read 20.46 mV instead of 19.53 (docs/apt-loop.md §4)."""
        if name == "apt" and self._params is not None and self._params["apt_law"] == 1:
            pl = getattr(self._app, "payload", None)
            apt = pl.get("apt") if pl else None
            if apt is None or apt.state in (APT_ACQUIRE, APT_TRACK):
                return "apt_predict"
        return name

    def cost_us(self, name):
        c = self._cost.get(name)
        if c is None:
            c = task_cost_us(name, self.table, self.mips)
            self._cost[name] = c
        return c

    def cpu_now_us(self):
        s = self.sched
        t = s.current if s is not None else None
        if t is not None:
            if self._open is t:
                self.count_us += self.cost_us(self._task_key(t.name))
                self._open = None
            else:
                self._open = t
        return (self.count_us + self.clock._burnt) & _MASK

    def describe(self):
        """The table as reported in the metrics document."""
        return {"mips": self.mips,
                "task_us": {k: self.cost_us(k) for k in sorted(self.table)}}
