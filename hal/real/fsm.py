"""Fast steering mirror: 2-axis MEMS mirror (Mirrorcle-style, differential quad drive)
driven by an Analog Devices AD5664 (quad 16-bit DAC, SPI) and a high-voltage amplifier
with an enable input and a fault output.

AD5664 input shift register, 24 bits, MSB first, latched on SCLK falling edges (SPI
mode 1), framed by SYNC (low for exactly 24 bits):

    DB23..22  don't care (0)
    DB21..19  command  C2..C0:  000 write input register n
                                001 update DAC register n
                                010 write input register n, update all (software LDAC)
                                011 write and update DAC channel n
                                100 power down / up (DB5..4 mode, DB3..0 channels D..A)
                                101 reset (DB0 = 1: power-on reset)
                                110 LDAC register setup (DB3..0 channels D..A)
    DB18..16  address  A2..A0:  000 A, 001 B, 010 C, 011 D, 111 all
    DB15..0   data

Channels: A = X+, B = X-, C = Y+, D = Y- (the amplifier adds the bias; the mirror sees
the differences X+ - X-, Y+ - Y-). A signed command ``c`` in -32768..32767 becomes
``plus = c + 32768`` and ``minus = 65535 - plus``: code 0 -> 32768 / 32767 (rest),
full scale -> 65535 / 0. ``set_codes`` writes input registers A, B, C, then D with
"update all", so all four outputs change together (no transient single-ended pull).

Waveform (``play_wave``): sample 0 is written at once, the others by a timer callback
(``timer``: a ``machine.Timer``-like object, ``init(freq=, callback=)`` / ``deinit()``)
firing every ``FSM_WAVE_PERIOD_US``. The callback runs between bytecodes, so the DAC's SPI
bus must be its own: a transfer of another device on a shared bus could be cut by it.
Without a timer a waveform writes only its first sample (held, as ``set_codes``).

Sample ``i`` is due ``i`` periods after sample 0 was written, and the board's soft timer
fires on its millisecond tick, whose phase against sample 0 is anywhere in 0..1 ms (the
stm32 port's ``machine.Timer(-1)``: ``init`` arms it for the next tick). So the first
callback of a waveform reads the clock and writes the sample nearest its time from sample
0 (none if that is still sample 0), and each later callback, a tick later, the next
sample: every sample within half a period of its time, where counting callbacks alone
would play each up to a period early (half a period on average). One clock read a
waveform, not one a sample: the callbacks are the board's CPU (docs/firmware.md §4 "The
mirror's timer"). The simulator's world plays the samples the same way
(hal/sim/finetruth.py ``fsm_wave``).
"""

from array import array

from hal.compat import ticks_diff, ticks_us
from hal.errors import DeviceFault
from hal.interfaces import FSM_CODE_MAX, FSM_CODE_MIN, FSM_WAVE_PERIOD_US, Fsm, WaveBuffers
from hal.real._util import bus_error, const

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional  # noqa: F401

    from machine import SPI, Pin  # noqa: F401

CMD_WRITE_INPUT = const(0x0)
CMD_WRITE_INPUT_UPDATE_ALL = const(0x2)
CMD_POWER = const(0x4)
CMD_RESET = const(0x5)
CMD_LDAC_SETUP = const(0x6)
ADDR_A = const(0)
ADDR_B = const(1)
ADDR_C = const(2)
ADDR_D = const(3)
SAMPLE_OCTETS = const(12)  # a sample on the bus: four 24-bit DAC frames, one a channel
_HALF_PERIOD_US = FSM_WAVE_PERIOD_US // 2  # sample i is the nearest from (i - 1/2) periods on
# The waveform's state the timer callback reads and writes (``Ad5664Fsm._ws``, an
# array('i'): the viper callback reads it by a pointer, not three attribute lookups).
# Literals in hal/real/fsm_viper.py.
_WS_N = const(0)  # samples of the waveform playing (0: none)
_WS_I = const(1)  # the sample last written
_WS_FIRST = const(2)  # 1: the waveform's first callback is still to come (it reads the clock)
_IO_WX = const(7)  # ``_io``'s items: the waveform playing (x, y; 6: the frame buffer)
_IO_WY = const(8)


def dac_octets_py(buf, cx, cy):
    """The four DAC frames' data octets of codes ``cx``, ``cy`` into ``buf`` (the
    driver's 12-octet frame buffer; its command octets 0, 3, 6, 9 untouched): channel
    A = X+ = ``cx + 32768``, B = X- its complement, C = Y+, D = Y-, big-endian.  The
    plain-Python twin of hal/real/fsm_viper.py ``dac_octets``."""
    p = cx + 32768
    hi = p >> 8
    lo = p & 0xFF
    buf[1] = hi
    buf[2] = lo
    buf[4] = hi ^ 0xFF
    buf[5] = lo ^ 0xFF
    p = cy + 32768
    hi = p >> 8
    lo = p & 0xFF
    buf[7] = hi
    buf[8] = lo
    buf[10] = hi ^ 0xFF
    buf[11] = lo ^ 0xFF


