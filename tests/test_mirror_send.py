"""The APT tick's own delay in the honest world (docs/apt-loop.md §4 "The tick's own
delay"): a mirror command reaches the mirror after the tick's compute up to it and the
command latency; the earlier waveform plays until then.  And the pass runner's install of
it, with ``python -m sim --tick-send`` for a board slower or faster than modelled."""

from array import array

import pytest

from hal.interfaces import FSM_WAVE_PERIOD_US
from hal.sim.world import make_world
from sim.run import cli, costmodel, passsim

LATENCY_US = 500


def _world(send_us):
    w = make_world("nominal", seed=1, fine_us=1000, fsm_latency_us=LATENCY_US,
                   wave_timing="exact")  # (the board's tick: tests/test_apt_wave.py)
    w.board = None
    w.mirror_send_us = None if send_us is None else (lambda: send_us)
    return w


@pytest.mark.parametrize("send_us", [None, 0, 1168, 2500])
def test_a_waveform_starts_after_the_compute_and_the_latency(send_us):
    w = _world(send_us)
    w.fsm.play_wave(array("h", [10, 20, 30]), array("h", [0, 0, 0]), 3)
    t0 = LATENCY_US + (send_us or 0)
    assert [q[0] for q in w._fsm_q] == [t0 + i * FSM_WAVE_PERIOD_US for i in range(3)]


def test_the_earlier_waveform_plays_until_the_new_one_is_sent():
    w = _world(1168)
    w.fsm.play_wave(array("h", list(range(1, 21))), array("h", [0] * 20), 20)
    w.step(10000)  # the next frame's tick: samples due by 10 ms are out
    w.fsm.play_wave(array("h", [99] * 4), array("h", [99] * 4), 4)
    sent = 10000 + 1168 + LATENCY_US  # the new waveform's first sample reaches the mirror
    due = [q[0] for q in w._fsm_q]
    # the old samples due after this tick and up to the new send still play; none after
    first = 1168 + LATENCY_US
    old = [q[0] for q in w._fsm_q if q[1] != 99]
    assert old == [first + i * FSM_WAVE_PERIOD_US for i in range(20)
                   if 10000 < first + i * FSM_WAVE_PERIOD_US <= sent]
    assert len(old) == 2
    assert due[len(old):] == [sent + i * FSM_WAVE_PERIOD_US for i in range(4)]
    # (with the send at the tick, the same command would have dropped them all)
    w2 = _world(None)
    w2.fsm.play_wave(array("h", list(range(1, 21))), array("h", [0] * 20), 20)
    w2.step(10000)
    w2.fsm.play_wave(array("h", [99] * 4), array("h", [99] * 4), 4)
    assert [q[1] for q in w2._fsm_q if q[1] != 99] == [11]  # (the one the DAC outputs now)


def test_a_set_codes_command_leaves_after_the_compute_too():
    w = _world(1168)
    w.fsm.set_codes(123, -45)
    assert [q[:3] for q in w._fsm_q] == [(1168 + LATENCY_US, 123, -45)]


def _sent_by_apt(res):
    """The world's send time for a command the APT task would give now."""
    app = res.apps[-1]
    sched = app.sched
    sched.current = sched.task("apt")
    try:
        return res.world.mirror_send_us()
    finally:
        sched.current = None


def test_the_pass_runner_charges_the_declared_compute_to_the_apt_alone():
    res = passsim.fly("nominal", seed=1, duration_s=2.0)
    assert _sent_by_apt(res) == costmodel.MIRROR_SEND_US
    assert res.world.mirror_send_us() == 0  # (no task running: no compute before it)
    assert passsim.fly("nominal", seed=1, duration_s=2.0, ideal=True).world.mirror_send_us \
        is None


def test_tick_send_option_reaches_the_world():
    ov, err = cli.overrides_from(cli.build_parser().parse_args(["--tick-send", "1800"]))
    assert err is None and ov == {"tick_send_us": 1800}
    res = passsim.fly("nominal", seed=1, overrides=ov, duration_s=2.0)
    assert _sent_by_apt(res) == 1800


@pytest.mark.parametrize("argv", [["--tick-send", "-1"], ["--tick-send", "10001"],
                                  ["--tick-send", "900", "--ideal"]])
def test_tick_send_out_of_range_or_without_the_honest_world_is_a_usage_error(argv, capsys):
    assert cli.main(["--scenario", "nominal", "--quiet"] + argv) == 2
    assert "--tick-send" in capsys.readouterr().err


