"""BusLink over a serial device path (a pty in tests and benches, or a USB-serial
adapter): the simulated payload talks COBS-framed TC/TM with a real ground tool.

CPython only (uses ``os``/``termios``); the flight code sees the same non-blocking
``read_into`` / ``write`` as on the board's UART.
"""

import errno
import os

from hal.errors import BusError


class SerialLink:
    def __init__(self, path, baud=None):
        self.path = path
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
        try:
            n = os.write(self.fd, data)
        except BlockingIOError:
            return 0
        except OSError as e:
            if e.errno == errno.EIO:
                return len(data)  # nobody listening: the bytes are lost, like on a wire
            raise BusError("write %s: %s" % (self.path, e.strerror))
        self.tx_bytes += n
        return n

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass
