"""Import-only stand-in for MicroPython's `machine` module (no hardware in the VM).

Used only to check that hal/real modules compiled to .mpy load in the VM; every method
raises, so nothing can silently pretend to talk to hardware.
"""


class _NoHardware:
    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise OSError("no hardware in the MicroPython test VM")

        return fail


class Pin(_NoHardware):
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2


class SPI(_NoHardware):
    MSB = 0
    LSB = 1


class SoftSPI(SPI):
    pass


class I2C(_NoHardware):
    pass


class SoftI2C(I2C):
    pass


class UART(_NoHardware):
    pass


class WDT(_NoHardware):
    pass


class ADC(_NoHardware):
    pass


class Timer(_NoHardware):
    pass


def reset():
    raise OSError("no hardware in the MicroPython test VM")


def reset_cause():
    return 0


def unique_id():
    return b"\x00" * 8


PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
