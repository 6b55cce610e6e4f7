"""Fake MicroPython ``machine.SPI`` and SPI devices for CPython tests of the hal/real
drivers.

* :class:`FakeSPI` -- full duplex: every byte clocked is logged as MOSI/MISO inside a
  :class:`SpiTransaction` delimited by the chip-select pin (a
  :class:`fakebus_pin.FakePin`) of an attached device. A device answers through
  ``exchange(mosi) -> miso``. Buffers are written as raw bytes whatever their item type.
* Devices: :class:`SpiDevice` (answers ``fill``), :class:`ScriptedSpiDevice` (queued
  replies), :class:`FpgaRegDevice` (the payload FPGA register protocol).

Any bus method raises the exceptions queued with ``fail_next`` first (error paths)."""

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    from fakebus_core import Failures, byte_view
except ImportError:  # pragma: no cover
    from tests.fakebus_core import Failures, byte_view


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


class FakeSPI(Failures):
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
