"""tools/heap_map.py on the host: the target's result lines → heap_map.json figures and
table (the target run itself is `python -m tools.heap_map`, ~1 min: not a test)."""

import json

from tools import heap_map as H


def _lines(r):
    out = ["noise"]
    for k, v in r.items():
        if isinstance(v, list):
            out.append("RESULTL" + k)
            out.extend("RESULTI" + json.dumps(x) for x in v)
        else:
            out.append("RESULTK" + json.dumps([k, v]))
    return "\n".join(out)


RAW = {
    "heap_code_bytes": 30000, "heap_live_boot_bytes": 90000, "heap_live_track_bytes": 99000,
    "heap_sim_boot_bytes": 400, "heap_sim_bytes": 2900, "phase": "track", "errors": [],
    "modules_in_track": ["flight", "flight.app", "flight.lazy"],
    # name, kind (1 import, 2 construction), inclusive, self, count
    "records": [["flight.app", 1, 5000, 3000, 1], ["flight.lazy", 1, 2000, 2000, 1],
                ["flight.param_rules", 1, 800, 800, 2], ["FlightApp", 2, 9000, 4000, 1]],
    "attributes_boot": [["app.events", "EventLog", None, 3000]],
    "attributes_track": [["app.events", "EventLog", None, 3400], ["apt._fb", "F", None, 400]],
    "sim_growth": [["world._hist", 2500], ["board.storage.blobs", 400]],
}


def test_result_lines_parse_back_whatever_their_order_and_noise():
    r = H.parse_result(_lines(RAW))
    assert r == RAW


def test_figures_split_imports_constructions_and_what_track_adds():
    f = H.figures(H.parse_result(_lines(RAW)))
    imp = {x["module"]: x for x in f["imports"]}
    assert imp["flight.app"]["self"] == 3000 and imp["flight.app"]["inclusive"] == 5000
    assert imp["flight.param_rules"]["resident"] is False  # loaded, released: not held
    assert f["imports_total_bytes"] == 5800 and f["imports_held_bytes"] == 5000
    assert imp["flight.lazy"]["defs"] >= 2  # counted from the module's source
    assert f["objects"] == [{"class": "FlightApp", "self": 4000, "inclusive": 9000, "n": 1}]
    assert sorted((x["attr"], x["bytes"]) for x in f["track_minus_boot"]) == [
        ("app.events", 400), ("apt._fb", 400)]
    assert f["sim_growth_bytes_est"] == 2900
    # the live figures are the flight's already (the simulator's share measured apart on
    # the target): nothing more is subtracted on the host
    assert f["heap_live_track_bytes"] == 99000 and f["heap_sim_bytes"] == 2900
    assert "heap_live_track_flight_bytes_est" not in f
    text = H.table(f)
    assert "flight.param_rules" in text and "released" in text and "world._hist" in text


def test_source_counts_functions_classes_and_declarations(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("from x import Event\n"
                 "EVENTS = (Event(1, 'A', 0, 't'), Event(2, 'B', 0, 't'))\n"
                 "def f():\n    def inner():\n        pass\n"
                 "class C:\n    def a(self):\n        pass\n    def b(self):\n        pass\n"
                 "try:\n    def g():\n        pass\nexcept ImportError:\n    pass\n")
    # inner() is made when f runs, not at import: not counted
    assert H.source_counts(p) == {"defs": 4, "classes": 1, "decls": 2}


def test_the_target_script_is_valid_python():
    for track in (True, False):
        compile(H.script(track), "heap_map", "exec")
