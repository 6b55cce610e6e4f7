"""board/main.py, the payload computer's boot entry: keys from flash, device init order,
REBOOT → machine.reset(), the maintenance boot after an interrupt — on CPython with a
stand-in `machine`, and the same boot in the MicroPython VM."""

import runpy
import sys
import types

import pytest

from flight import cobs
from flight.tc import encode_tc
from flight.tm import APID_VERIFY
from tests.procutil import GUARD_S, ROOT
from tests.mpy.obc import core_board
from tools import mpyvm

KEY = bytes([0x11]) * 32


class FakeMachine(types.ModuleType):
    def __init__(self):
        types.ModuleType.__init__(self, "machine")
        self.resets = 0

    def reset(self):
        self.resets += 1


@pytest.fixture
def bm(monkeypatch, tmp_path):
    m = FakeMachine()
    monkeypatch.setitem(sys.modules, "machine", m)
    monkeypatch.chdir(tmp_path)
    ns = runpy.run_path(str(ROOT / "board" / "main.py"), run_name="board_main")
    mod = types.SimpleNamespace(**ns)
    mod.machine = m
    return mod


def test_devices_initialised_in_safe_order(bm):
    order = []

    class Dev:
        def __init__(self, name, fail=False):
            self.name, self.fail = name, fail

        def init(self):
            order.append(self.name)
            if self.fail:
                raise OSError(5)

    b = types.SimpleNamespace(**{n: Dev(n) for n in bm.INIT_ORDER})
    b.temps = [Dev("t0"), Dev("t1", fail=True)]
    b.camera = None
    assert bm.init_devices(b) == ["temp1"]
    assert order == ["power", "storage", "bias", "t0", "t1", "fsm", "framer", "comparator",
                     "link", "watchdog"]


def test_reboot_telecommand_resets_the_board(bm, tmp_path):
    (tmp_path / "keys.txt").write_text("7 %s\n" % KEY.hex())
    boards = []

    def build():
        b = core_board()
        b.link.inject(cobs.encode(encode_tc(KEY, 7, 1, 0x01, {}, seq=1)) + b"\x00")
        b.link.inject(cobs.encode(encode_tc(KEY, 7, 2, 0x30, {}, seq=2)) + b"\x00")
        boards.append(b)
        return b

    assert bm.main(build, bm.machine) is True
    assert bm.machine.resets == 1
    from ground_tools.wire import TmDeframer

    reps = [t.body for t in TmDeframer().feed(boards[0].link.take()) if t.apid == APID_VERIFY]
    assert [(r["tc_seq"], r["stage"], r["ok"]) for r in reps] == [
        (1, "accept", True), (1, "complete", True), (2, "accept", True), (2, "complete", True)]


def test_interrupt_reboots_into_a_maintenance_boot(bm, tmp_path, capsys):
    def build():
        raise KeyboardInterrupt

    assert bm.main(build, bm.machine) is True and bm.machine.resets == 1
    assert (tmp_path / "maint.flag").exists()
    calls = []
    assert bm.main(lambda: calls.append(1), bm.machine) is False  # maintenance: app not run
    assert calls == [] and bm.machine.resets == 1 and not (tmp_path / "maint.flag").exists()
    assert "maintenance boot" in capsys.readouterr().out


def test_fatal_error_resets_after_a_delay(bm, monkeypatch, capsys):
    waited = []
    bm.main.__globals__["sleep_us"] = waited.append

    def build():
        raise RuntimeError("no such device")

    assert bm.main(build, bm.machine) is True
    assert bm.machine.resets == 1 and waited == [5000000]
    assert "fatal error" in capsys.readouterr().out


_VM = r'''
import sys
sys.path.insert(0, '/proj')
class FakeMachine:
    resets = 0
    def reset(self):
        FakeMachine.resets += 1
sys.modules['machine'] = FakeMachine()
import main as bm
from flight import cobs
from flight.tc import encode_tc
from hal.clock import VirtualClock
from hal.interfaces import Board
from hal.sim.link import MemLink
from hal.sim.power import SimPower
from hal.sim.storage import MemStorage
from hal.sim.watchdog import SimWatchdog
f = open('/proj/keys.txt', 'w'); f.write('7 ' + '11' * 32 + '\n'); f.close()
bm.KEY_FILES = ('/proj/keys.txt',)
made = []
def build():
    clock = VirtualClock()
    b = Board(link=MemLink(), storage=MemStorage(), power=SimPower(),
              watchdog=SimWatchdog(clock), clock=clock, name='t')
    b.link.inject(cobs.encode(encode_tc(bytes([0x11]) * 32, 7, 1, 0x30, {}, seq=3)) + b'\x00')
    made.append(b)
    return b
r = bm.main(build, sys.modules['machine'])
print('RESULT', r, FakeMachine.resets, len(made[0].link.take()) > 0)
'''


def test_boot_entry_runs_under_micropython():
    rc, out, err = mpyvm.run_job(_VM, timeout=GUARD_S)
    assert rc == 0, err
    assert "RESULT True 1 True" in out, out + err
