"""Fake MicroPython ``machine.UART`` for CPython tests of the hal/real drivers.

:class:`FakeUART` -- ``timeout=0`` semantics: ``readinto`` returns None when empty,
``write`` accepts at most ``tx_space`` bytes. Any method raises the exceptions queued
with ``fail_next`` first (error paths)."""

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    from fakebus_core import Failures, byte_view
except ImportError:  # pragma: no cover
    from tests.fakebus_core import Failures, byte_view


class FakeUART(Failures):
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
