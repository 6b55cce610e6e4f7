"""Hardware abstraction layer: the interfaces flight code programs against.

Duck-typed: the classes below document the contract and raise ``NotImplementedError``;
a backend (``hal/real`` drivers over ``machine``, ``hal/sim`` models over ``sim/``) may
subclass them or merely provide the same methods and attributes. Flight code never
checks ``isinstance``; it calls the methods and catches :class:`hal.errors.HalError`.

Conventions for every interface
-------------------------------
* Units are in the names: ``_us`` microseconds, ``_ms`` milliseconds, ``_c`` degrees
  Celsius, ``_v`` volts, ``_ma`` milliamperes. Raw converter values are "codes" (ints).
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


class Device:
    """Common to every device interface.

    Attributes:
        name (str): short identifier for events and telemetry, e.g. ``"tmp117@0x48"``.
    """

    name = "device"

    def init(self):
        # type: () -> None
        """(Re)initialise after power-up: check identity, write the configuration, leave
        the device in its safe state. Raises BusError, SensorError (ID mismatch /
        configuration does not read back), DeviceFault."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# Camera (APT wide-field camera, 671 nm beacon) -- DESIGN 3.3
# --------------------------------------------------------------------------------------

#: Indices of the ``meta`` array filled by :meth:`Camera.read_roi`.
META_FRAME_COUNTER = 0  # frame counter of the frame read, 0..65535, +1 per sensor frame
META_EXPOSURE_US = 1  # exposure that frame was taken with, us
META_GAIN_X16 = 2  # analog gain that frame was taken with, x16 (16 = gain 1.0)
META_LEN = 3

#: Allowed binning factors (square b x b blocks, pixel value = mean of the block).
BINNINGS = (1, 2, 4, 8, 16)


class Camera(Device):
    """Beacon camera seen through the FSM; the camera keeps the latest complete frame and
    serves any window of it, optionally binned.

    Attributes (backends set them; values shown are the reference sensor, onsemi
    PYTHON 1300 behind the payload FPGA, ~100 urad/px, 100 Hz):
        width, height (int): sensor size in pixels, 1280 x 1024.
        pixel_max (int): full-scale pixel value, 1023 (10-bit).
        exposure_min_us, exposure_max_us (int): 10 .. 9000.
        gain_min, gain_max (float): analog gain range, 1.0 .. 8.0.
        max_window_px (int): most pixels one :meth:`read_roi` may return, 32768.
        frame_period_us (int): sensor frame period, 10000.
    """

    width = 1280
    height = 1024
    pixel_max = 1023
    exposure_min_us = 10
    exposure_max_us = 9000
    gain_min = 1.0
    gain_max = 8.0
    max_window_px = 32768
    frame_period_us = 10000

    def set_exposure(self, us):
        # type: (int) -> int
        """Set the exposure time, ``exposure_min_us <= us <= exposure_max_us``; takes
        effect on a following frame (see ``meta`` of :meth:`read_roi`). Returns the
        exposure actually applied (us). Raises ValueError, BusError."""
        raise NotImplementedError

    def set_gain(self, gain):
        # type: (float) -> float
        """Set the analog gain, ``gain_min <= gain <= gain_max`` (quantised to 1/16).
        Returns the gain applied. Raises ValueError, BusError."""
        raise NotImplementedError

    def frame_ready(self):
        # type: () -> bool
        """**hot** True when a frame newer than the last one returned by :meth:`read_roi`
        is complete. Raises BusError, DeviceFault (sensor stopped / stream error)."""
        raise NotImplementedError

    def read_roi(self, x0, y0, w, h, binning, buf, meta):
        # type: (int, int, int, int, int, AnyWritableBuf, Any) -> bool
        """**hot** Copy a window of the latest complete frame into ``buf``.

        Args:
            x0, y0: top-left corner in *sensor* pixels, ``>= 0``.
            w, h: window size in *output* (binned) pixels, ``>= 1``; the window covers
                sensor pixels ``x0 .. x0 + w*binning - 1`` (``<= width - 1``), same in y;
                ``w*h <= max_window_px``.
            binning: one of :data:`BINNINGS`; an output pixel is the mean of its
                ``binning x binning`` block (so its scale stays ``0..pixel_max``).
            buf: caller-owned ``array('H')`` with ``len >= w*h`` (pixels row-major,
                ``buf[r*w + c]``), or a ``bytearray`` with ``len >= 2*w*h`` receiving the
                same pixels as little-endian 16-bit words.
            meta: caller-owned list or ``array('i')`` with ``len >= META_LEN``; receives
                frame counter, exposure (us) and gain (x16) of *that* frame.

        Returns:
            True if the pixels are valid; False if the camera flagged the frame as bad
            (dropped line, stream error) -- ``buf`` is then undefined, ``meta`` is filled.
            A frame that is not new is still returned (same frame counter): use
            :meth:`frame_ready` or compare counters to detect drop-outs.

        Raises ValueError (window/binning/buffer), BusError, DeviceFault.
        """
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# Fast steering mirror -- DESIGN 3.3, 5 (+-2 deg optical)
# --------------------------------------------------------------------------------------

