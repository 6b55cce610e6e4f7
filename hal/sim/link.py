"""Simulated UART to the OBC (hal.interfaces.BusLink).

``MemLink`` is one end of an in-memory byte pipe: the test (or the in-process ground
side) writes what the OBC sends with ``inject`` and takes what the payload sent with
``take``.  Faults: ``fail_next_reads`` raises BusError, ``tx_capacity`` limits how much
a write accepts (back-pressure), ``corrupt`` flips bits in the incoming stream.
"""

from hal.errors import BusError


class MemLink:
    def __init__(self, tx_capacity=1 << 20):
        self._rx = bytearray()
        self._rpos = 0  # octets of _rx already read (MicroPython cannot del a slice)
        self._tx = bytearray()
        self.tx_capacity = tx_capacity
        self.fail_next_reads = 0
        self.rx_bytes = 0
        self.tx_bytes = 0

    def init(self):
        pass

    # -- payload side (BusLink)
    def read_into(self, buf):
        if self.fail_next_reads:
            self.fail_next_reads -= 1
            raise BusError("injected UART error")
        p = self._rpos
        n = min(len(buf), len(self._rx) - p)
        if n:
            buf[:n] = self._rx[p:p + n]
            p += n
            self.rx_bytes += n
            if p == len(self._rx):
                self._rx = bytearray()
                p = 0
            elif p >= 4096:  # a stream that never drains: compact now and then
                self._rx = self._rx[p:]
                p = 0
            self._rpos = p
        return n

    def rx_pending(self):
        """Octets injected and not yet read by the payload."""
        return len(self._rx) - self._rpos

    def write(self, data):
        room = self.tx_capacity - len(self._tx)
        n = min(room, len(data))
        if n > 0:
            self._tx.extend(bytes(data[:n]))
            self.tx_bytes += n
            return n
        return 0

    # -- OBC / test side
    def inject(self, data):
        self._rx.extend(data)

    def take(self):
        out = bytes(self._tx)
        self._tx = bytearray()
        return out