def wave_sample_py(self, _timer):
    # type: (Any, Any) -> None
    """The driver's timer callback (``Ad5664Fsm._next``): the waveform's first callback
    the sample nearest its time from sample 0 (none while that is sample 0), each later
    one the next sample (the module's docstring); the timer off once the last one is
    written or the waveform stopped.  ``_ws``: [samples of the waveform playing (0: none),
    the sample last written, 1 while the waveform's first callback is still to come].  A
    failed sample is counted in ``_wave_errors`` (a callback must not raise;
    :meth:`Ad5664Fsm.wave_errors`), SYNC left high by :meth:`Ad5664Fsm._write`.  The
    plain-Python twin of hal/real/fsm_viper.py ``wave_sample``, for ports without a native
    emitter (not the board): it writes by ``_write``, where the kernel writes the same
    frames inline."""
    ws = self._ws
    n = ws[_WS_N]
    i = ws[_WS_I]
    if i >= n - 1:  # stopped (set_codes, a new waveform arming) or the last one written
        self._timer.deinit()
        return
    if ws[_WS_FIRST]:
        ws[_WS_FIRST] = 0
        e = ticks_diff(self._clock_us(), self._t0) - _HALF_PERIOD_US
        if e < 0:
            return  # (sample 0 still the nearest: the tick came early in its period)
        i += 1
        while e >= FSM_WAVE_PERIOD_US and i < n - 1:  # (a late first callback)
            i += 1
            e -= FSM_WAVE_PERIOD_US
    else:
        i += 1
    ws[_WS_I] = i
    if i == n - 1:
        self._timer.deinit()  # (the last sample: it holds till the next frame's)
    try:
        self._write(self._wx[i], self._wy[i])
    except Exception:  # noqa: BLE001 - a callback must not raise: counted
        self._wave_errors += 1


# The viper kernels where the port compiles them (the board), else the twins: the VM's
# compiler refuses the decorator, CPython has no micropython.
try:
    from hal.real.fsm_viper import dac_octets as _octets
    from hal.real.fsm_viper import wave_sample as _wave_sample
except (ImportError, SyntaxError, ValueError):
    _octets = dac_octets_py
    _wave_sample = wave_sample_py


