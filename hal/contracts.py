"""The device contracts of the HAL: one documented class per device (methods, units,
errors, what is **hot**), split out of :mod:`hal.interfaces` so that module stays a short
page of hardware numbers. Import them from :mod:`hal.interfaces`, which re-exports every
class here; this module holds no number (the ``SW_*``, ``CTR_*``, ``RESET_*``, ``META_*``,
``FSM_*`` constants its docstrings name live in :mod:`hal.interfaces`), so it imports
nothing from it and there is no import cycle.

The conventions every contract follows are in the :mod:`hal.interfaces` docstring.
Everything here imports under MicroPython.
"""

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover - type checking only
    from typing import Any, List, Optional, Tuple  # noqa: F401

    from _mpy_shed import AnyReadableBuf, AnyWritableBuf  # noqa: F401



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
        frame_period_us (int): sensor frame period, 10000 the sensor's reference (DESIGN
            §5); the backends declare the period they run it at, the board's
            (hal.interfaces.CAMERA_FRAME_PERIOD_US).  The APT ticks once a frame
            (hal.interfaces.check_frame_period says which periods a backend may declare;
            exposure_max_us is the period less CAMERA_EXPOSURE_GAP_US,
            hal.interfaces.camera_exposure_max).
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
                frame counter, exposure (us) and gain (x16) of *that* frame, and its age
                at the read (us from its completion to the read's latch, on the camera's
                own clock, saturating at 65535: :data:`META_FRAME_AGE_US`).

        Returns:
            True if the pixels are valid; False if the camera flagged the frame as bad
            (dropped line, stream error) -- ``buf`` is then undefined, ``meta`` is filled.
            A frame that is not new is still returned (same frame counter): use
            :meth:`frame_ready` or compare counters to detect drop-outs.

        Raises ValueError (window/binning/buffer), BusError, DeviceFault.
        """
        raise NotImplementedError


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

    def play_wave(self, xs, ys, n):
        # type: (Any, Any, int) -> None
        """**hot** Play a waveform: sample 0 of ``xs``/``ys`` (codes, ``array('h')``)
        at once, sample ``i`` at ``i * FSM_WAVE_PERIOD_US`` later, then hold the last one
        (both axes together, as :meth:`set_codes`). Replaces a waveform still playing;
        :meth:`set_codes` stops one. The driver may read the buffers until the next
        ``play_wave``/``set_codes`` call returns (flight alternates two pairs).
        ``1 <= n <= FSM_WAVE_MAX``. Raises ValueError (a code out of range, ``n``),
        BusError.  Buffers registered with :meth:`register_wave_buffers` skip the
        per-sample check (their storage cannot hold a code out of range)."""
        raise NotImplementedError

    def register_wave_buffers(self, x0, y0, x1, y1):
        # type: (Any, Any, Any, Any) -> None
        """The two pairs of buffers the caller will play (flight: the predictor's,
        once at start-up): storage that holds only valid codes (``array('h')``) is
        trusted, and :meth:`play_wave` with one of these pairs checks only ``n``
        (``hal.interfaces.WaveBuffers``).  ValueError when a buffer could hold a code
        out of range (nothing trusted: every waveform keeps the per-sample check)."""
        raise NotImplementedError

    def fault(self):
        # type: () -> bool
        """**hot** True while the driver reports a fault (high voltage out of regulation
        / over-current). Flight parks and disables the mirror on a persistent fault."""
        raise NotImplementedError

    def wave_errors(self):
        # type: () -> int
        """Waveform samples the driver could not write by itself since start-up (the
        board's timer, which cannot raise: a bus error there is only counted). Never
        decreases."""
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

    def read_q(self):
        # type: () -> int
        """**hot** The same conversion as an integer in 1/``TEMP_Q`` degC
        (:data:`hal.interfaces.TEMP_Q`, 4096: the reference TMP117's 1/128 K steps are
        exact in it), truncated toward zero like ``int(read_c() * TEMP_Q)``: no float is
        made (the bias update reads two sensors every 500 ms, issue 11). Same errors and
        range as :meth:`read_c`."""
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

    def set_uv(self, uv):
        # type: (int) -> int
        """**hot** :meth:`set_volts` in integer microvolts (``v_min..v_max`` in µV, small
        ints below 2**30): returns the microvolts actually commanded, within 2 µV of
        ``v_offset + code * v_per_code``. No float is made (the 500 ms bias update)."""
        raise NotImplementedError

    def read_back_uv(self):
        # type: () -> int
        """**hot** :meth:`read_back_v` in integer microvolts, within 2 µV; no float made.
        Same errors."""
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

    def trips(self):
        # type: () -> int
        """**hot** The switches that are on and report a trip, as a bit mask (bit ``i``:
        switch ``i``; 0: none).  One call for the health task's look at every switch ten
        times a second (flight/limits.py): a ``get`` and a ``fault`` a switch were ~30 k
        instructions a check on the target bench."""
        raise NotImplementedError
