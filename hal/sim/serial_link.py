"""BusLink over a serial device path (a pty in tests and benches, or a USB-serial
adapter): the simulated payload talks COBS-framed TC/TM with a real ground tool.

CPython only (uses ``os``/``termios``); the flight code sees the same non-blocking
``read_into`` / ``write`` as on the board's UART.

``baud`` with ``clock`` (the board's): the TX line drains at baud/10 octets per second of
the board's time (8N1), as the UART to the OBC does — a pty would take anything at once,
which hides telemetry starvation (issue 12 item 8); what the line does not take waits in
the flight software's TM queue.  Without them the pty's own pace applies.
"""

import errno
import os

from hal.errors import BusError


class SerialLink:
    def __init__(self, path, baud=None, clock=None):
        self.path = path
        self.clock = clock if baud else None
        self.octets_per_s = (baud or 0) // 10
        self._t0 = clock.elapsed_us if self.clock is not None else 0
        self._credit_sent = 0
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as e:
            raise BusError("cannot open %s: %s" % (path, e.strerror))
        if os.isatty(self.fd):
            import termios
            import tty

            tty.setraw(self.fd, termios.TCSANOW)
        self.rx_bytes = 0
        self.tx_bytes = 0

    def init(self):
        pass

    def read_into(self, buf):
        try:
            data = os.read(self.fd, len(buf))
        except BlockingIOError:
            return 0
        except OSError as e:
            if e.errno == errno.EIO:  # pty: no writer attached at the other end yet/anymore
                return 0
            raise BusError("read %s: %s" % (self.path, e.strerror))
        n = len(data)
        buf[:n] = data
        self.rx_bytes += n
        return n

    def write(self, data):
        if self.clock is not None:
            # the line's allowance since the start, capped at one 20 ms tick of idle credit
            # (a UART does not bank the time it was idle)
            line = (self.clock.elapsed_us - self._t0) * self.octets_per_s // 1000000
            cap = self.octets_per_s // 50
            if line - self._credit_sent > cap:
                self._credit_sent = line - cap
            room = line - self._credit_sent
            if room <= 0:
                return 0
            data = data[:room]
        try:
            n = os.write(self.fd, data)
        except BlockingIOError:
            return 0
        except OSError as e:
            if e.errno == errno.EIO:
                return len(data)  # nobody listening: the bytes are lost, like on a wire
            raise BusError("write %s: %s" % (self.path, e.strerror))
        self.tx_bytes += n
        self._credit_sent += n
        return n

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass
