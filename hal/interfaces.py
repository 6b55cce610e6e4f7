"""Hardware abstraction layer: the interfaces flight code programs against.

Duck-typed: the classes (Framer and Board here, the other devices in :mod:`hal.contracts`,
re-exported from here) document the contract and raise ``NotImplementedError``; a backend
(``hal/real`` drivers over ``machine``, ``hal/sim`` models over ``sim/``) may subclass them
or merely provide the same methods and attributes. Flight code never checks ``isinstance``;
it calls the methods and catches :class:`hal.errors.HalError`.

Conventions for every interface
-------------------------------
* Units are in the names: ``_us`` microseconds, ``_ms`` milliseconds, ``_c`` degrees
  Celsius, ``_v`` volts, ``_ma`` milliamperes; integer twins of hot float readings:
  ``_uv`` microvolts, ``_q`` 1/:data:`TEMP_Q` degC. Raw converter values are "codes" (ints).
* Failures of the hardware raise a :mod:`hal.errors` class, documented per method:
  ``BusError`` (transfer failed), ``SensorError`` (implausible value / identity),
  ``DeviceFault`` (device reports a fault), ``StorageError`` (file system).
* Arguments outside the documented range raise ``ValueError``: that is a flight-code bug,
  not a hardware event (flight clamps its commands first).
* Methods marked **hot** run in the 100 Hz APT tick or a 10-50 Hz task: in steady state
  they allocate nothing on the heap -- they fill caller-provided buffers, take and return
  small ints only (values below 2**30, MicroPython's small-int range) and never build
  tuples, floats or slices. A backend must keep that promise.
* ``init()`` brings a device from power-up (or after its power switch was cycled) to its
  safe configured state and checks its identity; it may allocate and may be slow.
* Nothing here blocks longer than one bus transfer: no method waits for an event.

Time: the clock is not in this file. It is owned by ``hal/clock.py``
(``now_us()`` monotonic microseconds, ``sleep_until(t_us)``); the real clock sleeps, the
simulated one jumps and steps the physics.

Everything in this module imports under MicroPython (no ``machine``, no ``typing`` at run
time; type hints are comments checked by mypy with the MicroPython stubs).
"""

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover - type checking only
    from typing import Any, List, Optional, Tuple  # noqa: F401

    from _mpy_shed import AnyReadableBuf, AnyWritableBuf  # noqa: F401

# The long, docstring-heavy device contracts live in hal/contracts.py (it holds no number,
# so it does not import this module); re-exported here so ``from hal.interfaces import
# Camera`` keeps working and this file stays the one page of hardware numbers.
from hal.contracts import (  # noqa: F401  (re-exported)
    BiasSupply,
    BusLink,
    Camera,
    ComparatorDac,
    Device,
    Fsm,
    Power,
    Storage,
    TempSensor,
    Watchdog,
)


# --------------------------------------------------------------------------------------
# Wrapping counters (framer) -- see Framer.read_counters
# --------------------------------------------------------------------------------------

#: Hardware counters are reported modulo 2**30 (the FPGA counts in 32 bits; the HAL
#: keeps the low 30 so every value is a MicroPython small int and reading them allocates
#: nothing). Differences taken with :func:`counter_delta` are exact while fewer than
#: 2**30 events happen between two reads (at 50 Mbit/s: read at least every 21 s).
COUNTER_BITS = 30
COUNTER_MASK = (1 << 30) - 1


def counter_delta(new, old):
    # type: (int, int) -> int
    """Events between two readings of a wrapping counter (``new`` taken after ``old``)."""
    return (new - old) & COUNTER_MASK


#: Temperatures as integers (TempSensor.read_q): 1/TEMP_Q degC.  4096: the reference
#: TMP117's 7.8125 mK LSB is 32 of them (exact), and it is the bias law's fixed point.
TEMP_Q = 4096


# --------------------------------------------------------------------------------------
# Camera (APT wide-field camera, 671 nm beacon) -- DESIGN 3.3
# --------------------------------------------------------------------------------------

