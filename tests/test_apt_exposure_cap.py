"""The auto-exposure's cap (`apt_exp_max_us`, flight/apt_exposure.py): an exposure over it
is traded down for gain, whatever set it (SEARCH hands TRACK its own exposure of up to
4.3 ms; an operator lowers the cap in a pass).  Until stop 64 the cap held only on the way
up, and a pass that entered TRACK at SEARCH's exposure kept it (docs/apt-loop.md §6)."""

from flight.apt_exposure import EXPOSURES_US, GAINS_X16, Exposure
from hal.errors import HalError
from hal.interfaces import APT_TRACK

TOP_GAIN = len(GAINS_X16) - 1


class _Cam:
    exposure_max_us = 5000
    pixel_max = 1023

    def __init__(self):
        self.us = None
        self.gain = None
        self.refuse_gain = False

    def set_exposure(self, us):
        self.us = us
        return us

    def set_gain(self, g):
        if self.refuse_gain:
            raise HalError("gain write refused")
        self.gain = g
        return g


def _idx(us):
    return list(EXPOSURES_US).index(us)


def _signal(e):
    """exposure x gain (µs): what the spot's peak scales with."""
    return EXPOSURES_US[e.idx] * GAINS_X16[e.gain] / 16


def _search_handover(e, gain):
    """What SEARCH leaves in fog: its longest exposure, the gain raised."""
    e.set(_idx(4305))
    e.raise_gain(gain, TOP_GAIN)


def _capped_with_errors(cap=2153, gain=1):
    """An exposure capped at ``cap`` after SEARCH's hand-over; its camera errors listed."""
    cam = _Cam()
    e = Exposure(cam)
    errors = []
    e.on_error = errors.append
    e.configure(cap)
    _search_handover(e, gain)
    return cam, e, errors


def _frames(e, n, peak=500):
    """n valid frames with the peak in the band, called as the tick calls update()."""
    for _ in range(n):
        if e.wait or not 250 <= peak <= 750:
            e.update(peak, 250, 750)


def test_an_exposure_over_the_cap_is_traded_for_gain_with_the_signal_kept():
    cam = _Cam()
    e = Exposure(cam)
    e.configure(2153)
    _search_handover(e, 3)
    before = _signal(e)
    assert e.wait, "the tick must be told to call update(): the exposure is over the cap"
    _frames(e, 40)
    assert EXPOSURES_US[e.idx] == 2153 == cam.us
    assert e.gain == 3 + (_idx(4305) - _idx(2153)) and cam.gain == GAINS_X16[e.gain] / 16
    assert abs(_signal(e) / before - 1) < 0.01
    assert e.wait == 0  # settled: no update() on in-band frames any more


def test_a_cap_lowered_in_track_takes_effect_without_a_peak_out_of_band():
    e = Exposure(_Cam())
    e.configure(9000)
    _search_handover(e, 2)
    _frames(e, 40)
    assert EXPOSURES_US[e.idx] == 4305  # the camera's longest under 5 ms: no cap
    e.configure(3044)  # PARAM_SET apt_exp_max_us in TRACK
    _frames(e, 40)
    assert EXPOSURES_US[e.idx] == 3044 and e.gain == 4


def test_at_the_top_gain_the_exposure_stays_over_the_cap():
    e = Exposure(_Cam())
    e.configure(2153)
    _search_handover(e, TOP_GAIN - 1)
    _frames(e, 40)
    assert e.gain == TOP_GAIN and EXPOSURES_US[e.idx] == 3620  # one trade, then no gain left
    assert e.wait == 0


def test_no_trade_on_a_saturated_frame_and_the_saturation_still_counted():
    e = Exposure(_Cam())
    e.configure(2153)
    _search_handover(e, 1)
    idx = e.idx
    e.update(1023, 250, 750)  # the wait runs out on a saturated frame: no trade on it
    assert e.idx == idx
    _frames(e, 1, peak=1023)  # a saturated frame: the usual way down, counted
    assert e.saturated == 1 and _signal(e) < EXPOSURES_US[idx] * GAINS_X16[1] / 16
    _frames(e, 40)
    assert EXPOSURES_US[e.idx] <= 2153


def test_a_refused_gain_write_is_reported_and_the_exposure_kept():
    cam, e, errors = _capped_with_errors()
    cam.refuse_gain = True
    idx = e.idx
    _frames(e, 10)
    assert e.idx == idx and EXPOSURES_US[e.idx] == cam.us  # flight and camera agree
    assert len(errors) == 1 and isinstance(errors[0], HalError)


def test_the_default_cap_changes_nothing():
    e = Exposure(_Cam())
    e.configure(9000)
    _search_handover(e, 4)
    assert e.wait == 0
    _frames(e, 40)
    assert EXPOSURES_US[e.idx] == 4305 and e.gain == 4


def test_a_pass_flown_with_the_cap_tracks_at_it():
    """The closed loop: SEARCH in fog leaves 4.3 ms with the gain raised; with the cap at
    2 153 µs TRACK flies at it, the gain four steps higher, the spot held."""
    from sim.run import passsim

    def fly(params):
        apps = []
        passsim.fly("nominal", seed=2, app_hook=apps.append, duration_s=27.0,
                    overrides={"weather": "fog", "boot_params": params})
        return apps[0].payload["apt"]

    free = fly({})
    capped = fly({"apt_exp_max_us": 2153})
    assert free.state == capped.state == APT_TRACK
    assert EXPOSURES_US[free.exposure.idx] == 4305
    assert EXPOSURES_US[capped.exposure.idx] == 2153
    assert capped.exposure.gain == free.exposure.gain + 4
    assert capped.camera_errors == 0 and capped.valid_frames > 2000


def test_a_refused_exposure_write_ends_the_trades_without_climbing_the_gain():
    cam, e, errors = _capped_with_errors()

    def refuse(us):
        raise HalError("exposure write refused")

    cam.set_exposure = refuse
    _frames(e, 20)
    assert EXPOSURES_US[e.idx] == 4305 and e.gain == 2  # one gain step, then no more
    assert len(errors) == 1 and e.wait == 0
