"""UART link to the satellite OBC over ``machine.UART`` (non-blocking both ways).

The UART must be created with ``timeout=0, timeout_char=0`` and ring buffers large enough
for one scheduler period (``rxbuf``/``txbuf``, see ``board.py``): at 115200 baud the OBC
can send ~230 bytes per 20 ms ``tc`` period.
"""

from hal.interfaces import BusLink
from hal.real._util import bus_error

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from _mpy_shed import AnyReadableBuf, AnyWritableBuf  # noqa: F401
    from machine import UART  # noqa: F401


class UartLink(BusLink):
    """:class:`hal.interfaces.BusLink` on a ``machine.UART``."""

    def __init__(self, uart, name="uart"):
        # type: (UART, str) -> None
        self.name = name
        self._uart = uart

    def init(self):
        # type: () -> None
        """Nothing to configure beyond the constructor; the receive buffer is kept."""
        return None

    def read_into(self, buf):
        # type: (AnyWritableBuf) -> int
        uart = self._uart
        try:
            n = uart.any()
            if n <= 0:
                return 0
            if n > len(buf):
                n = len(buf)
            got = uart.readinto(buf, n)
        except OSError as e:
            raise bus_error(self.name, "UART read", e)  # noqa: B904
        return 0 if got is None else got

    def write(self, data):
        # type: (AnyReadableBuf) -> int
        if not len(data):
            return 0
        try:
            n = self._uart.write(data)
        except OSError as e:
            raise bus_error(self.name, "UART write", e)  # noqa: B904
        return 0 if n is None else n
