"""hal/real: UART link, file storage, watchdog, board factory (fake ``machine`` module
injected through sys.modules); hal/real imports without ``machine``."""

import errno
import importlib
import os
import pathlib
import sys

import pytest

from hal import interfaces as itf
from hal.errors import BusError, DeviceFault, StorageError
from hal.real.storage import FileStorage
from hal.real.uart_link import UartLink
from hal.real.watchdog import MachineWatchdog

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    from fakebus_machine import make_fake_machine
    from fakebus_pin import FakePin
    from fakebus_spi import FpgaRegDevice, ScriptedSpiDevice
    from fakebus_uart import FakeUART
except ImportError:  # pragma: no cover
    from tests.fakebus_machine import make_fake_machine
    from tests.fakebus_pin import FakePin
    from tests.fakebus_spi import FpgaRegDevice, ScriptedSpiDevice
    from tests.fakebus_uart import FakeUART

ROOT = pathlib.Path(__file__).resolve().parent.parent


# =============================================================================== UART


def test_uart_read_into_non_blocking():
    u = FakeUART(2, timeout=0)
    link = UartLink(u)
    buf = bytearray(8)
    assert link.read_into(buf) == 0  # nothing: returns at once
    u.feed(b"\x01\x02\x03")
    assert link.read_into(buf) == 3 and buf[:3] == b"\x01\x02\x03"
    u.feed(bytes(range(20)))
    assert link.read_into(buf) == 8 and bytes(buf) == bytes(range(8))
    assert link.read_into(memoryview(buf)[2:5]) == 3 and buf[2:5] == bytes([8, 9, 10])
    assert u.any() == 9


def test_uart_write_partial_and_full():
    u = FakeUART(2)
    link = UartLink(u)
    assert link.write(b"hello") == 5 and u.tx == b"hello"
    u.tx_space = 2
    assert link.write(b"world") == 2 and u.tx == b"hellowo"
    u.tx_space = 0
    assert link.write(b"x") == 0  # machine.UART returns None on timeout
    assert link.write(b"") == 0


def test_uart_errors():
    u = FakeUART(2)
    link = UartLink(u)
    u.feed(b"abc")
    u.fail_next(OSError(errno.EIO, "EIO"))
    with pytest.raises(BusError, match="uart"):
        link.read_into(bytearray(4))
    u.fail_next()
    with pytest.raises(BusError):
        link.write(b"x")
    assert link.read_into(bytearray(4)) == 3  # data not lost by the failed call


# =============================================================================== storage


@pytest.fixture
def store(tmp_path, monkeypatch):
    syncs = []
    monkeypatch.setattr(os, "sync", lambda: syncs.append(1), raising=False)
    s = FileStorage(str(tmp_path / "flash" / "vector"), max_blob=1024)
    s.init()
    return s, tmp_path / "flash" / "vector", syncs


def test_storage_roundtrip(store):
    s, root, syncs = store
    assert root.is_dir()
    assert s.read("params_a") is None and not s.exists("params_a")
    s.write("params_a", b"\x00\x01gen1")
    assert s.read("params_a") == b"\x00\x01gen1" and s.exists("params_a")
    assert (root / "params_a").read_bytes() == b"\x00\x01gen1"
    s.write("params_a", bytearray(b"gen2"))
    assert s.read("params_a") == b"gen2"
    assert not (root / "params_a~").exists()  # temp renamed away
    assert len(syncs) == 2
    s.delete("params_a")
    s.delete("params_a")  # idempotent
    assert s.read("params_a") is None
    s.write("empty", b"")
    assert s.read("empty") == b""


def test_storage_init_idempotent(store):
    s, root, syncs = store
    s.write("x", b"1")
    s.init()
    assert s.read("x") == b"1"


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "a~", "x" * 33, "spa ce", "é"])
def test_storage_bad_names(store, name):
    s, root, syncs = store
    for call in (
        lambda: s.read(name),
        lambda: s.write(name, b"1"),
        lambda: s.exists(name),
        lambda: s.delete(name),
    ):
        with pytest.raises(ValueError):
            call()


