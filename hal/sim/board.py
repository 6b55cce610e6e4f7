"""The simulated payload board: every HAL device of hal/sim on one clock.

``make_board`` assembles a :class:`hal.interfaces.Board` from the simulated devices.
Devices backed by physics (camera, FSM, temperature sensors, bias supply, comparator,
framer) come from the pass world of ``hal/sim/world.py`` when a scenario is given.
"""

from hal.clock import VirtualClock
from hal.interfaces import Board
from hal.sim.backup import MemBackup
from hal.sim.link import MemLink
from hal.sim.power import SimPower
from hal.sim.storage import MemStorage
from hal.sim.watchdog import SimWatchdog


def make_board(clock=None, link=None, storage=None, world=None, name="sim", backup=None,
               rng=None):
    """A simulated board.  ``world`` (optional) supplies the physics-backed devices and
    is stepped by the clock.  ``backup``: BackupRegisters (default: in RAM); ``rng``:
    ``rng(n)`` → n random octets for the anti-replay nonce (default: ``os.urandom``)."""
    clock = clock if clock is not None else VirtualClock()
    board = Board(link=link if link is not None else MemLink(),
                  storage=storage if storage is not None else MemStorage(),
                  power=SimPower(), watchdog=SimWatchdog(clock), clock=clock, name=name,
                  backup=backup if backup is not None else MemBackup())
    board.rng = rng
    if world is not None:
        world.attach(board)
    return board