FSM_CODE_MIN = -32768
FSM_CODE_MAX = 32767
#: Optical deflection at full-scale code (degrees; code 32767 ~ +2.0 deg, linear).
FSM_RANGE_DEG = 2.0
#: Optical angle of one code, radians (~1.065 urad).
FSM_LSB_RAD = FSM_RANGE_DEG * 3.141592653589793 / 180.0 / (FSM_CODE_MAX + 1)


class Fsm(Device):
    """Two-axis fast steering mirror (MEMS mirror with high-voltage driver).

    Command unit: signed 16-bit code per axis, ``FSM_CODE_MIN..FSM_CODE_MAX``, linear in
    optical angle, full scale = ``FSM_RANGE_DEG`` degrees optical. Code 0 is the rest
    position. After :meth:`init` the high voltage is off and the codes are 0.
    """

    def enable(self, on):
        # type: (bool) -> None
        """Switch the mirror high voltage. Turning off first commands (0, 0), then drops
        the high voltage (even if that command fails); turning on raises the high voltage
        and the mirror goes to the current codes. Raises BusError, DeviceFault (driver
        reports a fault: not enabled)."""
        raise NotImplementedError

    def is_enabled(self):
        # type: () -> bool
        """True while the high voltage is commanded on."""
        raise NotImplementedError

    def set_codes(self, cx, cy):
        # type: (int, int) -> None
        """**hot** Command both axes at once (both take effect together). Codes are
        accepted while disabled (the outputs move, the mirror does not). Raises
        ValueError (code out of range), BusError."""
        raise NotImplementedError

    def fault(self):
        # type: () -> bool
        """**hot** True while the driver reports a fault (high voltage out of regulation
        / over-current). Flight parks and disables the mirror on a persistent fault."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# Temperature -- DESIGN 3.4 (two sensors on the SiPM board for redundancy)
# --------------------------------------------------------------------------------------


class TempSensor(Device):
    """One temperature sensor.

    Attributes:
        t_min_c, t_max_c (float): plausible range; readings outside raise SensorError.
    """

    t_min_c = -55.0
    t_max_c = 125.0

    def read_c(self):
        # type: () -> float
        """Latest conversion in degrees Celsius (resolution of the part, 7.8 mK for the
        reference TMP117). Raises BusError, SensorError (no conversion yet, outside
        ``t_min_c..t_max_c``). Staleness ("stuck") is judged by flight code."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# SiPM bias: DAC + read-back monitor -- DESIGN 3.4, paper App. A
# --------------------------------------------------------------------------------------


