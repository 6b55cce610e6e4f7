"""The camera driver's stream header as a MicroPython viper kernel (hal/real/camera.py).

Every TRACK frame's read ends in the stream's 16-octet header: its tag and the age word's
reserved half checked, the frame counter, exposure, gain and the frame's age at the latch
into the caller's meta, the BAD_FRAME flag.  As bytecode those ~25 operations (before the
age word) cost ~5 k instructions on the Cortex-M7 image, on the APT's path to the mirror;
as one viper call ~1 k (``python -m bench.apt_tick_m7`` ``board_read_roi``).
Ports without a native emitter refuse the decorator and CPython has no ``micropython``
module: the driver then uses the plain-Python twin (``hal.real.camera.stream_header_py``:
the same results, tests/test_hal_real_spi_camera.py and tests/mpy/test_hal_interfaces_mpy.py).
Every value stored is below 2**30 and non-negative: a small int on every port.
"""

import micropython


@micropython.viper
def stream_header(hdr, meta) -> int:
    """See hal.real.camera.stream_header_py (the tag's octets 0x56 0x43, the age word's
    reserved octets 12 and 13, FLAG_BAD_FRAME bit 0 of octet 9: literals, as viper code
    reads no other module's constants)."""
    h = ptr8(hdr)  # type: ignore[name-defined]  # noqa: F821  (viper built-in)
    if h[0] != 0x56 or h[1] != 0x43 or h[12] != 0 or h[13] != 0:
        return -1
    # (``meta`` is an object: a list or an array('i'), hal/contracts.py; each int stored
    # is boxed, a small int below 2**30: nothing allocated)
    meta[0] = (h[2] << 8) | h[3]
    meta[1] = ((h[4] & 0x3F) << 24) | (h[5] << 16) | (h[6] << 8) | h[7]
    meta[2] = (h[10] << 8) | h[11]
    meta[3] = (h[14] << 8) | h[15]
    if h[9] & 1:
        return 0
    return 1
