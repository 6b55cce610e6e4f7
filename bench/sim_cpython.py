"""Simulator speed on CPython.

* ``sim_speed_x_realtime`` — the nominal pass in closed loop (sim.run.passsim.fly, flight
  code included): simulated seconds per wall-clock second (limit >= 30);
* ``sim_speed_x_realtime_cpu`` — the same pass per second of the process's CPU time, the
  figure that compares on a shared host (limit >= 60: issues 13 and 14; wall time on a
  loaded host also counts the other jobs).  Both fly the APT's kernels as their host
  builds (sim/run/hostkernels, the simulator's default: the same pass bit for bit);
* ``sim_speed_x_realtime_cpu_py_kernels`` — the same with the flight code's Python twins
  of the kernels (``python -m sim --py-kernels``; what the figure was before the host
  builds, and what it is on a host without a C compiler);
* ``camera_render_us_cpython`` — one 16x16 TRACK window with the beacon spot rendered by
  sim.camera (what every APT tick asks of the physics);
* ``sim_physics_step_us_cpython`` — hal.sim.world.World.step over 10 ms of virtual time
  (platform, mirror, thermal, camera latch, and every tenth step a framer window with the
  receiver model and the counter draws), no flight code: the world is stepped directly
  with the beacon in view, the camera, bias and framer powered, the bias at the operating
  point and the comparator near its best level;
* issue 14's figures of the same nominal pass and of the last campaign (bench/issue14.py).
"""

import time
from array import array

from hal.sim.board import make_board
from hal.sim.world import make_world
from bench import issue14
from sim.run import metrics, passsim
from sim.camera import Camera

RENDERS = 5000
STEPS = 3000  # 30 s of virtual time


def sim_speed(py_kernels=False):
    """(speed per wall second, per CPU second, the pass's metrics: bench/issue14.py
    reports issue 14's figures from them)."""
    res = passsim.fly("nominal", seed=1, py_kernels=py_kernels)
    return res.sim_s / res.wall_s, res.sim_s / res.cpu_s, metrics.compute(res)


def camera_render_us():
    cam = Camera(seed=1)
    cam.set_exposure(1e-3)
    cam.set_residual(3e-6, -2e-6)
    buf = array("H", [0] * 256)
    for _ in range(50):  # warm: the noise table of this setting is built once
        cam.read(buf, 632, 504, 16, 16, 1)
    t0 = time.perf_counter()
    for _ in range(RENDERS):
        cam.read(buf, 632, 504, 16, 16, 1)
    dt = time.perf_counter() - t0
    assert max(buf) > 300  # the spot was rendered
    return dt * 1e6 / RENDERS


def physics_step_us():
    world = make_world("nominal", seed=1, pass_start_s=-150.0)
    board = make_board(world=world)
    for sw in (2, 3, 4):  # camera, SiPM bias, framer (hal.interfaces SW_*)
        board.power.set(sw, True)
    world.framer.enable_rx(True)
    world.bias.set_volts(world.v_br() + 3.0)  # the operating point: over-voltage 3 V
    world.comparator.set_code(570)  # near the best level: packets, bit errors drawn
    board.clock.step_hook = None  # stepped directly below, not through the clock
    for _ in range(100):
        world.step(10000)
    t0 = time.perf_counter()
    for _ in range(STEPS):
        world.step(10000)
    dt = time.perf_counter() - t0
    assert world.signal and world.beacon_visible() and world.ber_true < 1e-3
    assert world.framer.counters[0] > 0
    return dt * 1e6 / STEPS


def run():
    speed, speed_cpu, m = sim_speed()
    return [
        ("sim_speed_x_realtime", speed, "x", (">=", 30)),
        ("sim_speed_x_realtime_cpu", speed_cpu, "x", (">=", 60)),
        ("sim_speed_x_realtime_cpu_py_kernels", sim_speed(py_kernels=True)[1], "x", None),
        ("camera_render_us_cpython", camera_render_us(), "us", None),
        ("sim_physics_step_us_cpython", physics_step_us(), "us", None),
    ] + issue14.pass_rows(m) + issue14.campaign_rows()


if __name__ == "__main__":
    for row in run():
        print(row)