#: Indices of the ``meta`` array filled by :meth:`Camera.read_roi`.
META_FRAME_COUNTER = 0  # frame counter of the frame read, 0..65535, +1 per sensor frame
META_EXPOSURE_US = 1  # exposure that frame was taken with, us
META_GAIN_X16 = 2  # analog gain that frame was taken with, x16 (16 = gain 1.0)
# us from the frame's completion to the read's latch, 0..65535 (saturating), counted by the
# camera's own clock: the APT keeps its ticks at the frames with it (flight/apt_phase.py)
META_FRAME_AGE_US = 3
META_LEN = 4

#: Allowed binning factors (square b x b blocks, pixel value = mean of the block).
BINNINGS = (1, 2, 4, 8, 16)

#: Frame timing (``Camera.frame_period_us``, ``exposure_max_us``): one APT tick a frame,
#: so the period is whole mirror-waveform samples, 2 .. FSM_WAVE_MAX of them
#: (flight/apt_predict.py).  The longest exposure is the period less the sensor's gap
#: (its 10 ms reference frame: 9 ms, hal/contracts.py Camera); a faster ROI rate costs
#: the APT tick once more per frame (docs/apt-loop.md §5 "A faster camera").
CAMERA_EXPOSURE_GAP_US = 1000
#: The EXPOSURE_US register's range end, the sensor's longest exposure at its 10 ms
#: reference frame (hal/real/camera.py); a shorter frame caps it at the period less the gap.
CAMERA_EXPOSURE_LIMIT_US = 9000
#: The shortest frame the sensor delivers: onsemi PYTHON 1300, 4 LVDS lanes, zero row
#: overhead, 210 frames/s at its full 1280 x 1024 (datasheet NOIP1SN1300A/D, "Features"),
#: so a binned full frame for SEARCH is as fast as a window.  4762 us; whole waveform
#: samples make 5 ms the shortest period a board may configure.
CAMERA_FRAME_PERIOD_MIN_US = 4762
#: The frame period the payload configures (the board's ``camera.frame_period_us``, the
#: FRAME_PERIOD_US register, hal/real/camera.py; the simulated world's default,
#: hal/sim/world.py): 6 ms, 167 frames/s (7 ms from stop 44, 6 ms since stop 63).  Why not
#: the sensor's 10 ms reference (DESIGN §5): the predictor's horizon is a frame, and the
#: 5-20 Hz jitter left 4.6 µrad of aim error at 10 ms, ~4.0 at 7 ms, ~3.7 at 6 ms against
#: issue 14's 4 µrad bar; 6 ms fits the 0.30 CPU budget of DESIGN §3.1 with the board's
#: timer, drivers and buses counted once TRACK's window is 8 px and its read needs no
#: STATUS (docs/apt-loop.md §5 "6 ms frames (stop 63)"; "The sensor at 7 ms" before).
CAMERA_FRAME_PERIOD_US = 6000


# --------------------------------------------------------------------------------------
# Fast steering mirror -- DESIGN 3.3, 5 (+-2 deg optical)
# --------------------------------------------------------------------------------------

FSM_CODE_MIN = -32768
FSM_CODE_MAX = 32767
#: Optical deflection at full-scale code (degrees; code 32767 ~ +2.0 deg, linear).
FSM_RANGE_DEG = 2.0
#: Optical angle of one code, radians (~1.065 urad).
FSM_LSB_RAD = FSM_RANGE_DEG * 3.141592653589793 / 180.0 / (FSM_CODE_MAX + 1)
#: Mirror waveform (:meth:`Fsm.play_wave`): the driver outputs one sample per period by
#: itself (on the payload computer a timer-paced DAC write; DESIGN §3.3), so the mirror
#: can follow a predicted line of sight between camera frames without a task per sample.
#: 1 kHz: the held sample's error at the jitter's rate (~1 µrad/ms RMS) is ~0.3 µrad.
FSM_WAVE_PERIOD_US = 1000
#: Most samples one waveform may hold (the driver's sample buffer).
FSM_WAVE_MAX = 32
#: The reference unit's command latency (DAC write, driver input filter; assumed): what the
#: predictor's lead and delay defaults are set for (``apt_fsm_latency_us``, apt_predict.py).
FSM_LATENCY_US = 500


