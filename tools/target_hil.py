"""HIL against the firmware: the flight application in the QEMU Cortex-M7 image, TC/TM on
its UART, presented to the ground tool as a pty (`make hil TARGET=qemu`).

    QEMU (UART on its pty) <-> our fd ==relay== ground pty <-> ground tool / HIL

QEMU boots the image (no -icount: the target's ticks follow the host's real time, as the
HIL suite expects of a payload at speed 1); the raw REPL receives a launcher that builds
the simulated board around the pass world (hal/sim, frozen) with the UART as the TC/TM
link (``hal.real.uart_link.UartLink`` on the REPL's stdio, Ctrl-C disabled so TC octets
are data) and runs the FlightApp like ``python -m flight --board sim`` does, REBOOT,
watchdog expiry and the ADCS feedback relay included.

Persistent storage across restarts (a real board keeps its flash; the QEMU image's storage
is RAM): the bench keeps the board's flash on the host.  In the image the storage
(``HostFlash``, a hal.sim MemStorage) mirrors every completed write on the UART as a
record of its own — a COBS frame like the TM frames, whose content starts with
:data:`FLASH_MAGIC` (an octet no CCSDS TM header starts with), then the blob's name and
octets.  The bench's relay takes those records out of the TM stream (the ground never sees
them) into ``QemuBench.flash``; restarting the bench boots a new QEMU whose launcher loads
that flash into the storage before the FlightApp boots.  What a write had not mirrored
when QEMU was killed is lost, as a write cut by a reset would be on the board.

    python -m tools.target_hil          # print the ground port, run until Ctrl-C
"""

import binascii
import os
import sys
import time
import tty

from flight import cobs

from tests.hil.simbench import Bench
from tools import target

LAUNCHER = r"""
import sys, select, micropython
from binascii import a2b_base64
micropython.kbd_intr(-1)  # TC octets are data, not Ctrl-C
from hal.clock import PacedClock
from hal.real.uart_link import UartLink
from hal.sim.board import make_board
from hal.sim.storage import MemStorage
from flight import cobs
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


class HostFlash(MemStorage):
    # The board's flash, kept by the bench host across QEMU restarts: each completed
    # write is mirrored on the UART as a record the bench's relay takes out of the TM.
    def write(self, name, data):
        MemStorage.write(self, name, data)
        n = name.encode()
        rec = %(magic)r + bytes([len(n)]) + n + self.blobs[name]
        sys.stdout.buffer.write(cobs.encode(rec) + b'\x00')


storage = HostFlash()
for _k, _v in %(flash)r:
    storage.blobs[_k] = a2b_base64(_v)
world = make_world(%(scenario)r, seed=%(seed)d) if (make_world and %(scenario)r) else None
clock = PacedClock(speed=1.0)
board = make_board(clock=clock, link=UartLink(StdioUart()), storage=storage,
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


FLASH_MAGIC = b"\xe5VFL"  # first octet: CCSDS version 7, never a TM packet of ours


def launcher(scenario="nominal", seed=1, flash=None):
    """The launcher text; ``flash``: {blob name: octets} loaded into the storage first."""
    items = sorted((k, binascii.b2a_base64(v).strip().decode())
                   for k, v in (flash or {}).items())
    return LAUNCHER % {"scenario": scenario, "seed": seed, "magic": FLASH_MAGIC,
                       "flash": items}


class FlashTap:
    """The relay's filter on the payload -> ground stream: whole 0x00-delimited frames go
    on to the ground, storage records (:data:`FLASH_MAGIC`) go into ``flash``."""

    def __init__(self, flash):
        self.flash = flash
        self._part = bytearray()
        self.records = 0

    def __call__(self, data):
        self._part += data
        out = bytearray()
        while True:
            i = self._part.find(b"\x00")
            if i < 0:
                return bytes(out)
            frame = bytes(self._part[:i])
            del self._part[:i + 1]
            if frame and self._record(frame):
                continue
            out += frame + b"\x00"

    def _record(self, frame):
        try:
            rec = cobs.decode(frame)
        except ValueError:
            return False
        if not rec.startswith(FLASH_MAGIC):
            return False
        k = len(FLASH_MAGIC)
        n = rec[k]
        self.flash[rec[k + 1:k + 1 + n].decode()] = rec[k + 1 + n:]
        self.records += 1
        return True


class QemuPayload:
    """The QEMU image on a pty pair: the slave is QEMU's stdio, the master is ours."""

    def __init__(self, elf, scenario="nominal", seed=1, boot_timeout=60, flash=None):
        import re
        import subprocess

        # QEMU's own pty (raw): its stdio chardev would turn on output post-processing
        # (LF -> CR LF) and corrupt the binary TM.
        self.proc = subprocess.Popen(target.qemu_command(elf, serial="pty"),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=target.die_with_parent)
        line = b""
        end = time.monotonic() + boot_timeout
        while b"/dev/pts/" not in line:
            if time.monotonic() > end or self.proc.poll() is not None:
                raise target.TargetError("QEMU did not report its pty: %r" % line)
            line = self.proc.stdout.readline()
        path = re.search(rb"(/dev/pts/\d+)", line).group(1).decode()
        self.master = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.master)
        self._enter(launcher(scenario, seed, flash), boot_timeout)

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
        self.flash = {}  # the board's flash, kept here across restarts (module docstring)
        super().__init__()

    def start(self):
        self.payload = QemuPayload(self.elf, self.scenario, self.seed, flash=self.flash)
        self.bridge.tap = FlashTap(self.flash)  # (a new one: no partial frame of the last)
        self.bridge.attach(self.payload.master)


def main(argv=None):
    import argparse

    # No options: --help prints the usage instead of booting QEMU.
    argparse.ArgumentParser(prog="python -m tools.target_hil", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter
                            ).parse_args(argv)
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
