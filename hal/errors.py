"""Errors raised by the hardware abstraction layer.

Every backend (``hal/real``, ``hal/sim``) raises only these for *hardware* trouble, so flight
code can contain a device failure with one ``except HalError`` and tell the kinds apart
for FDIR:

    HalError                 any hardware-side failure (never raised bare by a driver)
    +-- BusError             the transfer itself failed: I2C NACK, SPI/UART timeout, an
    |                        ``OSError`` from ``machine``, a corrupt frame (bad tag/marker),
    |                        a device that does not answer at all
    +-- SensorError          the device answered but the value cannot be trusted:
    |                        out of the physically plausible range, "no conversion yet"
    |                        marker, identity (ID register) mismatch, configuration that
    |                        does not read back
    +-- DeviceFault          the device reports a fault of its own: FSM driver fault line,
    |                        FPGA FAULT / PLL-unlocked status, camera sensor error
    +-- StorageError         the file system failed (not: a blob that does not exist)

Programming errors -- an argument outside the documented range (a DAC code above full
scale, a window outside the sensor, an unknown switch) -- raise ``ValueError`` and are
*not* HalErrors: flight code clamps its commands before calling the HAL, so such a
``ValueError`` is a bug, not a hardware event.

MicroPython-compatible: plain classes, no attributes beyond ``args``.
"""


class HalError(Exception):
    """Base class of every hardware failure reported by the HAL. ``args[0]`` is a short
    human-readable message naming the device (e.g. ``"tmp117@0x48: I2C error 19"``)."""


class BusError(HalError):
    """A bus transfer failed (NACK, timeout, OSError from ``machine``, corrupt framing,
    device not answering)."""


class SensorError(HalError):
    """A device answered, but its value or identity is implausible."""


class DeviceFault(HalError):
    """A device reports a fault condition of its own."""


class StorageError(HalError):
    """The non-volatile storage failed (I/O error, full, bad name on disk)."""
