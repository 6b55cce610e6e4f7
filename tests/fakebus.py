"""Fake MicroPython ``machine`` buses for CPython tests of the ``hal/real`` drivers.

They behave like the MicroPython objects the drivers are written against and record the
exact bytes on the wire:

* :class:`FakePin` -- ``value()``, ``__call__``, ``on/off``; records every level written;
  input pins are driven by the test through ``.level``.
* :class:`FakeSPI` -- full duplex: every byte clocked is logged as MOSI/MISO inside a
  :class:`SpiTransaction` delimited by the chip-select pin of an attached device. A
  device answers through ``exchange(mosi) -> miso``. Buffers are written as raw bytes
  whatever their item type (like MicroPython's buffer protocol: an ``array('H')`` of n
  items receives 2n bytes).
* :class:`FakeI2C` -- register devices by address; NACK (no device) raises
  ``OSError(ENODEV)`` as MicroPython does; every transfer is logged.
* :class:`FakeUART` -- ``timeout=0`` semantics: ``readinto`` returns None when empty,
  ``write`` accepts at most ``tx_space`` bytes.
* :class:`FakeWDT`, and :func:`make_fake_machine` building a ``machine`` module (to inject
  with ``monkeypatch.setitem(sys.modules, "machine", ...)``) that remembers what it made.

Any bus method raises the exceptions queued with ``fail_next`` first (error paths).
"""

import errno
import types

# ----------------------------------------------------------------------------- helpers


def byte_view(buf):
    """Writable/readable flat byte view of any buffer (array, bytearray, memoryview)."""
    mv = memoryview(buf)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


class _Failures:
    def __init__(self):
        self._queue = []

    def fail_next(self, exc=None, count=1):
        """The next ``count`` bus operations raise ``exc`` (default: OSError(EIO))."""
        for _ in range(count):
            self._queue.append(exc if exc is not None else OSError(errno.EIO, "EIO"))

    def _maybe_fail(self):
        if self._queue:
            raise self._queue.pop(0)


# ----------------------------------------------------------------------------- Pin


class FakePin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    ALT = 3
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id=None, mode=-1, pull=-1, *, value=None, **kwargs):
        self.id = id
        self.mode = mode
        self.pull = pull
        self.level = 1 if value is None else (1 if value else 0)
        self.history = []  # every level written, in order
        self._listeners = []

    def add_listener(self, fn):
        self._listeners.append(fn)

    def value(self, x=None):
        if x is None:
            return self.level
        self.level = 1 if x else 0
        self.history.append(self.level)
        for fn in self._listeners:
            fn(self, self.level)
        return None

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    high = on
    low = off

    def __repr__(self):
        return "FakePin(%r, level=%d)" % (self.id, self.level)


# ----------------------------------------------------------------------------- SPI


class SpiTransaction:
    """Bytes clocked while one chip select was low."""

    def __init__(self, name):
        self.name = name
        self.mosi = bytearray()
        self.miso = bytearray()
        self.closed = False

    def __repr__(self):
        return "<%s mosi=%s miso=%s>" % (self.name, self.mosi.hex(), self.miso.hex())


class SpiDevice:
    """Base fake SPI device: answers ``fill`` on MISO and remembers nothing."""

    def __init__(self, name, fill=0xFF):
        self.name = name
        self.fill = fill

    def begin(self):
        pass

    def exchange(self, mosi):
        return bytes([self.fill]) * len(mosi)

    def end(self):
        pass


class ScriptedSpiDevice(SpiDevice):
    """Answers with queued MISO bytes (``queue(b)``), then ``fill``."""

    def __init__(self, name, fill=0xFF):
        super().__init__(name, fill)
        self._miso = bytearray()

    def queue(self, data):
        self._miso += bytes(data)

    def exchange(self, mosi):
        n = len(mosi)
        out = bytes(self._miso[:n])
        del self._miso[:n]
        return out + bytes([self.fill]) * (n - len(out))