def check_frame_period(us):
    """The frame periods a camera backend may declare (``Camera.frame_period_us``): whole
    waveform samples, 2 .. FSM_WAVE_MAX of them (ValueError otherwise).  Returns ``us``."""
    if us % FSM_WAVE_PERIOD_US or not 2 <= us // FSM_WAVE_PERIOD_US <= FSM_WAVE_MAX:
        raise ValueError("camera frame period %r us: not 2 .. %d whole %d us waveform samples"
                         % (us, FSM_WAVE_MAX, FSM_WAVE_PERIOD_US))
    return us


def camera_exposure_max(period_us):
    """The longest exposure a frame of ``period_us`` leaves (``Camera.exposure_max_us``):
    the period less the gap between frames, at most the register's range end."""
    return min(CAMERA_EXPOSURE_LIMIT_US, period_us - CAMERA_EXPOSURE_GAP_US)


def check_wave(xs, ys, n, _lo=FSM_CODE_MIN, _hi=FSM_CODE_MAX, _nmax=FSM_WAVE_MAX,
               _min=min, _max=max, _len=len):
    """The checks every :meth:`Fsm.play_wave` backend makes before a sample plays: ``n``
    within the driver's buffer, every code of both axes in range (ValueError otherwise).
    Allocation-free: the APT calls it every frame under the predictor.  (The limits and
    builtins are bound as defaults: a global name is looked up in this module's dict,
    a builtin after a miss there, and on the board the dict's probes grew with every
    constant added here — 4 k instructions an APT tick for four more names at stop 44.)"""
    if not 1 <= n <= _nmax:
        raise ValueError("waveform length")
    if n == _len(xs) and n == _len(ys):
        # Whole buffers (the APT's): the builtins' C loops, iterating in place (no
        # allocation), cost half the bytecode loop below (Cortex-M7: 13.7 k instructions
        # a call, 24.7 k for the loop).
        if _min(xs) < _lo or _max(xs) > _hi or _min(ys) < _lo or _max(ys) > _hi:
            raise ValueError("FSM code out of range")
        return
    i = 0
    while i < n:
        if not (_lo <= xs[i] <= _hi and _lo <= ys[i] <= _hi):
            raise ValueError("FSM code out of range")
        i += 1


def holds_codes_only(buf):
    """True when ``buf`` cannot hold a value outside ``FSM_CODE_MIN .. FSM_CODE_MAX``: a
    value one past either end, stored in item 0, does not read back (an ``array('h')``,
    or narrower, wraps it in MicroPython and refuses it in CPython; a list or a wider
    array keeps it).  Item 0 is restored.  Called once a driver, at start-up (its probe
    tuple allocates; the check a frame, :meth:`WaveBuffers.check`, does not)."""
    if len(buf) < 1:
        return False
    v = buf[0]
    try:
        for probe in (FSM_CODE_MAX + 1, FSM_CODE_MIN - 1):
            try:
                buf[0] = probe
            except (OverflowError, TypeError, ValueError):
                continue  # refused: it cannot hold it
            if buf[0] == probe:
                return False
    finally:
        buf[0] = v
    return True


class WaveBuffers:
    """The waveform buffers a mirror driver trusts (``Fsm.register_wave_buffers``): two
    pairs whose storage holds only valid codes (:func:`holds_codes_only`; the codes'
    range is int16's), so ``play_wave`` with one of them checks ``n`` alone.  Any other
    buffers get :func:`check_wave`'s per-sample check.  Why: that check costs 12.2 k
    instructions a frame on the Cortex-M7 image, on the loop's path to the mirror
    (docs/apt-loop.md §4, "The mirror's range check"), and proves nothing about an int16
    buffer."""

    def __init__(self):
        self.x0 = self.y0 = self.x1 = self.y1 = None
        self.n = 0  # the samples a registered pair may play

    def register(self, x0, y0, x1, y1):
        """Trust these two pairs from now on; ValueError (and nothing trusted) when a
        buffer could hold a code out of range."""
        self.x0 = self.y0 = self.x1 = self.y1 = None
        self.n = 0
        for b in (x0, y0, x1, y1):
            if not holds_codes_only(b):
                raise ValueError("waveform buffer could hold codes out of range")
        self.n = min(len(x0), len(y0), len(x1), len(y1), FSM_WAVE_MAX)
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1

    def check(self, xs, ys, n):
        """:func:`check_wave`, or ``n`` alone for a registered pair.  Allocates nothing."""
        if (xs is self.x0 and ys is self.y0) or (xs is self.x1 and ys is self.y1):
            if not 1 <= n <= self.n:
                raise ValueError("waveform length")
            return
        check_wave(xs, ys, n)