class BiasSupply(Device):
    """Programmable SiPM bias supply with a read-back monitor.

    ``V_bias = v_offset + code * v_per_code`` (board calibration). ``v_min..v_max`` are the
    hardware-safe limits: any command outside them raises ValueError. After :meth:`init`
    the output is at the code nearest ``v_min`` (below breakdown).

    Attributes:
        code_max (int): DAC full scale (65535 for a 16-bit DAC).
        v_per_code, v_offset (float): calibration.
        v_min, v_max (float): safe limits, volts.
    """

    code_max = 65535
    v_per_code = 0.0
    v_offset = 0.0
    v_min = 0.0
    v_max = 0.0

    def set_code(self, code):
        # type: (int) -> None
        """Write the raw DAC code, ``0..code_max`` and within the voltage limits.
        Raises ValueError, BusError."""
        raise NotImplementedError

    def set_volts(self, v):
        # type: (float) -> float
        """Set the bias in volts, ``v_min <= v <= v_max``; rounds to the nearest code.
        Returns the voltage actually commanded. Raises ValueError, BusError."""
        raise NotImplementedError

    def code(self):
        # type: () -> int
        """Last code written (the code nearest ``v_min`` before any write)."""
        raise NotImplementedError

    def read_back_v(self):
        # type: () -> float
        """Bias measured by the monitor ADC, volts. Raises BusError, SensorError
        (ADC over range). Comparing with the command is flight code's job."""
        raise NotImplementedError

    def limits(self):
        # type: () -> Tuple[float, float]
        """``(v_min, v_max)``."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# Comparator threshold DAC -- DESIGN 3.5, paper App. A Fig. A1
# --------------------------------------------------------------------------------------


class ComparatorDac(Device):
    """DAC setting the threshold of the comparator that turns SiPM avalanches into bits.

    Attributes:
        code_max (int): 4095 (12-bit).
        volts_per_code (float): threshold step, 0.5 mV for the reference MCP4822.
    """

    code_max = 4095
    volts_per_code = 0.0005

    def set_code(self, code):
        # type: (int) -> None
        """**hot** Set the threshold, ``0..code_max``. Raises ValueError, BusError."""
        raise NotImplementedError

    def code(self):
        # type: () -> int
        """Last code written (the initial code after :meth:`init`)."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# Framer (FPGA, 50 Mbit/s Manchester packets) -- DESIGN 3.6, paper 2.5
# --------------------------------------------------------------------------------------

MODE_DATA = 0  # normal packets
MODE_PRBS = 1  # test pattern: PRBS payload, bit errors counted on it
MODE_LOOPBACK = 2  # TX looped back to RX inside the FPGA (self-test)
FRAMER_MODES = (MODE_DATA, MODE_PRBS, MODE_LOOPBACK)
FRAMER_MODE_NAMES = ("DATA", "PRBS", "LOOPBACK")  # indexed by MODE_*

#: Indices of the counter block filled by :meth:`Framer.read_counters`. Entries 0..6 and
#: 9 are monotonic counters modulo 2**COUNTER_BITS (use :func:`counter_delta`); entry 7
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
N_COUNTERS = 10
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
# UART link to the OBC -- DESIGN 3.7
# --------------------------------------------------------------------------------------