def test_storage_too_large(store):
    s, root, syncs = store
    with pytest.raises(ValueError):
        s.write("big", bytes(1025))
    s.write("big", bytes(1024))


def test_storage_fat_rename_fallback(store, monkeypatch):
    """FAT refuses to rename over an existing file: the driver removes it first."""
    s, root, syncs = store
    s.write("slot", b"old")
    real_rename = os.rename

    def fat_rename(a, b):
        if os.path.exists(b):
            raise OSError(errno.EEXIST, "EEXIST")
        real_rename(a, b)

    monkeypatch.setattr(os, "rename", fat_rename)
    s.write("slot", b"new")
    assert s.read("slot") == b"new"
    assert not (root / "slot~").exists()


def test_storage_rename_failure_keeps_old_blob(store, monkeypatch):
    s, root, syncs = store
    s.write("slot", b"old")

    def broken(*args):
        raise OSError(errno.EIO, "EIO")

    monkeypatch.setattr(os, "rename", broken)
    monkeypatch.setattr(os, "remove", broken)
    with pytest.raises(StorageError):
        s.write("slot", b"new")
    monkeypatch.undo()
    assert s.read("slot") == b"old"


def test_storage_io_errors(store, monkeypatch):
    s, root, syncs = store
    s.write("a", b"1")

    def eio(*a, **k):
        raise OSError(errno.EIO, "EIO")

    monkeypatch.setattr("builtins.open", eio)
    with pytest.raises(StorageError):
        s.read("a")
    with pytest.raises(StorageError):
        s.write("a", b"2")
    monkeypatch.undo()
    monkeypatch.setattr(os, "stat", eio)
    with pytest.raises(StorageError):
        s.exists("a")
    monkeypatch.undo()
    monkeypatch.setattr(os, "remove", eio)
    with pytest.raises(StorageError):
        s.delete("a")


def test_storage_root_validation():
    for bad in ("", "/flash/"):
        with pytest.raises(ValueError):
            FileStorage(bad)


# =============================================================================== watchdog


def test_watchdog_start_feed_and_rearm_rules():
    m = make_fake_machine()
    w = MachineWatchdog(0, machine_module=m)
    w.feed()  # before start: no effect, no error
    assert m.created["WDT"] == []
    w.start(2000)
    (wdt,) = m.created["WDT"]
    assert (wdt.id, wdt.timeout) == (0, 2000)
    w.feed()
    w.feed()
    assert wdt.feeds == 2
    w.start(2000)  # same timeout: nothing new
    assert len(m.created["WDT"]) == 1
    with pytest.raises(ValueError):
        w.start(3000)
    assert w.started()


@pytest.mark.parametrize("t", [0, -1, 32001])
def test_watchdog_range(t):
    w = MachineWatchdog(machine_module=make_fake_machine())
    with pytest.raises(ValueError):
        w.start(t)


def test_watchdog_hardware_refuses():
    m = make_fake_machine()

    def bad_wdt(**kw):
        raise ValueError("WDT timeout too long")

    m.WDT = bad_wdt
    w = MachineWatchdog(machine_module=m)
    with pytest.raises(DeviceFault):
        w.start(1000)
    assert not w.started()


@pytest.mark.parametrize(
    "cause,expected",
    [
        (1, itf.RESET_POWER_ON),
        (3, itf.RESET_WATCHDOG),
        (0, itf.RESET_SOFT),
        (2, itf.RESET_HARD),
        (4, itf.RESET_OTHER),
    ],
)
def test_watchdog_reset_cause(cause, expected):
    m = make_fake_machine(reset_cause=cause)
    assert MachineWatchdog(machine_module=m).reset_cause() == expected


def test_watchdog_imports_machine_lazily(monkeypatch):
    m = make_fake_machine(reset_cause=3)
    monkeypatch.setitem(sys.modules, "machine", m)
    w = MachineWatchdog()
    assert w.reset_cause() == itf.RESET_WATCHDOG
    w.start(100)
    assert m.created["WDT"][0].timeout == 100


# =============================================================================== board


