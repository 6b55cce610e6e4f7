"""The simulator's growth kept out of the flight's heap figures (issue 11), on the host:
one estimator (hal/sim/heap_est.py) for the heap map and the target bench, taken by the
bench at its baseline and subtracted from its boot and TRACK figures, never when its walk
found no heap.  (The estimator's layouts and what it leaves to the flight:
tests/mpy/test_heap_est_mpy.py; the target runs themselves, ~1 min each, are not tests.)"""

from pathlib import Path

from hal.clock import VirtualClock
from hal.sim import heap_est, session
from tools import heap_map, target_bench
from tools.target_bench_parts import HELPERS

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def test_the_estimator_has_one_home():
    for name in ("heap_map_script.py", "target_bench.py", "target_bench_parts.py"):
        text = (TOOLS / name).read_text()
        for d in ("def est(", "def sim_parts(", "def _flight_buffers(", "SIZES = "):
            assert d not in text, (name, d)
    for s in (heap_map.script(True), target_bench.script(measure_s=1)):
        assert "heap_est.sim_parts(world, board" in s and "heap_est.set_heap(" in s


def test_the_bench_takes_the_simulator_at_its_baseline_and_subtracts_its_growth():
    s = target_bench.script(measure_s=1, heap=(0x95AB0, 0x95AB0 + 480 * 1024))
    compile(s, "bench", "exec")
    head, _, tail = s.partition("    " + target_bench.BASELINE)
    assert "SIM0 = sim_state()" in head  # before the baseline (its garbage collected by it)
    # ... collected inline, at the script's level, before the baseline's live(): called
    # from live()'s frame the collection found the walk's garbage through a stale C-stack
    # word and the baseline read 6.4 kB high (the flight's figures as much low, stop 40)
    after_sim0 = head.split("SIM0 = sim_state()", 1)[1].splitlines()
    assert after_sim0[1].strip().startswith("gc.collect()")
    assert "heap_est.set_heap(%d, %d)" % (0x95AB0, 0x95AB0 + 480 * 1024) in head
    pre = head.rstrip().splitlines()[-2]  # the result keys bound before the baseline
    for k in ("heap_sim_growth_bytes", "heap_sim_growth_skipped",
              "heap_sim_growth_boot_bytes", "heap_sim_growth_boot_skipped"):
        assert "'%s'" % k in pre, k
    assert "flight_live('heap_sim_boot_bytes', g or 0)" in tail
    assert "flight_live('heap_sim_bytes', g or 0)" in tail
    assert "flight_live('heap_sim_start_bytes', g or 0)" in tail
    for k in ("heap_sim_growth_start_bytes", "heap_sim_growth_start_skipped",
              "heap_sim_boot_bytes", "heap_sim_bytes", "heap_sim_start_bytes"):
        assert "'%s'" % k in pre, k
    # the walk before each figure's reading, TRACK's start before the bench's diagnostics,
    # steady TRACK's after the measured phases (hal/sim/session.py settle)
    boot = tail.index("'heap_live_boot_bytes'")
    start = tail.index("'heap_live_track_start_bytes'")
    steady = tail.index("'heap_live_track_bytes'")
    assert tail.index("g = sim_grown()") < boot < tail.index("g = sim_grown()", boot) \
        < start < tail.index("'task_faults_warm'") < tail.index("session.settle(") \
        < tail.index("g = sim_grown()", start) < steady


def _helpers(**ns):
    src = HELPERS[HELPERS.index("def sim_state("):]
    ns.setdefault("heap_est", heap_est)
    exec(src, ns)
    return ns


def test_the_bench_s_growth_is_the_estimate_less_the_flash_blobs_or_none():
    world, _clock, board = session.make_rig(VirtualClock, reserve=False)
    ns = _helpers(world=world, board=board, app=None)
    ns["SIM0"] = ns["sim_state"]()
    assert ns["sim_grown"]() == 0
    board.storage.write("blob", bytes(1000))  # measured apart (session.sim_bytes)
    assert ns["sim_grown"]() == 0
    world._fsm_q.append((1000, 0.5, 0.25))  # a waveform sample in flight: the simulator's
    assert ns["sim_grown"]() == 32 + 2 * 16  # the tuple and its two floats (4 list slots)

    class Walk:
        @staticmethod
        def sim_parts(*a):
            raise MemoryError

        sim_total = staticmethod(heap_est.sim_total)

    ns = _helpers(world=world, board=board, app=None, SIM0=0, heap_est=Walk)
    assert ns["sim_grown"]() is None  # no heap for the walk: nothing is subtracted


def test_the_real_rig_s_parts_name_the_world_and_the_board():
    world, _clock, board = session.make_rig(VirtualClock, reserve=False)
    p = heap_est.sim_parts(world, board)
    assert {"board.storage.blobs", "world._fsm_q", "board.camera.model"} <= set(p)
    assert heap_est.sim_total(p) == sum(p.values()) - p["board.storage.blobs"]


def test_figures_carry_the_growth_and_a_skipped_walk():
    f = target_bench.figures({"phase": "done", "errors": [], "heap_live_track_bytes": 64000,
                              "heap_sim_growth_bytes": 1300, "heap_sim_growth_boot_bytes": 500})
    assert f["heap_sim_growth_bytes"] == 1300 and f["heap_sim_growth_boot_bytes"] == 500
    assert "heap_sim_growth_skipped" not in f
    f = target_bench.figures({"phase": "done", "errors": [],
                              "heap_sim_growth_skipped": "MemoryError"})
    assert f["heap_sim_growth_skipped"] == "MemoryError" and f["heap_sim_growth_bytes"] is None
    hm = heap_map.figures({"records": [], "heap_sim_growth_bytes": 1200,
                           "sim_growth_boot_skipped": "MemoryError"})
    assert hm["heap_sim_growth_bytes"] == 1200 and hm["sim_growth_boot_skipped"]
