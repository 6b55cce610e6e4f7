"""Flight budget on the QEMU Cortex-M7 firmware image (issue 11): `make target-bench`'s
figures, included in `make bench` when the Arm toolchain and QEMU are present.

The figures and how they are measured: tools/target_bench.py.  Without the toolchain this
module reports nothing (and says so): the target figures need `make setup-target`.
"""

import json
import sys
from pathlib import Path

from tools import target, target_bench

ROOT = Path(__file__).resolve().parents[1]

# Issue 11's budgets (at 100 M instructions/s).
LIMITS = {
    "apt_deadline_misses_100mips": ("<=", 0),
    "apt_deadline_misses_flood_100mips": ("<=", 0),
    "flight_cpu_load_100mips": ("<=", 0.30),
    "heap_live_track_bytes": ("<=", 64 * 1024),
    # Issue 5's heap peak (128 KiB live after collection) on the flight deployment itself:
    # the firmware, its code in flash.  ``heap_peak_bytes_mpy`` (bench/flight_mpy.py) is the
    # VM's figure, whose heap also holds the bytecode of every module loaded on use
    # (README "Measured figures").
    "heap_peak_bytes": ("<=", 128 * 1024),
}
# Tasks that allocate nothing per run in steady state (tests/mpy/test_budget_mpy.py).
ZERO_ALLOC_TASKS = ("apt", "tc", "health", "adcs_feedback")


def run():
    reason = target.unavailable_reason()
    if reason:
        print("bench.target: skipped, %s (make setup-target)" % reason, file=sys.stderr)
        return []
    f = target_bench.run(log=lambda m: print(m, file=sys.stderr))
    out = ROOT / "out" / "target.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(f, indent=2, sort_keys=True) + "\n")
    rows = []
    for key in ("apt_deadline_misses_100mips", "apt_deadline_misses_50mips",
                "apt_deadline_misses_flood_100mips", "flight_cpu_load_100mips",
                "gc_collect_instr_max", "heap_live_boot_bytes", "heap_live_track_bytes",
                "heap_live_track_start_bytes", "heap_peak_bytes",
                "heap_largest_free_bytes", "heap_size_bytes"):
        if isinstance(f.get(key), (int, float)):
            rows.append(("target_" + key, f[key], "", LIMITS.get(key)))
    # The board's mirror driver: its timer (a DAC write a waveform sample, outside every
    # task) and its play_wave's work beyond the simulated driver's (in the APT's task):
    # the bench's simulated driver has neither; the board's camera driver beyond the
    # simulated one's part; and TRACK's time on the SPI buses, which no instruction count
    # holds (stop 50); and the wheel-line canceller's work while it plays, which the
    # bench's world (no wheel speeds) leaves idle (stop 53).  Their shares, and the
    # board's load.
    from bench import apt_tick_m7

    m = apt_tick_m7.measure()
    timer = m["apt_tick_m7_fsm_timer_load_100mips"]
    driver = m["apt_tick_m7_fsm_driver_load_100mips"]
    bus = m["apt_tick_m7_spi_bus_load"]
    cam = m["apt_tick_m7_camera_driver_load_100mips"]
    lines = m["apt_tick_m7_wheel_lines_load_100mips"]
    rows.append(("target_fsm_timer_load_100mips", timer, "", None))
    rows.append(("target_fsm_driver_load_100mips", driver, "", None))
    rows.append(("target_camera_driver_load_100mips", cam, "", None))
    rows.append(("target_spi_bus_load_track", bus, "", None))
    rows.append(("target_wheel_lines_load_100mips", lines, "", None))
    # (the budget is the nominal load's; the TC flood's is reported beside it)
    for key, lim in (("flight_cpu_load_100mips", ("<=", 0.30)),
                     ("flight_cpu_load_flood_100mips", None)):
        if isinstance(f.get(key), (int, float)):
            rows.append(("target_" + key.replace("load", "load_board"),
                         round(f[key] + timer + driver + cam + bus + lines, 4), "", lim))
    for task, v in sorted(f.get("task_instr_max", {}).items()):
        rows.append(("target_task_instr_max_" + task, v, "instr", ("<=", 500000)))
    # Steady-state flight allocation (DESIGN §3.1: none in the core tasks, so no
    # collection during a pass) and the seconds between collections it would force.
    for key in ("flight_alloc_bytes_per_s", "flight_alloc_bytes_per_s_flood",
                "flight_gc_interval_s"):
        if isinstance(f.get(key), (int, float)):
            rows.append(("target_" + key, f[key], "", None))
    for task, v in sorted(f.get("task_alloc_bytes_mean", {}).items()):
        lim = ("<=", 0) if task in ZERO_ALLOC_TASKS else None
        rows.append(("target_task_alloc_bytes_mean_" + task, v, "B", lim))
    return rows