@pytest.fixture
def fake_machine(monkeypatch):
    m = make_fake_machine()
    monkeypatch.setitem(sys.modules, "machine", m)
    return m


def test_board_build_wires_everything(fake_machine):
    from hal.real import board

    b = board.build(clock="CLOCK")
    m = fake_machine
    spi_fpga, spi_dac, spi_fsm, spi_comp = m.created["SPI"]
    assert (spi_fpga.id, spi_fpga.polarity, spi_fpga.phase) == (1, 0, 0)
    assert (spi_dac.id, spi_dac.polarity, spi_dac.phase) == (2, 0, 1)
    assert (spi_fsm.id, spi_fsm.polarity, spi_fsm.phase) == (3, 0, 1)
    assert (spi_comp.id, spi_comp.polarity, spi_comp.phase) == (4, 0, 0)
    (timer,) = m.created["Timer"]
    assert timer.id == -1 and b.fsm._timer is timer  # the waveform plays on the board
    (i2c,) = m.created["I2C"]
    assert (i2c.id, i2c.freq) == (1, 400000)
    (uart,) = m.created["UART"]
    assert (uart.id, uart.baudrate, uart.timeout, uart.timeout_char) == (2, 115200, 0, 0)
    pins = m.created["Pin"]
    for cs in ("A4", "A3", "D14", "D11", "B11"):
        assert pins[cs].mode == m.Pin.OUT and pins[cs].level == 1  # selects idle high
    for en in ("E2", "E3", "E4", "E5", "E6", "D12"):
        assert pins[en].level == 0  # loads and mirror HV off at build
    assert pins["D13"].mode == m.Pin.IN
    assert [t.name for t in b.temps] == ["tmp117@0x48", "tmp117@0x49"]
    assert b.clock == "CLOCK" and b.name == "vector-pcu-rev-a"
    assert b.bias.limits() == (0.0, 32.0)
    for attr in (
        "camera",
        "fsm",
        "bias",
        "comparator",
        "framer",
        "link",
        "storage",
        "watchdog",
        "power",
    ):
        assert getattr(b, attr) is not None, attr
    # No bus traffic during build.
    assert all(not s.transactions for s in m.created["SPI"]) and i2c.log == []


def test_board_build_with_injected_module_and_camera_on_its_select(monkeypatch):
    monkeypatch.delitem(sys.modules, "machine", raising=False)
    m = make_fake_machine()
    from hal.real import board

    b = board.build(machine_module=m)
    spi_fpga = m.created["SPI"][0]
    model = spi_fpga.attach(
        m.created["Pin"]["A4"], FpgaRegDevice("camera", regs={0: 0x5643414D, 4: 1000})
    )
    b.camera.init()
    assert model.regs[0x02] == 1  # running


def test_board_mirror_dac_alone_on_its_bus_and_its_waveform_plays(monkeypatch):
    """The mirror's timer writes a sample a millisecond from a soft callback that may run
    between any two bytecodes: the AD5664 is the only device on its SPI bus (no other
    driver's transfer can be cut into), and the built board's waveform reaches the DAC
    sample by sample on that bus, every frame framed by its own SYNC."""
    from array import array

    from hal.interfaces import FSM_WAVE_PERIOD_US
    from hal.real import board

    monkeypatch.delitem(sys.modules, "machine", raising=False)
    m = make_fake_machine()
    b = board.build(machine_module=m)
    spi_fsm = b.fsm._spi
    assert b.fsm._spi_write == spi_fsm.write

    def buses(obj, depth=2):  # the SPI objects a driver holds, through its helpers
        found = [v for v in vars(obj).values() if isinstance(v, m.SPI)]
        if depth:
            for v in vars(obj).values():
                if hasattr(v, "__dict__") and not isinstance(v, (m.SPI, m.Pin)):
                    found += buses(v, depth - 1)
        return found

    others = [b.camera, b.framer, b.comparator, b.bias, b.power, b.link]
    assert buses(b.camera) and buses(b.bias)  # (the search finds a driver's bus)
    assert all(spi_fsm not in buses(d) for d in others)
    spi_fsm.attach(m.created["Pin"]["D11"], ScriptedSpiDevice("ad5664", fill=0))
    (timer,) = m.created["Timer"]
    now = [0]
    b.fsm._clock_us = lambda: now[0]  # (the board's is time.ticks_us)
    xs, ys = array("h", [10, 20, 30]), array("h", [-1, -2, -3])
    b.fsm.play_wave(xs, ys, 3)
    assert timer.running and timer.freq == 1000000 // FSM_WAVE_PERIOD_US
    for _ in range(3):
        now[0] += FSM_WAVE_PERIOD_US
        timer.fire()  # samples 1, 2 (the last: stopped, the mirror holds it)
    assert not timer.running and b.fsm.codes() == (30, -3)
    frames = [bytes(t.mosi) for t in spi_fsm.transactions]
    assert len(frames) == 3 * 4 and all(len(f) == 3 for f in frames)
    plus_x = [(f[1] << 8 | f[2]) - 32768 for f in frames[0::4]]
    assert plus_x == [10, 20, 30]


