"""The target bench's raw result (tools/target_bench.py) → the out/target.json figures."""

import json

from flight.scheduler import GC_FLOOR_BYTES  # the scheduler's collection floor in a pass
from tools import target

ALLOC_S = 2  # simulated seconds of the per-task allocation phase
PASS_S = 330  # a pass (the pass segment of docs/design.md: 5.5 min above the horizon mask)


def _instr(us):
    return int(us * 1000)  # icount shift 0: 1 ns per instruction, 1 µs = 1000 instructions


def figures(r):
    """The raw target result → out/target.json figures (issue 11 keys first)."""
    f = {"heap_size_bytes": r.get("heap_size_bytes"),
         "heap_live_boot_bytes": r.get("heap_live_boot_bytes"),
         # steady TRACK (the session start's calibrations done: the budget's figure),
         # and TRACK's first instant, where the knee's code may still be held
         "heap_live_track_bytes": r.get("heap_live_track_bytes"),
         "heap_live_track_start_bytes": r.get("heap_live_track_start_bytes"),
         "knee_busy_at_track": r.get("knee_busy_at_track"),
         "steady_wait_s": r.get("steady_wait_s"),
         "apt_state_steady": r.get("apt_state_steady"),
         "heap_largest_free_bytes": r.get("heap_largest_free_bytes"),
         # the Python stack (calls' state, apart from the heap): its high-water mark
         "pystack_peak_bytes": r.get("pystack_peak_bytes"),
         "pystack_bytes": r.get("pystack_bytes"),
         "heap_code_bytes": r.get("heap_code_bytes"),
         "heap_base_world_bytes": r.get("heap_base_world_bytes"),
         # the simulator's state grown since the baseline, left out of the live figures
         # above: the flash blobs measured (hal/sim/session.py sim_bytes), the rest
         # estimated (hal/sim/heap_est.py sim_growth)
         "heap_sim_boot_bytes": r.get("heap_sim_boot_bytes"),
         "heap_sim_bytes": r.get("heap_sim_bytes"),
         "heap_sim_growth_boot_bytes": r.get("heap_sim_growth_boot_bytes"),
         "heap_sim_growth_bytes": r.get("heap_sim_growth_bytes"),
         "heap_sim_start_bytes": r.get("heap_sim_start_bytes"),
         "heap_sim_growth_start_bytes": r.get("heap_sim_growth_start_bytes"),
         "apt_state_reached": r.get("apt_state_warm"),
         "tracking": r.get("apt_state_warm") == 3,
         "apt_hot_pixels": r.get("apt_hot_pixels"),
         "warm_up_s": r.get("warm_s"),
         "task_faults_warm": r.get("task_faults_warm"),
         "task_errors_warm": r.get("task_errors_warm"),
         "phase_reached": r.get("phase"),
         "ticks_us_glitches": r.get("ticks_us_glitches"),  # corrected (now_us)
         "errors": r.get("errors", []),
         "time_base": "qemu -icount shift=0 (1 instruction = 1 ns); task cost x cpu_scale "
                      "charged to virtual time (10 at 100 M instr/s, 20 at 50 M)"}
    gc_us = list(r.get("gc_collect_us_track", []))
    if r.get("gc_idle_max_us"):
        gc_us.append(r["gc_idle_max_us"])
    if gc_us:
        f["gc_collect_instr_max"] = _instr(max(gc_us))
    for key, name in (("nominal_100", "100mips"), ("nominal_50", "50mips"),
                      ("flood_100", "flood_100mips")):
        m = r.get(key)
        if not m:
            continue
        stats = m["stats"]
        f["apt_deadline_misses_" + name] = stats.get("apt", [0, 0, 0, 0])[3]
        cpu = sum(s[1] for s in stats.values())
        mips = 1e8 if "100" in name else 5e7
        f["flight_cpu_load_" + name] = round(_instr(cpu) / mips / (m["elapsed_us"] / 1e6), 4)
        f["deadline_misses_" + name] = {k: s[3] for k, s in stats.items()}
        f["sim_devices_instr_" + name] = _instr(m["physics_us"])
        if "flight_all_us" in m:
            # Everything the flight did in the phase, the scheduler's own work (dispatch,
            # idle steps, heap checks) included: the tasks' figure above leaves it out.
            sched = m["flight_all_us"] - cpu
            f["sched_overhead_instr_per_s_" + name] = int(_instr(sched) / (m["elapsed_us"] / 1e6))
            f["flight_cpu_load_all_" + name] = round(
                _instr(m["flight_all_us"]) / mips / (m["elapsed_us"] / 1e6), 4)
            f["sim_gc_walks_" + name] = m.get("sim_gc_walks")
            f["call_alloc_max_bytes_" + name] = m.get("call_alloc_max")
        if "apt_frames" in m:
            # The APT's cost depends on its frames: an invalid one (spot under
            # apt_min_spot_px) retries the centroid twice, masking the peak.
            f["apt_frames_valid_invalid_stale_" + name] = m["apt_frames"]
        f["gc_idle_runs_" + name] = m["gc_runs"]
        if "heap_walks" in m:
            f["sched_heap_walks_" + name] = m["heap_walks"]
        if m.get("live_samples"):
            f["heap_peak_bytes_" + name] = max(m["live_samples"])
            f["heap_alloc_peak_bytes_" + name] = max(m["alloc_samples"])
        f["task_instr_max_" + name] = {k: _instr(s[2]) for k, s in stats.items()}
        if key == "nominal_100":
            f["task_instr_max"] = {k: _instr(s[2]) for k, s in stats.items()}
            f["task_instr_mean"] = {k: _instr(s[1] / s[0]) if s[0] else 0
                                    for k, s in stats.items()}
            f["task_runs"] = {k: s[0] for k, s in stats.items()}
            f["apt_state_end"] = m["apt_state"]
    alf = r.get("task_alloc_flood")
    if alf:
        f["task_alloc_bytes_mean_flood"] = {k: round(s[1] / s[0], 1) if s[0] else 0
                                            for k, s in alf.items()}
        f["flight_alloc_bytes_per_s_flood"] = round(
            sum(s[1] for s in alf.values()) / float(ALLOC_S), 1)
    al = r.get("task_alloc")
    if al:
        # Flight octets allocated per run in TRACK, and what that garbage costs: the
        # seconds between the collections it would force on the board during a pass (the
        # heap less the flight's live data, down to the scheduler's 16 KiB floor; no
        # simulated world there), each one ~25 ms, i.e. two APT releases.
        f["task_alloc_bytes_max"] = {k: s[2] for k, s in al.items()}
        f["task_alloc_bytes_mean"] = {k: round(s[1] / s[0], 1) if s[0] else 0
                                      for k, s in al.items()}
        rate = sum(s[1] for s in al.values()) / float(ALLOC_S)
        f["flight_alloc_bytes_per_s"] = round(rate, 1)
        free = (r.get("heap_size_bytes") or 0) - (r.get("heap_live_track_bytes") or 0) \
            - GC_FLOOR_BYTES
        f["flight_gc_interval_s"] = round(free / rate, 1) if rate > 0 else None
        # The scheduler walks the heap (gc.mem_free) only when its O(1) estimate (twice
        # the octets allocated since the last walk) reaches the floor: on the board,
        # where only the flight allocates, this often.
        f["sched_heap_walk_interval_s"] = round(free / (2 * rate), 1) if rate > 0 else None
        ratef = f.get("flight_alloc_bytes_per_s_flood")
        if ratef:
            f["flight_gc_interval_s_flood"] = round(free / ratef, 1)
    for k in ("heap_sim_growth_boot_skipped", "heap_sim_growth_skipped",
              "heap_sim_growth_start_skipped"):
        if k in r:  # (the walk found no heap: nothing subtracted from that figure)
            f[k] = r[k]
    _gc_pass(f, r)
    for key in ("nominal_100", "nominal_50", "flood_100"):
        if r.get(key):
            f["sim_gc_runs_" + key] = r[key].get("sim_gc_runs")
    peaks = [v for k, v in f.items() if k.startswith("heap_peak_bytes_")]
    if peaks:
        f["heap_peak_bytes"] = max(peaks)
    return f


