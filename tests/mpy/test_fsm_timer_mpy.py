"""The AD5664 mirror driver's waveform timer (hal/real/fsm.py) under MicroPython: its
callback, viper where the port has a native emitter (the board), against its plain-Python
twin — the samples it writes and when, the frames on the bus, a failed sample — with the
heap locked (any allocation fails).  Runs under CPython and in every MicroPython VM."""

from array import array

from heaplock import locked

from hal.real.fsm import Ad5664Fsm


class _HvPin:  # (the amplifier's enable: set once, at construction)
    def value(self, v=None):
        return 0


class _BusLog:
    """A DAC bus and its SYNC pin logging into one preallocated record (nothing allocated
    per call): a pin level as 0xF0 | level, a written frame's octets as they are; the next
    write raises OSError when ``fail`` is set."""

    def __init__(self):
        self.rec = bytearray(256)
        self.n = 0
        self.fail = False
        self.err = OSError(5)

    def write(self, buf):
        if self.fail:
            raise self.err
        i = 0
        while i < len(buf):  # (no iterator: nothing allocated)
            self.rec[self.n] = buf[i]
            self.n += 1
            i += 1

    def __call__(self, v=None):  # the SYNC pin
        self.rec[self.n] = 0xF0 | v
        self.n += 1

    def value(self, v=None):
        self(v)


class _Timer:
    def __init__(self):
        self.inits = 0
        self.deinits = 0

    def init(self, freq, callback):
        self.inits += 1

    def deinit(self):
        self.deinits += 1


def test_fsm_timer_callback_kernel_is_its_twin():
    """The mirror driver's timer callback (the board's 1 kHz sample: viper where the port
    compiles it) and its plain-Python twin: the first callback of a waveform writes the
    sample nearest its time from sample 0 (none while that is sample 0, a later one when
    late), each later one the next sample; the timer stops with the last; a failed sample
    is counted with SYNC left high; both put the same frames on the bus and allocate
    nothing."""
    import sys

    from hal.real import fsm as fsm_mod

    xs = array("h", [100, -32768, 32767, 3, 4, 5, 6])
    ys = array("h", [-100, 32767, -1, -3, -4, -5, -6])
    # (a new waveform?, callback time from its sample 0 in µs, samples written)
    events = ((True, 300, 0), (False, 1300, 1), (False, 2300, 1), (False, 3300, 1),
              (False, 4300, 1), (False, 5300, 1), (False, 6300, 1), (False, 7300, 0),
              (True, 2600, 1), (True, 700, 1))
    out = []
    for kernel in (None, fsm_mod.wave_sample_py):
        bus = _BusLog()
        tim = _Timer()
        now = [50000]
        fsm = Ad5664Fsm(bus, bus, _HvPin(), timer=tim, clock_us=lambda now=now: now[0])
        fsm.register_wave_buffers(xs, ys, xs, ys)
        written = []
        codes = []
        n_end = 0
        for new, t, _ in events:
            if new:
                now[0] = 50000
                fsm.play_wave(xs, ys, 7)
                bus.n = n_end  # (sample 0's frames: not the callback's)
            if len(written) == 9:
                bus.fail = True  # (the last event: sample 1 on a failing bus)
            now[0] = 50000 + t
            n0 = bus.n
            if kernel is None:  # the bound callback the timer holds
                locked(lambda f=fsm, t=tim: f._tick(t), 1)
            else:
                locked(lambda f=fsm, t=tim, k=kernel: k(f, t), 1)
            n_end = bus.n
            written.append((bus.n - n0) // 20)
            codes.append(fsm.codes()[0])
        assert written == [e[2] for e in events[:9]] + [0], written
        assert codes == [100, -32768, 32767, 3, 4, 5, 6, 6, 3, -32768], codes
        assert tim.deinits == 2 and tim.inits == 3, (tim.deinits, tim.inits)
        assert fsm.wave_errors() == 1 and bus.rec[bus.n - 1] == 0xF1  # SYNC high again
        out.append(bytes(bus.rec[:bus.n]))
    assert out[0] == out[1]
    rec = out[0]
    # Sample 1 (-32768, 32767): four frames each framed by SYNC low .. high, the last
    # "write input D, update all"; then samples 2 .. 6 and 3; then the failed write's SYNC.
    assert len(rec) == 7 * 4 * 5 + 2
    assert rec[:5] == bytes([0xF0, 0x00, 0x00, 0x00, 0xF1])  # A = X+ = 0
    assert rec[5:10] == bytes([0xF0, 0x01, 0xFF, 0xFF, 0xF1])  # B = X- = 65535
    assert rec[15:20] == bytes([0xF0, 0x13, 0x00, 0x00, 0xF1])  # D = Y- = 0, update all
    assert rec[20 + 1:20 + 4] == bytes([0x00, 0xFF, 0xFF])  # sample 2: A = 32767 + 32768
    assert rec[100 + 1:100 + 4] == bytes([0x00, 0x80, 0x06])  # sample 6: A = 6 + 32768
    assert rec[120 + 1:120 + 4] == bytes([0x00, 0x80, 0x03])  # the late first: sample 3
    assert rec[-2:] == bytes([0xF0, 0xF1])
    if sys.implementation.name == "micropython" and sys.platform != "webassembly":
        assert fsm_mod._wave_sample is not fsm_mod.wave_sample_py  # the viper kernel
    elif sys.implementation.name != "micropython":
        assert fsm_mod._wave_sample is fsm_mod.wave_sample_py