# --------------------------------------------------------------------------------------
# Framer (FPGA, 50 Mbit/s Manchester packets) -- DESIGN 3.6, paper 2.5
# --------------------------------------------------------------------------------------

MODE_DATA = 0  # normal packets
MODE_PRBS = 1  # test pattern: PRBS payload, bit errors counted on it
MODE_LOOPBACK = 2  # TX looped back to RX inside the FPGA (self-test)
FRAMER_MODES = (MODE_DATA, MODE_PRBS, MODE_LOOPBACK)
FRAMER_MODE_NAMES = ("DATA", "PRBS", "LOOPBACK")  # indexed by MODE_*

#: Indices of the counter block filled by :meth:`Framer.read_counters`. Entries 0..6, 9
#: and 10 are monotonic counters modulo 2**COUNTER_BITS (use :func:`counter_delta`); entry 7
#: is a state (1 = receiver locked to the packet stream); entry 8 the snapshot index.
CTR_PACKETS_OK = 0  # packets with a good CRC
CTR_CRC_ERRORS = 1  # packets with a CRC-16 mismatch
CTR_SERIAL_GAPS = 2  # serial-number discontinuities (missed packets)
CTR_PREAMBLE_BIT_ERRORS = 3  # bit errors on the 64 known preamble bits of each packet
CTR_PRBS_BIT_ERRORS = 4  # bit errors on PRBS payload (MODE_PRBS / MODE_LOOPBACK)
CTR_PRBS_BITS = 5  # PRBS payload bits compared
CTR_SYNC_LOSSES = 6  # transitions locked -> not locked
CTR_LOCKED = 7  # 1 if locked at the snapshot, else 0
CTR_SNAPSHOT = 8  # snapshot index, 0..65535, +1 per snapshot: equal => stale
CTR_TRIGGERS = 9  # comparator output rising edges (noise triggers without signal)
# Manchester code violations (a bit's two chips equal, 00 or 11: one chip wrong) on the
# chips of packets while locked: ~2 x BER x 50 Mbit/s, 40x the statistics of the preamble
# bits (64 of 2616 per packet), so the comparator's dither sees a BER difference at high
# power (~1e-6) within seconds (DESIGN §3.5).
CTR_CODE_VIOLATIONS = 10
N_COUNTERS = 11
#: The FPGA samples the comparator output once per Manchester chip (50 Mbit/s, two
#: chips per bit: paper §2.5); CTR_TRIGGERS counts the samples that read high after a
#: low one, which below ~5 % occupancy is the number of samples above the level
#: (flight/bias_knee.py turns it into the noise RMS at the comparator).
CHIP_RATE_HZ = 100000000
#: Known preamble bits at the head of every packet (7 x 0x55 + 0xD5), the bits
#: CTR_PREAMBLE_BIT_ERRORS is counted on: BER = errors / (PREAMBLE_BITS x packets).
PREAMBLE_BITS = 64


