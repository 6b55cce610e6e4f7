"""Fake MicroPython ``machine.Pin`` for CPython tests of the hal/real drivers.

:class:`FakePin` -- ``value()``, ``__call__``, ``on/off``; records every level written;
input pins are driven by the test through ``.level``; listeners (a fake SPI bus) see
every level written, which is how a chip select frames a transaction."""


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