def test_the_boards_send_holds_the_buses_time_of_a_track_frame_and_sample_0():
    """On the board sample 0 waits for the TRACK frame's pixels on the FPGA's bus and its
    own frames on the mirror's (stop 50): the octets the real drivers move, at the board's
    rates."""
    from flight.apt import TRACK_WIN
    from hal.interfaces import SPI_FPGA_HZ, SPI_FSM_DAC_HZ
    from hal.real import camera, fsm

    # the camera driver's transfers for one frame: the window burst, the stream (2 +
    # header + the 8 x 8 window's pixels); no STATUS read while frames come (stop 63: the
    # 16 px window with the STATUS read was 553 octets, 179 µs)
    assert TRACK_WIN == 8
    assert camera.frame_octets(TRACK_WIN, TRACK_WIN) == 17 + 2 + 16 + 2 * 8 * 8 == 163
    assert fsm.SAMPLE_OCTETS == 12
    bus = 163 * 8 * 1000000 // SPI_FPGA_HZ + 12 * 8 * 1000000 // SPI_FSM_DAC_HZ
    assert costmodel.MIRROR_SEND_BUS_US == bus == 55
    # the board's send, the simulator's default since stop 51 (the lead and delay tuned
    # on it, docs/apt-loop.md §4 "The board's send"; 1 680 µs at stop 51, 1 569 at stop
    # 52's cheaper camera read, 1 279 since stop 53's kernels, 1 280 with the stream
    # header's age word, 1 066 since stop 63's window); the kit's, without the camera
    # driver and the buses, `python -m sim --tick-send 1242`
    assert costmodel.BOARD_SEND_US == round(costmodel.BOARD_SEND_INSTR / costmodel.MIPS) + bus
    assert costmodel.BOARD_SEND_US == 1066 == costmodel.MIRROR_SEND_US
    assert costmodel.KIT_SEND_US == 1242


def test_the_boards_bus_share_in_track():
    """bench.apt_tick_m7.bus_load: the TRACK frames' and waveform samples' bus time over
    the frame period (7 samples a 7 ms frame)."""
    from bench.apt_tick_m7 import bus_load

    # (the frame's 163 octets since stop 63; 553 with the 16 px window and the STATUS
    # read: 0.0291 at 7 ms)
    want = (163 * 8 / 25e6 + 7 * 12 * 8 / 25e6) / 7e-3
    assert bus_load(7000)["apt_tick_m7_spi_bus_load"] == round(want, 4) == 0.0113
    assert bus_load(6000)["apt_tick_m7_spi_bus_load"] > bus_load(10000)["apt_tick_m7_spi_bus_load"]


def test_the_flights_lead_and_delay_hold_the_default_send_erring_short():
    """The predictor's lead and mirror delay count from the frame tick, so each is its
    design value with the mirror commanded at the tick (1 750 / 1 250 µs, stops 27-45)
    plus the send: never more (a lead longer than the board's delay is a cliff: campaign
    draw 7 rang at 23.7 urad 330 µs long), at most 300 µs less (docs/apt-loop.md §4 "Which
    way to err", "The board's send").  A send moved without them fails here."""
    from flight import apt as A

    p = {d.name: d.default for d in A.PARAMS}
    for name, at_tick in (("apt_kf_lead_us", 1750), ("apt_fsm_delay_us", 1250)):
        short = at_tick + costmodel.MIRROR_SEND_US - p[name]
        assert 0 <= short <= 300, (name, p[name], short)


def test_the_boards_shares_beyond_the_bench_are_instructions_a_frame_at_100_mips():
    """bench.apt_tick_m7's terms of the board's load (the mirror driver, the camera
    driver, the wheel lines while they play): a frame's extra instructions at the payload
    computer's 100 M/s; a board part cheaper than the bench's counts negative."""
    from bench.apt_tick_m7 import camera_driver_load, driver_load, lines_load

    # 7 000 instructions every 7 ms: 1 M a second, 0.01 of the CPU
    assert lines_load(17000, 10000, 7000) == {"apt_tick_m7_wheel_lines_load_100mips": 0.01}
    assert driver_load(27000, 6000, 7000) == {"apt_tick_m7_fsm_driver_load_100mips": 0.03}
    assert camera_driver_load(16300, 17000, 7000) == {
        "apt_tick_m7_camera_driver_load_100mips": -0.001}
    assert lines_load(17000, 10000, 7000)["apt_tick_m7_wheel_lines_load_100mips"] == 0.01
    # (the board's frame by default: 6 ms since stop 63)
    assert lines_load(16000, 10000)["apt_tick_m7_wheel_lines_load_100mips"] == 0.01
