"""Fake MicroPython ``machine.I2C`` and register devices for CPython tests of the hal/real
drivers.

:class:`FakeI2C` -- register devices (:class:`FakeI2CDevice`) by address; NACK (no
device) raises ``OSError(ENODEV)`` as MicroPython does; every transfer is logged. Any
bus method raises the exceptions queued with ``fail_next`` first (error paths)."""

import errno

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    from fakebus_core import Failures, byte_view
except ImportError:  # pragma: no cover
    from tests.fakebus_core import Failures, byte_view


class FakeI2CDevice:
    """Register-addressed I2C device. ``regs[reg] = bytes``; ``script(reg, *values)``
    queues values returned by successive reads of ``reg`` before falling back to
    ``regs``; ``on_write(reg, data)`` hook; ``writes`` logs (reg, bytes)."""

    def __init__(self, regs=None, on_write=None):
        self.regs = {k: bytes(v) for k, v in (regs or {}).items()}
        self._scripts = {}
        self.on_write = on_write
        self.writes = []

    def set16(self, reg, value):
        self.regs[reg] = (value & 0xFFFF).to_bytes(2, "big")

    def script(self, reg, *values):
        self._scripts.setdefault(reg, []).extend(bytes(v) for v in values)

    def read(self, reg, n):
        q = self._scripts.get(reg)
        data = q.pop(0) if q else self.regs.get(reg, b"\xff" * n)
        return (bytes(data) + b"\xff" * n)[:n]

    def write(self, reg, data):
        data = bytes(data)
        self.writes.append((reg, data))
        self.regs[reg] = data
        if self.on_write is not None:
            self.on_write(reg, data)


class FakeI2C(Failures):
    """Fake of ``machine.I2C`` (memory-register subset plus raw reads/writes)."""

    def __init__(self, id=1, *, freq=400000, scl=None, sda=None):
        super().__init__()
        self.id = id
        self.freq = freq
        self.devices = {}
        self.log = []  # ("w"|"r", addr, reg or None, bytes)

    def attach(self, addr, device):
        self.devices[addr] = device
        return device

    def _dev(self, addr):
        self._maybe_fail()
        dev = self.devices.get(addr)
        if dev is None:
            raise OSError(errno.ENODEV, "ENODEV")  # address NACK, as MicroPython reports it
        return dev

    def scan(self):
        return sorted(self.devices)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        dev = self._dev(addr)
        mv = byte_view(buf)
        data = dev.read(memaddr, mv.nbytes)
        mv[:] = data
        self.log.append(("r", addr, memaddr, bytes(data)))

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf, addrsize=addrsize)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        dev = self._dev(addr)
        data = bytes(byte_view(buf))
        dev.write(memaddr, data)
        self.log.append(("w", addr, memaddr, data))

    def writeto(self, addr, buf, stop=True):
        dev = self._dev(addr)
        data = bytes(byte_view(buf))
        if data:
            dev.write(data[0], data[1:])
        self.log.append(("w", addr, None, data))
        return 1

    def writes(self, addr=None):
        return [(a, r, d) for (k, a, r, d) in self.log if k == "w" and (addr is None or a == addr)]