class BusLink(Device):
    """Byte stream to the satellite bus (OBC). Both directions are non-blocking; framing
    (COBS) is flight code's."""

    def read_into(self, buf):
        # type: (AnyWritableBuf) -> int
        """**hot** Move the bytes received so far (at most ``len(buf)``) into ``buf``;
        return how many (0 if none). Never waits. Raises BusError (UART error)."""
        raise NotImplementedError

    def write(self, data):
        # type: (AnyReadableBuf) -> int
        """Queue bytes for sending; return how many were accepted (``0..len(data)``,
        fewer when the transmit buffer is full: the caller re-offers the rest).
        Never waits. Raises BusError."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# Non-volatile storage -- DESIGN 3.7 (parameters, anti-replay counter, event log)
# --------------------------------------------------------------------------------------


class Storage(Device):
    """Named blobs on non-volatile memory.

    Names: 1..32 characters from ``A-Z a-z 0-9 _ - .``, not starting with ``.``
    (otherwise ValueError). A single ``write`` replaces the blob and never leaves a
    half-written blob under ``name`` on the real backend (temp file + rename), but a
    power loss may leave the *old* content or, on FAT, no blob at all: durable data uses
    two slots with generation counter and CRC (flight code's job).

    Attributes:
        max_blob (int): largest blob accepted, bytes.
    """

    max_blob = 65536

    def read(self, name):
        # type: (str) -> Optional[bytes]
        """The blob's bytes, or None if it does not exist. Raises ValueError (name),
        StorageError."""
        raise NotImplementedError

    def write(self, name, data):
        # type: (str, AnyReadableBuf) -> None
        """Create or replace a blob (``len(data) <= max_blob``). Raises ValueError,
        StorageError."""
        raise NotImplementedError

    def exists(self, name):
        # type: (str) -> bool
        """True if the blob exists. Raises ValueError, StorageError."""
        raise NotImplementedError

    def delete(self, name):
        # type: (str) -> None
        """Remove the blob; no error if it does not exist. Raises ValueError,
        StorageError."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# Watchdog -- DESIGN 3.1
# --------------------------------------------------------------------------------------

RESET_POWER_ON = 0
RESET_WATCHDOG = 1
RESET_SOFT = 2
RESET_HARD = 3  # reset pin / brown-out
RESET_OTHER = 4


class Watchdog(Device):
    """Hardware watchdog. Once started it cannot be stopped; if not fed within the
    timeout the payload computer resets.

    Attributes:
        timeout_min_ms, timeout_max_ms (int): accepted range for :meth:`start`.
    """

    timeout_min_ms = 1
    timeout_max_ms = 32000

    def start(self, timeout_ms):
        # type: (int) -> None
        """Start the watchdog. A second call with the same timeout does nothing; with a
        different one raises ValueError (hardware cannot be re-armed). Raises
        ValueError (range), DeviceFault."""
        raise NotImplementedError

    def feed(self):
        # type: () -> None
        """**hot** Restart the timeout. No effect before :meth:`start`."""
        raise NotImplementedError

    def reset_cause(self):
        # type: () -> int
        """Why the computer last reset: one of the ``RESET_*`` constants."""
        raise NotImplementedError


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


class Power(Device):
    """Load switches with current monitors. Switches are ``SW_*`` indices
    ``0..N_SWITCHES-1`` (otherwise ValueError). After :meth:`init` every switch is off.
    """

    def set(self, switch, on):
        # type: (int, bool) -> None
        """Switch a load on or off. Raises ValueError, BusError."""
        raise NotImplementedError

    def get(self, switch):
        # type: (int) -> bool
        """The commanded state of a switch. Raises ValueError."""
        raise NotImplementedError

    def currents(self, buf):
        # type: (Any) -> None
        """**hot** Fill ``buf[i]`` (list or ``array('i')``, ``len >= N_SWITCHES``) with
        the current drawn through switch ``i``, integer mA. On exception ``buf`` is
        left unchanged. Raises BusError, SensorError (monitor identity)."""
        raise NotImplementedError

    def fault(self, switch):
        # type: (int) -> bool
        """**hot** True while the switch reports a trip (current limit / thermal
        shutdown). Raises ValueError."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# States of the payload control modules, as numbered in telemetry -- DESIGN 3.3-3.6
# (flight/apt.py, bias.py, comparator.py, framer_ctl.py run them; the simulator's truth
# recorder and figures read them without importing flight/)
# --------------------------------------------------------------------------------------

APT_IDLE = 0  # no session
APT_SEARCH = 1  # binned full frame, strip by strip
APT_ACQUIRE = 2  # 32 px window following the spot
APT_TRACK = 3  # 16 px window on the boresight: the downlink laser may be on
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
    ):
        # type: (Any, Any, Optional[List[Any]], Any, Any, Any, Any, Any, Any, Any, Any, str) -> None
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
