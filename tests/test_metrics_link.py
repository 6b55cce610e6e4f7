"""The link and re-acquisition figures of a pass (sim/run/metrics_link.py)."""

from sim.run import metrics_link

TRACK, ACQUIRE = 3, 2


def frames(*rows):
    return [(t, apt, vis) for t, apt, vis in rows]


def test_reacquisition_counts_from_the_loss_or_the_beacon_s_return():
    f = frames((0.0, TRACK, True), (1.0, ACQUIRE, True), (1.5, TRACK, True),  # lost 0.5 s
               (2.0, ACQUIRE, False), (3.0, ACQUIRE, True), (3.25, TRACK, True))  # beacon back
    assert metrics_link.reacquisitions(f, 0, 1, 2, TRACK) == [0.5, 0.25]


def test_track_regained_with_the_beacon_out_of_view_is_no_reacquisition():
    """A light taken before the beacon is on (scenario city-lights): TRACK left for a
    brighter spot and regained while the beacon is still out of view is not a
    re-acquisition of it (until stop 58 it raised TypeError: the pass's figures lost)."""
    f = frames((0.0, TRACK, False), (1.0, ACQUIRE, False), (1.1, TRACK, False),
               (2.0, TRACK, True))
    assert metrics_link.reacquisitions(f, 0, 1, 2, TRACK) == []