class FpgaRegDevice(SpiDevice):
    """Model of the payload FPGA register protocol (``hal/real/fpga.py``).

    ``regs`` maps address -> 32-bit value. ``on_write[addr](value)`` hooks run after a
    register is written. Reading address 0x7F returns bytes from ``stream`` (a bytearray
    the test or a hook fills). ``fill`` is driven on MISO during command/turnaround.
    """

    STREAM = 0x7F

    def __init__(self, name, regs=None):
        super().__init__(name, fill=0x00)
        self.regs = dict(regs or {})
        self.on_write = {}
        self.stream = bytearray()
        self.writes = []  # (addr, value) in order

    def begin(self):
        self._pos = 0  # bytes seen in this transaction
        self._addr = None
        self._write = False
        self._word = bytearray()
        self._out = bytearray()

    def _next_read_bytes(self):
        if self._addr == self.STREAM:
            chunk = bytes(self.stream[:4])
            del self.stream[:4]
            return chunk + b"\xee" * (4 - len(chunk))
        v = self.regs.get(self._addr, 0xDEADBEEF) & 0xFFFFFFFF
        self._addr = (self._addr + 1) & 0x7F
        return v.to_bytes(4, "big")

    def exchange(self, mosi):
        miso = bytearray()
        for b in mosi:
            if self._pos == 0:
                self._write = bool(b & 0x80)
                self._addr = b & 0x7F
                miso.append(self.fill)
            elif self._write:
                self._word.append(b)
                miso.append(self.fill)
                if len(self._word) == 4:
                    v = int.from_bytes(self._word, "big")
                    self._word = bytearray()
                    a = self._addr
                    self.regs[a] = v
                    self.writes.append((a, v))
                    self._addr = (a + 1) & 0x7F
                    hook = self.on_write.get(a)
                    if hook is not None:
                        hook(v)
            elif self._pos == 1:
                miso.append(self.fill)  # turnaround
            else:
                if not self._out:
                    self._out = bytearray(self._next_read_bytes())
                miso.append(self._out.pop(0))
            self._pos += 1
        return bytes(miso)


class FakeSPI(_Failures):
    """Full-duplex fake of ``machine.SPI``."""

    def __init__(
        self,
        id=1,
        baudrate=1000000,
        *,
        polarity=0,
        phase=0,
        bits=8,
        firstbit=0,
        sck=None,
        mosi=None,
        miso=None,
    ):
        super().__init__()
        self.id = id
        self.baudrate = baudrate
        self.polarity = polarity
        self.phase = phase
        self.bits = bits
        self.transactions = []
        self._devices = {}
        self._active = None  # (pin, device, transaction)

    # -- wiring -------------------------------------------------------------------
    def attach(self, cs, device):
        """Connect ``device`` with chip select ``cs`` (a FakePin, active low)."""
        self._devices[id(cs)] = device
        cs.add_listener(self._on_cs)
        return device

    def _on_cs(self, pin, level):
        dev = self._devices[id(pin)]
        if level == 0:
            if self._active is not None and self._active[0] is not pin:
                raise AssertionError(
                    "two chip selects low at once: %s, %s" % (self._active[1].name, dev.name)
                )
            if self._active is None:
                txn = SpiTransaction(dev.name)
                self.transactions.append(txn)
                dev.begin()
                self._active = (pin, dev, txn)
        elif self._active is not None and self._active[0] is pin:
            self._active[2].closed = True
            dev.end()
            self._active = None

    def _xfer(self, mosi):
        self._maybe_fail()
        if self._active is None:
            txn = SpiTransaction(None)  # clocked with no chip select: a driver bug
            txn.mosi += mosi
            txn.miso += b"\xff" * len(mosi)
            txn.closed = True
            self.transactions.append(txn)
            return b"\xff" * len(mosi)
        _, dev, txn = self._active
        miso = bytes(dev.exchange(bytes(mosi)))
        assert len(miso) == len(mosi)
        txn.mosi += mosi
        txn.miso += miso
        return miso

    # -- machine.SPI API ----------------------------------------------------------
    def init(self, baudrate=1000000, *, polarity=0, phase=0, **kwargs):
        self.baudrate = baudrate
        self.polarity = polarity
        self.phase = phase

    def deinit(self):
        pass

    def write(self, buf):
        self._xfer(bytes(byte_view(buf)))
        return None

    def readinto(self, buf, write=0x00):
        mv = byte_view(buf)
        mv[:] = self._xfer(bytes([write]) * mv.nbytes)
        return None

    def read(self, nbytes, write=0x00):
        return self._xfer(bytes([write]) * nbytes)

    def write_readinto(self, write_buf, read_buf):
        w = bytes(byte_view(write_buf))
        r = byte_view(read_buf)
        assert len(w) == r.nbytes, "write_readinto buffers must have the same length"
        r[:] = self._xfer(w)
        return None

    # -- test helpers -------------------------------------------------------------
    def log(self, name=None):
        """Closed transactions as (name, mosi bytes, miso bytes), optionally filtered."""
        return [
            (t.name, bytes(t.mosi), bytes(t.miso))
            for t in self.transactions
            if name is None or t.name == name
        ]

    def mosi(self, name=None):
        """MOSI bytes of each transaction (optionally of one device only)."""
        return [bytes(t.mosi) for t in self.transactions if name is None or t.name == name]

    def clear(self):
        self.transactions = []


