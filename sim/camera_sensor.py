"""The reference beacon camera's numbers (DESIGN §5; hal/interfaces.py Camera: onsemi
PYTHON 1300), each with its source or marked assumed.  The camera model (sim/camera.py)
renders frames with them and re-exports every name.

MicroPython-clean: constants only.
"""

SENSOR_W = 1280  # DESIGN §5: 1280 x 1024 px
SENSOR_H = 1024  # DESIGN §5
IFOV_RAD = 100e-6  # DESIGN §5: ~100 urad per pixel
# The world's frame period is the board's (hal/interfaces.py CAMERA_FRAME_PERIOD_US: the
# payload configures its sensor to it); DESIGN §5's reference rate:
REFERENCE_FRAME_RATE_HZ = 100.0
# hal/interfaces.py Camera: reference sensor onsemi PYTHON 1300, 10-bit pixels (0..1023).
ADC_BITS = 10
ADC_MAX = (1 << ADC_BITS) - 1
# Assumed: black-level offset so that read noise is not clipped at 0 DN.
OFFSET_DN = 32
# Assumed: full well 10 ke- (4.8 um global-shutter pixel class).
FULL_WELL_E = 10000.0
# Assumed: conversion gain at unity analog gain; the 10 ke- full well (1000 DN + offset)
# just exceeds the ADC range, so a saturated pixel reads 1023 at any gain.
DN_PER_E = 0.1
# hal/interfaces.py Camera: analog gain 1.0 .. 8.0 in steps of 1/16, exposure 10 .. 9000 us.
GAIN_MIN = 1.0
GAIN_MAX = 8.0
EXPOSURE_MIN_S = 10e-6
EXPOSURE_MAX_S = 9e-3
READ_NOISE_E = 10.0  # assumed: global-shutter CMOS read noise, e- RMS (1 DN at unity gain)
DARK_E_S = 50.0  # assumed: dark current per pixel at the payload temperature
# Assumed: night sky + stray light through the 671 nm filter, per pixel.
BACKGROUND_E_S = 2000.0
# Assumed: spot sigma of 1 px (100 urad) - the camera is slightly defocused so the spot
# spans a few pixels and the centroid interpolates; a diffraction-limited 671 nm spot
# (~40 urad for a 20 mm aperture) would be under-sampled and pixel-locked.
SPOT_SIGMA_PX = 1.0
# Assumed: 1.5e-4 of the pixels are hot (~197 on the sensor), dark rate log-uniform in
# 2e4 ... 1e6 e-/s (2 ... 100 DN at 1 ms, 18 ... 900 DN at 9 ms, unity gain).
HOT_PIXEL_FRACTION = 1.5e-4
HOT_RATE_MIN_E_S = 2e4
HOT_RATE_MAX_E_S = 1e6
# Beacon: electrons per second in the whole spot at the reference range, transmission 1.
# Assumed: chosen so that at zenith (560 km), 1 ms exposure and unity gain the spot peak is
# ~470 DN (mid-scale), leaving x9 headroom in exposure (and x8 in gain) for the received
# power falling by ~x10 over the pass (paper App. A) and 2x before saturation.
BEACON_FLUX_REF_E_S = 3.0e7
RANGE_REF_M = 560e3  # DESIGN §5: h = 560 km, the zenith range
DEFAULT_EXPOSURE_S = 1e-3  # assumed start-up exposure