def test_board_config_is_consistent():
    from hal.real.board import BOARD_CONFIG

    p = BOARD_CONFIG["power"]
    assert len(p["en"]) == len(p["channels"]) == len(p["shunt_mohm"]) == itf.N_SWITCHES
    pins = [
        BOARD_CONFIG[k][f]
        for k, f in (
            ("camera", "cs"),
            ("framer", "cs"),
            ("comparator", "cs"),
            ("fsm", "sync"),
            ("fsm", "hv_en"),
            ("fsm", "fault"),
            ("bias", "sync"),
        )
    ]
    pins += p["en"] + p["fault"]
    assert len(pins) == len(set(pins)), "a pin is used twice"
    i2c_addrs = BOARD_CONFIG["temps"] + p["monitors"] + [BOARD_CONFIG["bias"]["adc_addr"]]
    assert len(i2c_addrs) == len(set(i2c_addrs)), "two I2C devices share an address"


# =============================================================================== imports
# (the import rules of every layer: tests/test_layering.py)


def test_hal_real_modules_import_without_machine(monkeypatch):
    monkeypatch.delitem(sys.modules, "machine", raising=False)
    for path in sorted((ROOT / "hal" / "real").glob("*.py")):
        if path.stem.endswith("_viper"):
            continue  # (viper code: MicroPython's compiler only; its importer falls back)
        importlib.import_module("hal.real." + path.stem if path.stem != "__init__" else "hal.real")
    assert "machine" not in sys.modules
    from hal.real import fsm

    assert fsm._octets is fsm.dac_octets_py  # CPython: the viper kernel's plain twin


def test_fake_pin_callable_like_machine_pin():
    p = FakePin("A0", FakePin.OUT, value=0)
    p(1)
    assert p() == 1 and p.history == [1]


def test_board_config_sets_the_cameras_frame_period(monkeypatch):
    """The board's ``camera.frame_period_us`` reaches the camera block's FRAME_PERIOD_US
    register at init, and the APT's tick follows it (``Camera.frame_period_us``)."""
    monkeypatch.delitem(sys.modules, "machine", raising=False)
    m = make_fake_machine()
    import copy

    from hal.interfaces import CAMERA_FRAME_PERIOD_US
    from hal.real import board

    assert board.BOARD_CONFIG["camera"]["frame_period_us"] == CAMERA_FRAME_PERIOD_US
    cfg = copy.deepcopy(board.BOARD_CONFIG)
    cfg["camera"]["frame_period_us"] = 8000
    b = board.build(config=cfg, machine_module=m)
    assert (b.camera.frame_period_us, b.camera.exposure_max_us) == (8000, 7000)
    model = m.created["SPI"][0].attach(
        m.created["Pin"]["A4"], FpgaRegDevice("camera", regs={0: 0x5643414D, 4: 1000})
    )
    b.camera.init()
    assert (0x0A, 8000) in model.writes and model.regs[0x02] == 1
    cfg["camera"]["frame_period_us"] = 4000  # under the sensor's shortest frame
    with pytest.raises(ValueError, match="frame period"):
        board.build(config=cfg, machine_module=make_fake_machine())
