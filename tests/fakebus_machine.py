"""A fake MicroPython ``machine`` module for CPython tests of hal/real/board.py and
watchdog.py.

:class:`FakeWDT`, and :func:`make_fake_machine` building a ``machine`` module (to inject
with ``monkeypatch.setitem(sys.modules, "machine", ...)``) whose Pin, SPI, I2C, UART
and WDT are the fakes of tests/fakebus_*.py and which remembers what it made."""

import types

try:  # tests/ on sys.path (pytest rootdir-less import) or the repository root
    import pcu_board
    from fakebus_i2c import FakeI2C
    from fakebus_pin import FakePin
    from fakebus_spi import FakeSPI
    from fakebus_uart import FakeUART
except ImportError:  # pragma: no cover
    from tests import pcu_board
    from tests.fakebus_i2c import FakeI2C
    from tests.fakebus_pin import FakePin
    from tests.fakebus_spi import FakeSPI
    from tests.fakebus_uart import FakeUART


class FakeWDT:
    def __init__(self, *, id=0, timeout=5000):
        self.id = id
        self.timeout = timeout
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class _CpuPins:
    """``machine.Pin.cpu`` of the payload computer's image: an attribute per CPU pin
    its pins.csv makes available (the value: the name, so ``created["Pin"]`` stays keyed
    by it); any other is an AttributeError, as on the board.  ``looked_up`` lists the
    names asked for."""

    def __init__(self, names):
        self._names = frozenset(names)
        self.looked_up = []

    def __getattr__(self, name):
        if name.startswith("_") or name not in self._names:
            raise AttributeError(name)
        self.looked_up.append(name)
        return name


def _bus_check(kind, defined):
    """The stm32 port's refusal of a bus its board does not define."""
    def check(id):
        if (kind, id) not in defined:
            raise ValueError("%s(%d) doesn't exist" % (kind, id))
    return check


def make_fake_machine(reset_cause=1):
    """A fake ``machine`` module of the payload computer's image (tests/pcu_board.py:
    the SPI, I2C and UART buses its board definition defines, ``Pin.cpu`` its available
    CPU pins); ``m.created[kind]`` lists the objects it made (``m.created["Pin"]`` maps
    pin id -> FakePin)."""
    m = types.ModuleType("machine")
    m.created = {"SPI": [], "I2C": [], "UART": [], "Pin": {}, "WDT": [], "Timer": []}
    defined = pcu_board.buses()
    spi_ok, i2c_ok, uart_ok = (_bus_check(k, defined) for k in ("SPI", "I2C", "UART"))
    # Reset-cause values as on the stm32 port (machine.pyi).
    m.SOFT_RESET = 0
    m.PWRON_RESET = 1
    m.HARD_RESET = 2
    m.WDT_RESET = 3
    m.DEEPSLEEP_RESET = 4
    m._reset_cause = reset_cause

    class Pin(FakePin):
        cpu = _CpuPins(pcu_board.available_cpu_pins())

        def __init__(self, id=None, *args, **kwargs):
            super().__init__(id, *args, **kwargs)
            m.created["Pin"][id] = self

    class SPI(FakeSPI):
        def __init__(self, *args, **kwargs):
            spi_ok(args[0] if args else kwargs.get("id", 1))
            super().__init__(*args, **kwargs)
            m.created["SPI"].append(self)

    class I2C(FakeI2C):
        def __init__(self, *args, **kwargs):
            i2c_ok(args[0] if args else kwargs.get("id", 1))
            super().__init__(*args, **kwargs)
            m.created["I2C"].append(self)

    class UART(FakeUART):
        def __init__(self, *args, **kwargs):
            uart_ok(args[0] if args else kwargs.get("id", 1))
            super().__init__(*args, **kwargs)
            m.created["UART"].append(self)

    class WDT(FakeWDT):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            m.created["WDT"].append(self)

    class Timer:
        """``machine.Timer``: ``init(freq=, callback=)``, ``deinit()``; the test fires it."""

        def __init__(self, id=-1):
            self.id = id
            self.freq = None
            self.callback = None
            self.running = False
            m.created["Timer"].append(self)

        def init(self, freq=None, callback=None):
            self.freq = freq
            self.callback = callback
            self.running = True

        def deinit(self):
            self.running = False

        def fire(self):
            self.callback(self)

    m.Timer = Timer
    m.Pin = Pin
    m.SPI = SPI
    m.I2C = I2C
    m.UART = UART
    m.WDT = WDT
    m.reset_cause = lambda: m._reset_cause
    return m
