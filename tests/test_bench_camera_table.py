"""bench/camera_table.py: the simulated camera's noise table against independent pixels
(docs/physics-platform.md "The noise table")."""

import json
import math

import pytest

from bench import camera_table as ct


def test_the_factor_is_the_tables_correlation_seen_through_the_weights():
    alternating = [1.0, -1.0] * 8  # lag-1 autocorrelation -1
    # two neighbours summed cancel; differenced they add: sqrt(4 / 2)
    assert ct._factor(alternating, [0, 1], [1.0, 1.0]) == pytest.approx(0.0)
    assert ct._factor(alternating, [0, 1], [1.0, -1.0]) == pytest.approx(math.sqrt(2.0))
    # pixels an even lag apart see a constant table: the weights' sum squared over their
    # squares
    assert ct._factor(alternating, [0, 2], [1.0, 1.0]) == pytest.approx(math.sqrt(2.0))


def test_an_independent_table_reads_as_documented_and_the_cameras_reads_one():
    f = ct.factors(5, iid=True)
    assert set(f) == {"spot_x", "spot_y", "background_x", "background_y"}
    assert all(0.85 < v < 1.15 for v in f.values()), f
    # seed 5's independent draw: ~0.96 / 1.05 for the spot, the y sums noisier than the x
    assert f["spot_y"] - f["spot_x"] > 0.05
    assert f["background_y"] > f["background_x"]
    # the camera's flat table from the same draws: independent pixels' noise, 1 + 1/(N - 1)
    g = ct.factors(5)
    assert all(abs(v - 1.0) < 0.0005 for v in g.values()), g


def test_the_command_line_prints_the_spread(capsys):
    assert ct.main(["--seeds", "2", "--iid"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["seeds"] == 2 and set(data["per_seed"]) == {"1", "2"}
    assert data["table"] == "independent"
    s = data["spread"]["spot_x"]
    assert s["min"] <= s["mean"] <= s["max"]
    with pytest.raises(SystemExit):
        ct.main(["--seeds", "0"])