class Framer(Device):
    """The FPGA framer: Manchester packets at 50 Mbit/s, counters latched atomically.

    After :meth:`init`: RX and TX disabled, ``MODE_DATA``. Counters are never cleared by
    software (monotonic, wrapping): rates come from differences of two snapshots.
    """

    MODE_DATA = MODE_DATA
    MODE_PRBS = MODE_PRBS
    MODE_LOOPBACK = MODE_LOOPBACK

    def enable_rx(self, on):
        # type: (bool) -> None
        """Enable/disable the uplink receiver. Raises BusError."""
        raise NotImplementedError

    def enable_tx(self, on):
        # type: (bool) -> None
        """Enable/disable the downlink transmitter (modulation of the 850 nm laser;
        the laser's power switch is :class:`Power`'s). Raises BusError."""
        raise NotImplementedError

    def set_mode(self, mode):
        # type: (int) -> None
        """One of :data:`FRAMER_MODES`. Raises ValueError, BusError."""
        raise NotImplementedError

    def read_counters(self, buf):
        # type: (Any) -> None
        """**hot** Latch all counters atomically and copy them into ``buf`` (a list or
        ``array('i')``/``array('l')`` with ``len >= N_COUNTERS``), laid out by the
        ``CTR_*`` indices. On any exception ``buf`` is left unchanged.
        Raises BusError (transfer failed / corrupt block), DeviceFault (FPGA reports a
        fault or its PLL unlocked)."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# Backup registers -- docs/security.md (anti-replay rollback detection)
# --------------------------------------------------------------------------------------

#: Words of :class:`BackupRegisters` every backend provides (indices 0..N_BACKUP_WORDS-1).
N_BACKUP_WORDS = 8


class BackupRegisters(Device):
    """A few 32-bit words kept in a place a reset and a restore of the flash file system
    do not bring back: on the payload computer the STM32H7 RTC backup registers
    (battery-backed, cleared only by a backup-domain reset or a tamper event), in the
    simulator a small file *beside* the state directory.

    Flight code mirrors monotonic generations there (flight/replay.py) so that a state
    directory rolled back to an older copy is recognised as lost state. The words are not
    secret and not authenticated: they only have to be *independent* of the flash.

    A backend whose words were lost (battery removed, file deleted) reads 0 everywhere:
    flight code stores a magic word to tell "never written" from "lost".
    """

    n_words = N_BACKUP_WORDS

    def read(self, i):
        # type: (int) -> int
        """Word ``i`` (0..n_words-1) as an unsigned 32-bit int. Raises ValueError (index),
        DeviceFault."""
        raise NotImplementedError

    def write(self, i, value):
        # type: (int, int) -> None
        """Set word ``i`` to ``value`` (0..2**32-1); durable when the call returns.
        Raises ValueError (index/value), DeviceFault."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# Watchdog -- DESIGN 3.1
# --------------------------------------------------------------------------------------

RESET_POWER_ON = 0
RESET_WATCHDOG = 1
RESET_SOFT = 2
RESET_HARD = 3  # reset pin / brown-out
RESET_OTHER = 4


# --------------------------------------------------------------------------------------
# The payload computer's SPI buses -- hal/real/board.py wires them; the firmware's board
# definition (board/stm32/VECTOR_PCU/mpconfigboard.h) gives their pins and clock tree
# --------------------------------------------------------------------------------------

#: The STM32H743's SPI1-3 kernel clock, Hz: pll1_q_ck (HSE 8 MHz / PLLM 4 x PLLN 400 /
#: PLLQ 4), the reset selection the stm32 port leaves.  The port divides it by a power of
#: two, 2 .. 256 (:func:`spi_rate_hz`): a rate that is not one of the quotients runs
#: slower than asked (the F405-era 21 MHz ran at 12.5 MHz, 10.5 at 6.25).
MCU_SPI_KERNEL_HZ = 200000000
#: SPI4/5's: rcc_pclk2, 100 MHz (HCLK 200 / APB2 2).
MCU_SPI45_KERNEL_HZ = 100000000
#: The buses' rates, each a quotient of its kernel clock (tests/test_board_definition.py).
SPI_FPGA_HZ = 25000000  # SPI1: the payload FPGA's camera and framer port, mode 0
SPI_BIAS_DAC_HZ = 12500000  # SPI2: DAC8551, mode 1 (its SCLK to 30 MHz)
SPI_FSM_DAC_HZ = 25000000  # SPI3: AD5664, mode 1 (its SCLK to 50 MHz), alone on its bus
SPI_COMPARATOR_DAC_HZ = 12500000  # SPI4: MCP4822, mode 0 (its SCK to 20 MHz), alone


def spi_rate_hz(asked, kernel_hz=MCU_SPI_KERNEL_HZ):
    """The SPI clock the stm32 port runs for ``asked`` Hz: the kernel clock over the
    smallest power-of-two divider, 2 .. 256, that does not exceed it
    (ports/stm32/spi.c ``spi_set_params``)."""
    div = 2
    while div < 256 and div * asked < kernel_hz:
        div *= 2
    return kernel_hz // div


def spi_transfer_us(octets, rate_hz):
    """The time ``octets`` take on an SPI bus at ``rate_hz``, µs (the clock alone: the
    blocking transfer holds the CPU at least that long)."""
    return octets * 8000000 // rate_hz


