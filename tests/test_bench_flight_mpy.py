"""How bench.flight_mpy composes its heap figures (the coordinator's decision on issue 5's
128 KiB): the flight deployment's ``heap_peak_bytes_mpy`` is the running application's
heap measured in the VM plus what the frozen imports build on the target, and it is left
out, never replaced, when the target cannot run.  Fakes only: no VM, no QEMU."""

import pytest

from bench import flight_mpy
from tools import import_heap, target


_HELD = ["flight.app", "flight.app_boot", "flight.keystore", "hal.compat"]


def _vm_result(imports=None, samples=(300_000, 330_000, 320_000), code=270_000):
    return {"stats": [("apt", 1000, 250_000, 900, 0), ("hk", 10, 5_000, 600, 0)],
            "elapsed_us": 10_000_000, "samples": list(samples), "code_bytes": code,
            "allocs": [0, 0, 8, 0], "apt_state_end": 3, "apt_state_alloc": 3,
            "loaded": list(_HELD)}


def test_the_flight_heap_peak_is_the_application_above_imports_plus_the_frozen_import():
    f = flight_mpy.figures(_vm_result(), {"import_bytes": 30_000, "heap_bytes": 491_520})
    assert f["heap_peak_above_imports_bytes_mpy"] == 60_000.0  # 330 000 - 270 000
    assert f["heap_import_frozen_bytes"] == 30_000.0
    assert f["heap_peak_bytes_mpy"] == 90_000.0
    # the file-loaded peak keeps its own key, without a limit
    assert f["heap_peak_from_files_bytes_mpy"] == 330_000.0
    assert f["heap_code_bytes_mpy"] == 270_000.0


def test_without_the_target_the_flight_heap_peak_is_omitted_not_replaced():
    f = flight_mpy.figures(_vm_result(), None)
    assert "heap_peak_bytes_mpy" not in f
    assert "heap_import_frozen_bytes" not in f
    assert f["heap_peak_from_files_bytes_mpy"] == 330_000.0


def test_run_reports_the_limit_on_the_composed_figure(monkeypatch):
    monkeypatch.setattr(target, "unavailable_reason", lambda: None)
    asked = []

    def frozen(modules):
        asked.append(modules)
        return {"import_bytes": 40_000, "heap_bytes": 491_520}

    def vm(imports=("flight.app", "flight.payload")):
        asked.append(imports)
        return _vm_result()

    monkeypatch.setattr(import_heap, "measure", frozen)
    monkeypatch.setattr(flight_mpy, "measure", vm)
    rows = {r[0]: r for r in flight_mpy.run()}
    # the first job finds what the application holds; the target and the measured job
    # then import exactly that (flight.app first)
    held = ("flight.app", "flight.app_boot", "flight.keystore", "hal.compat")
    assert asked == [("flight.app", "flight.payload"), held, held]
    assert rows["heap_peak_bytes_mpy"][1] == 100_000.0
    assert rows["heap_peak_bytes_mpy"][3] == ("<=", 128 * 1024)
    assert rows["heap_peak_from_files_bytes_mpy"][3] is None


def test_run_without_the_target_says_why_and_omits_the_key(monkeypatch, capsys):
    monkeypatch.setattr(target, "unavailable_reason", lambda: "missing Debian packages: x")

    def no_target():
        raise AssertionError("the target must not be run")

    monkeypatch.setattr(import_heap, "measure", no_target)
    monkeypatch.setattr(flight_mpy, "measure", _vm_result)
    keys = [r[0] for r in flight_mpy.run()]
    assert "heap_peak_bytes_mpy" not in keys
    assert "heap_peak_from_files_bytes_mpy" in keys
    err = capsys.readouterr().err
    assert "heap_peak_bytes_mpy skipped" in err and "missing Debian packages: x" in err


def test_a_module_loaded_beyond_the_first_jobs_is_an_error(monkeypatch):
    monkeypatch.setattr(target, "unavailable_reason", lambda: None)
    monkeypatch.setattr(import_heap, "measure", lambda modules: {"import_bytes": 1,
                                                                 "heap_bytes": 2})
    jobs = []

    def vm(imports=("flight.app", "flight.payload")):
        r = _vm_result()
        if jobs:
            r["loaded"].append("flight.bias_knee_light")
        jobs.append(imports)
        return r

    monkeypatch.setattr(flight_mpy, "measure", vm)
    with pytest.raises(RuntimeError, match="flight.bias_knee_light"):
        flight_mpy.run()


def test_the_import_job_imports_what_the_vm_job_imports():
    mods = ("flight.app", "flight.keystore_load")
    code = import_heap.script(mods)
    chunk = flight_mpy._CHUNK % {"chunk_us": 1, "session_us": 1, "imports": list(mods)}
    for mod in mods:
        assert ("import " + mod) in code
        assert repr(mod) in chunk
    out = "noise\n" + import_heap.MARK + '{"import_bytes": 123, "heap_bytes": 4}\n'
    assert import_heap.parse(out)["import_bytes"] == 123
    with pytest.raises(target.TargetError, match="no import-heap result"):
        import_heap.parse("OK\n")