# ----------------------------------------------------------------------------- I2C


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


class FakeI2C(_Failures):
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


# ----------------------------------------------------------------------------- UART


class FakeUART(_Failures):
    """Fake of ``machine.UART`` with ``timeout=0``: never waits."""

    def __init__(
        self,
        id=0,
        baudrate=9600,
        bits=8,
        parity=None,
        stop=1,
        *,
        tx=None,
        rx=None,
        txbuf=None,
        rxbuf=None,
        timeout=None,
        timeout_char=None,
        invert=None,
    ):
        super().__init__()
        self.id = id
        self.baudrate = baudrate
        self.bits = bits
        self.parity = parity
        self.stop = stop
        self.txbuf = txbuf
        self.rxbuf = rxbuf
        self.timeout = timeout
        self.timeout_char = timeout_char
        self.rx = bytearray()
        self.tx = bytearray()
        self.tx_space = None  # None: unlimited; else bytes accepted per write call

    def feed(self, data):
        """Bytes arriving from the OBC."""
        self.rx += bytes(data)

    def any(self):
        self._maybe_fail()
        return len(self.rx)

    def readinto(self, buf, nbytes=None):
        self._maybe_fail()
        mv = byte_view(buf)
        n = mv.nbytes if nbytes is None else min(nbytes, mv.nbytes)
        n = min(n, len(self.rx))
        if n == 0:
            return None  # MicroPython: timeout with nothing read
        mv[:n] = self.rx[:n]
        del self.rx[:n]
        return n

    def read(self, nbytes=None):
        self._maybe_fail()
        if not self.rx:
            return None
        n = len(self.rx) if nbytes is None else min(nbytes, len(self.rx))
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out

    def write(self, buf):
        self._maybe_fail()
        data = bytes(byte_view(buf))
        n = len(data) if self.tx_space is None else min(self.tx_space, len(data))
        if n == 0 and data:
            return None  # MicroPython: timeout with nothing written
        self.tx += data[:n]
        return n


# ----------------------------------------------------------------------------- WDT


class FakeWDT:
    def __init__(self, *, id=0, timeout=5000):
        self.id = id
        self.timeout = timeout
        self.feeds = 0

    def feed(self):
        self.feeds += 1


# ----------------------------------------------------------------------------- machine


def make_fake_machine(reset_cause=1):
    """A fake ``machine`` module; ``m.created[kind]`` lists the objects it made
    (``m.created["Pin"]`` maps pin id -> FakePin)."""
    m = types.ModuleType("machine")
    m.created = {"SPI": [], "I2C": [], "UART": [], "Pin": {}, "WDT": []}
    # Reset-cause values as on the stm32 port (machine.pyi).
    m.SOFT_RESET = 0
    m.PWRON_RESET = 1
    m.HARD_RESET = 2
    m.WDT_RESET = 3
    m.DEEPSLEEP_RESET = 4
    m._reset_cause = reset_cause

    class Pin(FakePin):
        def __init__(self, id=None, *args, **kwargs):
            super().__init__(id, *args, **kwargs)
            m.created["Pin"][id] = self

    class SPI(FakeSPI):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            m.created["SPI"].append(self)

    class I2C(FakeI2C):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            m.created["I2C"].append(self)

    class UART(FakeUART):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            m.created["UART"].append(self)

    class WDT(FakeWDT):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            m.created["WDT"].append(self)

    m.Pin = Pin
    m.SPI = SPI
    m.I2C = I2C
    m.UART = UART
    m.WDT = WDT
    m.reset_cause = lambda: m._reset_cause
    return m