def _gc_pass(f, r):
    """What the flight's garbage means for a pass (issue 11: no collection inside one).
    The scheduler collects on entering SESSION, before the APT tracks (flight/scheduler.py),
    so a pass starts with the heap free but for the flight's live data:
    ``flight_gc_interval_s`` = (heap - live in TRACK - the 16 KiB floor) / the flight's
    allocation rate is how long that lasts; ``gc_collections_per_pass`` =
    floor(PASS_S / interval) the floor collections (GC_IN_PASS events) a PASS_S pass
    would then see, ``gc_pass_margin`` = interval / PASS_S (> 2 wanted).  The simulated
    devices' own allocation inside flight calls is simulator cost, reported apart
    (``sim_devices_alloc_bytes_*``), as ``sim_devices_instr_*`` is for CPU."""
    f["gc_pass_s"] = PASS_S
    for sfx, key in (("", "task_alloc"), ("_flood", "task_alloc_flood")):
        al = r.get(key)
        if not al:
            continue
        f["sim_devices_alloc_bytes_per_s" + sfx] = round(
            sum(s[3] for s in al.values() if len(s) > 3) / float(ALLOC_S), 1)
        iv = f.get("flight_gc_interval_s" + sfx)
        rate = f.get("flight_alloc_bytes_per_s" + sfx)
        if rate == 0:
            f["gc_collections_per_pass" + sfx] = 0
            f["gc_pass_margin" + sfx] = None  # no garbage: the heap never runs short
        elif iv:
            f["gc_collections_per_pass" + sfx] = int(PASS_S // iv)
            f["gc_pass_margin" + sfx] = round(iv / PASS_S, 2)
    al = r.get("task_alloc")
    if al:
        f["sim_devices_alloc_bytes_mean"] = {k: round(s[3] / s[0], 1) if s[0] else 0
                                             for k, s in al.items() if len(s) > 3}
    for k in ("alloc_events", "alloc_events_flood", "alloc_top_runs"):
        if k in r:
            f[k] = r[k]
    g = r.get("sched_gc")
    if g:
        f["sched_gc_runs"], f["sched_gc_pass_runs"], f["sched_gc_early_runs"] = g


def parse_result(output):
    lines = [ln for ln in output.splitlines()
             if ln.startswith("RESULT") and not ln.startswith("RESULTPART ")]
    if not lines:
        raise target.TargetError("no RESULT line from the target bench:\n" + output[-3000:])
    r = json.loads(lines[-1][len("RESULT"):])
    for ln in output.splitlines():
        if ln.startswith("RESULTPART "):
            key, _, text = ln[len("RESULTPART "):].partition(" ")
            key, _, task = key.partition("/")  # ("trace_PHASE/TASK": a trace a task a line)
            if task:
                r.setdefault(key, {})[task] = json.loads(text)
            else:
                r[key] = json.loads(text)
    return r
