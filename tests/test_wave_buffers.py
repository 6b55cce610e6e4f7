"""The mirror drivers' trusted waveform buffers (hal.interfaces ``WaveBuffers``,
``Fsm.register_wave_buffers``): an int16 pair registered once skips the per-sample range
check (13.7 k instructions a frame on the Cortex-M7 image, docs/apt-loop.md §4 "The
mirror's range check"); anything else keeps it, and nothing widens what a driver plays.
MicroPython's wrap-around stores: tests/mpy/test_wave_buffers_mpy.py."""

from array import array

import pytest

from hal.interfaces import (FSM_CODE_MAX, FSM_CODE_MIN, FSM_WAVE_MAX, WaveBuffers,
                            holds_codes_only)
from hal.real.fsm import Ad5664Fsm

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    from fakebus_pin import FakePin
    from fakebus_spi import FakeSPI, ScriptedSpiDevice
except ImportError:  # pragma: no cover
    from tests.fakebus_pin import FakePin
    from tests.fakebus_spi import FakeSPI, ScriptedSpiDevice


def test_the_code_range_is_int16s():
    # The trust rests on it: a narrower range would need every sample checked again.
    assert (FSM_CODE_MIN, FSM_CODE_MAX) == (-32768, 32767)


@pytest.mark.parametrize("buf, ok", [
    (array("h", [3, 4]), True),
    (array("b", [3, 4]), True),  # narrower: every value a valid code
    (bytearray(b"\x03\x04"), True),
    (array("H", [3, 4]), False),  # holds 65535
    (array("i", [3, 4]), False),
    (array("q", [3, 4]), False),
    (array("f", [3, 4]), False),
    ([3, 4], False),
    (array("h"), False),  # nothing to probe: not trusted
])
def test_only_storage_that_cannot_hold_a_bad_code_is_trusted(buf, ok):
    before = list(buf)
    assert holds_codes_only(buf) is ok
    assert list(buf) == before  # item 0 restored


def _pairs():
    return (array("h", [1] * 20), array("h", [2] * 20),
            array("h", [3] * 20), array("h", [4] * 20))


def test_a_registered_pair_checks_n_only_and_others_every_sample():
    w = WaveBuffers()
    x0, y0, x1, y1 = _pairs()
    w.register(x0, y0, x1, y1)
    w.check(x0, y0, 20)
    w.check(x1, y1, 1)
    for n in (0, 21):
        with pytest.raises(ValueError, match="length"):
            w.check(x0, y0, n)
    # a pair crossed (x of one, y of the other) or foreign: the full check
    w.check(x0, y1, 20)
    with pytest.raises(ValueError, match="out of range"):
        w.check(array("i", [FSM_CODE_MAX + 1] * 20), y0, 20)
    with pytest.raises(ValueError, match="out of range"):
        w.check(x0, [0] * 19 + [FSM_CODE_MIN - 1], 20)
    with pytest.raises(ValueError, match="length"):
        w.check(x1, y0, FSM_WAVE_MAX + 1)


def test_a_refused_registration_trusts_nothing():
    w = WaveBuffers()
    x0, y0, x1, y1 = _pairs()
    w.register(x0, y0, x1, y1)
    wide = array("i", [0] * 20)
    with pytest.raises(ValueError, match="could hold"):
        w.register(x0, y0, x1, wide)
    assert w.n == 0 and w.x0 is None
    # the former pair lost its trust too: an unregistered buffer's n is checked in full
    with pytest.raises(ValueError, match="length"):
        w.check(x0, y0, 0)
    wide[5] = FSM_CODE_MAX + 1
    with pytest.raises(ValueError, match="out of range"):
        w.check(x1, wide, 20)


def test_the_length_trusted_is_the_shortest_buffer_and_the_drivers_limit():
    w = WaveBuffers()
    w.register(array("h", [0] * 40), array("h", [0] * 40), array("h", [0] * 12),
               array("h", [0] * 40))
    assert w.n == 12
    w.register(*(array("h", [0] * 40) for _ in range(4)))
    assert w.n == FSM_WAVE_MAX
    with pytest.raises(ValueError, match="length"):
        w.check(w.x0, w.y0, FSM_WAVE_MAX + 1)


def test_the_board_driver_plays_a_registered_pair():
    spi = FakeSPI(2, phase=1)
    sync = FakePin("B12", FakePin.OUT, value=1)
    spi.attach(sync, ScriptedSpiDevice("ad5664", fill=0))
    dev = Ad5664Fsm(spi, sync, FakePin("C6", FakePin.OUT, value=0))
    x0, y0, x1, y1 = _pairs()
    dev.register_wave_buffers(x0, y0, x1, y1)
    x1[0], y1[0] = FSM_CODE_MIN, FSM_CODE_MAX
    dev.play_wave(x1, y1, 20)
    assert dev.codes() == (FSM_CODE_MIN, FSM_CODE_MAX)
    with pytest.raises(ValueError, match="length"):
        dev.play_wave(x0, y0, 0)
    with pytest.raises(ValueError, match="out of range"):  # a foreign buffer: each sample
        dev.play_wave(array("i", [40000]), array("i", [0]), 1)
    with pytest.raises(ValueError, match="could hold"):
        dev.register_wave_buffers(x0, y0, x1, [0] * 20)


def test_the_apt_registers_its_predictors_buffers_with_its_driver():
    from sim.run import passsim

    res = passsim.fly("nominal", seed=1, duration_s=1.0)
    pred = res.apps[-1].payload["apt"].law.pred
    w = res.world.fsm._waves  # (the simulated board's driver)
    assert w.x0 is pred.wx[0] and w.y0 is pred.wy[0]
    assert w.x1 is pred.wx[1] and w.y1 is pred.wy[1] and w.n == len(pred.wx[0])