class Ad5664Fsm(Fsm):
    """:class:`hal.interfaces.Fsm` on an AD5664 + HV amplifier.

    Args:
        spi: ``machine.SPI`` in mode 1 (CPOL 0, CPHA 1), the DAC's own bus (the timer's
            callback may run between any two bytecodes of another driver's transfer).
        sync: AD5664 SYNC pin (output, idle high).
        hv_en: amplifier high-voltage enable (output, active high, low at reset).
        fault_pin: amplifier fault output (input, active low, open drain) or None.
        timer: the waveform's sample timer (``machine.Timer``-like) or None.
        clock_us: the microsecond clock the timer's first callback reads
            (``hal.compat.ticks_us``; a test's).
    """

    def __init__(self, spi, sync, hv_en, fault_pin=None, name="fsm", timer=None,
                 clock_us=None):
        # type: (SPI, Pin, Pin, Optional[Pin], str, Any, Any) -> None
        self.name = name
        self._timer = timer
        # the microsecond clock the timer's samples are timed by (time.ticks_us; a test's)
        self._clock_us = ticks_us if clock_us is None else clock_us
        self._wx = None  # type: Any
        self._wy = None  # type: Any
        self._ws = array("i", [0, 0, 0])  # _WS_N, _WS_I, _WS_FIRST
        self._t0 = 0  # when sample 0 was written (clock_us)
        self._wave_errors = 0  # samples the timer could not write (bus error)
        self._waves = WaveBuffers()  # the pairs play_wave trusts (register_wave_buffers)
        self._tick = self._next  # (bound once: the callback allocates nothing)
        self._spi = spi
        # Bound once (the timer's path calls it four times a sample, no lookup); SYNC is
        # driven by calling the pin (``Pin.__call__``, machine's fast shortcut for value).
        self._spi_write = spi.write
        self._sync = sync
        self._hv = hv_en
        self._fault = fault_pin
        self._enabled = False
        hv_en.value(0)
        sync(1)
        buf = bytearray(SAMPLE_OCTETS)
        buf[0] = (CMD_WRITE_INPUT << 3) | ADDR_A
        buf[3] = (CMD_WRITE_INPUT << 3) | ADDR_B
        buf[6] = (CMD_WRITE_INPUT << 3) | ADDR_C
        buf[9] = (CMD_WRITE_INPUT_UPDATE_ALL << 3) | ADDR_D
        self._buf = buf
        mv = memoryview(buf)
        self._f0 = mv[0:3]
        self._f1 = mv[3:6]
        self._f2 = mv[6:9]
        self._f3 = mv[9:12]
        # What the viper callback writes with, in one lookup: SYNC, the bus's write, the
        # four frames, the frame buffer and the waveform playing (``_IO_WX``, ``_IO_WY``:
        # play_wave sets them).  A list's items, not the instance's attributes: each of
        # those is a lookup in the instance's map, whose cost moves with the image's
        # layout (stop 58: the timer's share 0.034 -> 0.038 with no change of its own).
        self._io = [sync, self._spi_write, self._f0, self._f1, self._f2, self._f3, buf,
                    None, None]
        self._ctl = bytearray(3)
        self._cx = 0
        self._cy = 0

    def _frame(self, frame):
        # type: (memoryview | bytearray) -> None
        sync = self._sync
        sync(0)
        try:
            self._spi_write(frame)
        except OSError as e:
            raise bus_error(self.name, "SPI write", e)  # noqa: B904
        finally:
            sync(1)

    def _command(self, cmd, addr, data):
        # type: (int, int, int) -> None
        c = self._ctl
        c[0] = (cmd << 3) | addr
        c[1] = (data >> 8) & 0xFF
        c[2] = data & 0xFF
        self._frame(c)

    def init(self):
        # type: () -> None
        self._hv.value(0)
        self._enabled = False
        self._command(CMD_RESET, 0, 0x0001)  # power-on reset of the DAC
        self._command(CMD_POWER, 0, 0x000F)  # all four channels powered up, normal mode
        self._command(CMD_LDAC_SETUP, 0, 0x0000)  # outputs follow commands, not LDAC pin
        self.set_codes(0, 0)

    def set_codes(self, cx, cy):
        # type: (int, int) -> None
        if not (FSM_CODE_MIN <= cx <= FSM_CODE_MAX and FSM_CODE_MIN <= cy <= FSM_CODE_MAX):
            raise ValueError("FSM code out of range")
        self._ws[_WS_N] = 0  # stops a waveform
        self._write(cx, cy)

    def register_wave_buffers(self, x0, y0, x1, y1):
        # type: (Any, Any, Any, Any) -> None
        self._waves.register(x0, y0, x1, y1)

    def play_wave(self, xs, ys, n):
        # type: (Any, Any, int) -> None
        self._waves.check(xs, ys, n)
        ws = self._ws
        ws[_WS_N] = 0  # (the callback stays off while the buffers change)
        self._write(xs[0], ys[0])
        t = self._timer
        if t is None or n == 1:
            return
        self._t0 = self._clock_us()  # (sample 0's frames are out: the waveform's time 0)
        self._wx = xs
        self._wy = ys
        io = self._io
        io[_IO_WX] = xs
        io[_IO_WY] = ys
        ws[_WS_I] = 0
        ws[_WS_FIRST] = 1
        ws[_WS_N] = n  # (last: the callback plays nothing while the others change)
        t.init(freq=1000000 // FSM_WAVE_PERIOD_US, callback=self._tick)

    # The timer callback: the next sample, or the timer off after the last one
    # (:func:`wave_sample_py`; viper on the board).
    _next = _wave_sample

    def _write(self, cx, cy):
        # type: (int, int) -> None
        """Both axes to the DAC: four 24-bit frames, each framed by SYNC, the last one
        updating all outputs.  Written out in one function (no call a frame): the tick's
        sample 0 (``play_wave``), ``set_codes`` and the twin callback's samples; on the
        board the timer's samples are the same frames in hal/real/fsm_viper.py
        ``wave_sample`` (docs/firmware.md §4, "The mirror's timer")."""
        _octets(self._buf, cx, cy)
        sync = self._sync
        write = self._spi_write
        try:
            sync(0)
            write(self._f0)
            sync(1)
            sync(0)
            write(self._f1)
            sync(1)
            sync(0)
            write(self._f2)
            sync(1)
            sync(0)
            write(self._f3)
            sync(1)
        except OSError as e:
            sync(1)  # (SYNC idles high whatever failed, as in _frame)
            raise bus_error(self.name, "SPI write", e)  # noqa: B904
        except BaseException:
            sync(1)
            raise
        self._cx = cx
        self._cy = cy

    def codes(self):
        # type: () -> tuple[int, int]
        """The last codes written (cx, cy): a waveform's last sample the timer wrote
        (its callback stores no codes of its own), else the last ``_write``'s."""
        if self._ws[_WS_N]:
            i = self._ws[_WS_I]
            return (self._wx[i], self._wy[i])
        return (self._cx, self._cy)

    def enable(self, on):
        # type: (bool) -> None
        if on:
            if self._fault is not None and self._fault.value() == 0:
                raise DeviceFault("%s: driver fault, not enabling" % self.name)  # noqa: B904
            self._hv.value(1)
            self._enabled = True
        else:
            try:
                self.set_codes(0, 0)
            finally:
                self._hv.value(0)
                self._enabled = False

    def is_enabled(self):
        # type: () -> bool
        return self._enabled

    def fault(self):
        # type: () -> bool
        f = self._fault
        return f is not None and f.value() == 0

    def wave_errors(self):
        # type: () -> int
        return self._wave_errors
