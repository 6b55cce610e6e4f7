"""tools/heap_map.py: what the map counts as heap (the image's GC heap only, a frozen
constant in flash costs nothing) and the per-module globals rows, on the host."""

from tools import heap_map as H


def test_the_script_gets_the_gc_heap_range_and_skips_what_lies_outside():
    s = H.script(track=False, heap=(0x95AB0, 0x95AB0 + 480 * 1024))
    assert "HEAP_LO, HEAP_HI = %d, %d" % (0x95AB0, 0x95AB0 + 480 * 1024) in s
    # est() (hal/sim/heap_est.py, shared with the target bench): outside the heap counts 0
    assert "heap_est.set_heap(HEAP_LO, HEAP_HI)" in s
    compile(s, "heap_map_script", "exec")  # (the target's script is valid Python)
    s0 = H.script(track=False)  # no nm: (0, 0), everything counted as before
    assert "HEAP_LO, HEAP_HI = 0, 0" in s0


def test_module_data_rows_are_sorted_and_tabled():
    raw = {"heap_code_bytes": 1, "heap_live_boot_bytes": 2, "heap_live_track_bytes": 3,
           "records": [], "module_data": [["flight.app", "(globals)", 60, 608],
                                          ["flight.apt", "HK", 13, 224],
                                          ["flight.cmddict", "(globals)", 52, 496]]}
    f = H.figures(raw)
    assert [(x["module"], x["bytes"]) for x in f["module_data"]] == [
        ("flight.app", 608), ("flight.cmddict", 496), ("flight.apt", 224)]
    text = H.table(f)
    assert "module_data" in text and "flight.cmddict" in text and "(globals)" in text


def test_heap_range_without_the_image_is_unknown(tmp_path):
    assert H.heap_range(tmp_path / "no.elf") == (0, 0)
