"""HIL against the firmware: the flight application in the QEMU Cortex-M7 image, TC/TM on
its UART, presented to the ground tool as a pty (`make hil TARGET=qemu`).

    QEMU (UART on its pty) <-> our fd ==relay== ground pty <-> ground tool / HIL

QEMU boots the image (no -icount: the target's ticks follow the host's real time, as the
HIL suite expects of a payload at speed 1); the raw REPL receives a launcher that builds
the simulated board around the pass world (hal/sim, frozen) with the UART as the TC/TM
link (``hal.real.uart_link.UartLink`` on the REPL's stdio, Ctrl-C disabled so TC octets
are data) and runs the FlightApp like ``python -m flight --board sim`` does, REBOOT,
watchdog expiry and the ADCS feedback relay included.  Restarting the bench reboots QEMU: the board's storage is RAM
there, so it does not survive a restart (a real board keeps its flash).

    python -m tools.target_hil          # print the ground port, run until Ctrl-C
"""

import os
import sys
import time
import tty

from tests.hil.simbench import Bench
from tools import target

LAUNCHER = r"""
import sys, select, micropython
micropython.kbd_intr(-1)  # TC octets are data, not Ctrl-C
from hal.clock import PacedClock
from hal.real.uart_link import UartLink
from hal.sim.board import make_board
from hal.sim.storage import MemStorage
from flight.app import FlightApp
from flight.keys import Keyring
try:
    from hal.sim.world import make_world
except ImportError:
    make_world = None


class StdioUart:
    # machine.UART's any/readinto/write on the REPL's stdio (the QEMU UART).
    def __init__(self):
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._rx = sys.stdin.buffer
        self._tx = sys.stdout.buffer
        self._b = bytearray(1)

    def any(self):
        return 256 if self._poll.poll(0) else 0

    def readinto(self, buf, n):
        # The emulated UART holds one received byte: the next arrives a QEMU event-loop
        # turn later, so wait a few polls for it (~8 KB/s instead of ~2.6 KB/s).
        i = 0
        idle = 0
        while i < n and idle < 50:
            if self._poll.poll(0):
                self._rx.readinto(self._b)
                buf[i] = self._b[0]
                i += 1
                idle = 0
            else:
                idle += 1
        return i

    def write(self, data):
        return self._tx.write(data)


world = make_world(%(scenario)r, seed=%(seed)d) if (make_world and %(scenario)r) else None
clock = PacedClock(speed=1.0)
board = make_board(clock=clock, link=UartLink(StdioUart()), storage=MemStorage(),
                   world=world)
keyring = Keyring()
cause = None
while True:
    app = FlightApp(board, keyring=keyring)
    if world is not None and hasattr(world, 'adcs_feedback'):
        # the OBC's relay of the pointing feedback to the platform ADCS (python -m flight)
        app.adcs_hook = lambda b: world.adcs_feedback(
            bool(b.get('valid')), b['err_x_urad'] * 1e-6, b['err_y_urad'] * 1e-6,
            bool(b.get('offload')), b['fsm_x_urad'] * 1e-6, b['fsm_y_urad'] * 1e-6)
    elif world is not None and hasattr(world, 'install'):
        world.install(app)
    app.boot(reset_cause=cause)
    sched = app.sched
    sched.running = True
    last = clock.now_us()
    cause = 'SOFT'  # REBOOT telecommand: the scheduler stops after its report
    while sched.running:
        sched.run_once()
        now = clock.now_us()
        if now - last >= 50000 or now < last:
            last = now
            if board.watchdog.expired():
                cause = 'WATCHDOG'
                break
    board.watchdog.timeout_ms = None
"""


def launcher(scenario="nominal", seed=1):
    return LAUNCHER % {"scenario": scenario, "seed": seed}


class QemuPayload:
    """The QEMU image on a pty pair: the slave is QEMU's stdio, the master is ours."""

    def __init__(self, elf, scenario="nominal", seed=1, boot_timeout=60):
        import re
        import subprocess

        # QEMU's own pty (raw): its stdio chardev would turn on output post-processing
        # (LF -> CR LF) and corrupt the binary TM.
        self.proc = subprocess.Popen(target.qemu_command(elf, serial="pty"),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        line = b""
        end = time.monotonic() + boot_timeout
        while b"/dev/pts/" not in line:
            if time.monotonic() > end or self.proc.poll() is not None:
                raise target.TargetError("QEMU did not report its pty: %r" % line)
            line = self.proc.stdout.readline()
        path = re.search(rb"(/dev/pts/\d+)", line).group(1).decode()
        self.master = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.master)
        self._enter(launcher(scenario, seed), boot_timeout)

    def _read_until(self, marker, timeout):
        import select

        buf = b""
        end = time.monotonic() + timeout
        while marker not in buf:
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise target.TargetError("QEMU payload: no %r (got %r)" % (marker, buf[-300:]))
            r, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if r:
                buf += os.read(self.master, 4096)
        return buf

    def _enter(self, code, timeout):
        os.write(self.master, target.ENTER_RAW)
        self._read_until(target.RAW_BANNER, timeout)
        data = code.encode() + b"\x04"
        while data:  # the pty takes a few KiB at a time
            n = os.write(self.master, data[:1024])
            data = data[n:]
        self._read_until(b"OK", timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass


class QemuBench(Bench):
    """The SimBench interface (tests/hil) on the firmware: fixed ground pty, restartable."""

    def __init__(self, scenario="nominal", seed=1, elf=None):
        self.elf = target.ensure_image() if elf is None else elf
        self.scenario = scenario
        self.seed = seed
        super().__init__()

    def start(self):
        self.payload = QemuPayload(self.elf, self.scenario, self.seed)
        self.bridge.attach(self.payload.master)


def main(argv=None):
    bench = QemuBench()
    print("firmware payload (QEMU Cortex-M7) running; ground port: %s" % bench.port,
          flush=True)
    try:
        while bench.alive():
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        bench.close()


if __name__ == "__main__":
    sys.exit(main())