# --------------------------------------------------------------------------------------
# Power switches -- DESIGN 3.2 (safe power order), FDIR
# --------------------------------------------------------------------------------------

SW_LASER_850 = 0  # 850 nm downlink laser driver
SW_LASER_525 = 1  # 525 nm CW beacon laser
SW_CAMERA = 2  # beacon camera (sensor + its FPGA logic)
SW_SIPM_BIAS = 3  # SiPM bias generator
SW_FRAMER = 4  # framer FPGA / receiver front end
N_SWITCHES = 5
SWITCH_NAMES = ("laser850", "laser525", "camera", "sipm_bias", "framer")


# --------------------------------------------------------------------------------------
# States of the payload control modules, as numbered in telemetry -- DESIGN 3.3-3.6
# (flight/apt.py, bias.py, comparator.py, framer_ctl.py run them; the simulator's truth
# recorder and figures read them without importing flight/)
# --------------------------------------------------------------------------------------

APT_IDLE = 0  # no session
APT_SEARCH = 1  # binned full frame, strip by strip
APT_ACQUIRE = 2  # 32 px window following the spot
APT_TRACK = 3  # 8 px window on the boresight: the downlink laser may be on
APT_LOST = 4  # beacon gone, mirror held
APT_STATE_NAMES = ("IDLE", "SEARCH", "ACQUIRE", "TRACK", "LOST")

LINK_OFF = 0  # receiver disabled
LINK_SEARCHING = 1  # not locked, or no packets
LINK_LOCKED = 2
LINK_DEGRADED = 3  # locked, BER above the degraded threshold
LINK_STATE_NAMES = ("OFF", "SEARCHING", "LOCKED", "DEGRADED")

COMP_OFF = 0
COMP_NOISE_SWEEP = 1
COMP_WAIT_SIGNAL = 2
COMP_SWEEP = 3
COMP_TRACK = 4
COMP_STATE_NAMES = ("OFF", "NOISE_SWEEP", "WAIT_SIGNAL", "SWEEP", "TRACK")

# SiPM (onsemi MicroFC J-series, DESIGN 3.4): breakdown voltage at 25 degC of the part's
# spread (datasheet 24.2-24.7 V) and its temperature coefficient (21.5 mV/K, paper App. A).
SIPM_VBR25_MIN_V = 24.2
SIPM_VBR25_MAX_V = 24.7

BIAS_OFF = 0
BIAS_RAMP = 1
BIAS_ACTIVE = 2
BIAS_HOLD = 3
BIAS_FAULT = 4
BIAS_STATE_NAMES = ("OFF", "RAMP", "ACTIVE", "HOLD", "FAULT")


# --------------------------------------------------------------------------------------
# The set of devices a backend hands to the flight application
# --------------------------------------------------------------------------------------


class Board:
    """Container of one backend's devices (plain attributes, ``None`` when absent).

    Attributes:
        camera (Camera), fsm (Fsm), temps (list of TempSensor, primary first),
        bias (BiasSupply), comparator (ComparatorDac), framer (Framer), link (BusLink),
        storage (Storage), watchdog (Watchdog), power (Power),
        backup (BackupRegisters, None when the backend has none), rng (optional,
        set by a simulated board: ``rng(n)`` → n random octets; absent: ``os.urandom``),
        clock (the ``hal/clock.py`` object of this backend), name (str).
    """

    def __init__(
        self,
        camera=None,
        fsm=None,
        temps=None,
        bias=None,
        comparator=None,
        framer=None,
        link=None,
        storage=None,
        watchdog=None,
        power=None,
        clock=None,
        name="board",
        backup=None,
    ):
        # type: (Any, Any, Optional[List[Any]], Any, Any, Any, Any, Any, Any, Any, Any, str, Any) -> None
        self.camera = camera
        self.fsm = fsm
        self.temps = temps if temps is not None else []
        self.bias = bias
        self.comparator = comparator
        self.framer = framer
        self.link = link
        self.storage = storage
        self.watchdog = watchdog
        self.power = power
        self.clock = clock
        self.name = name
        self.backup = backup
        self.rng = None  # type: Any
