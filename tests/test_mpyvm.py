"""The MicroPython VM runner itself: results, tracebacks, import failures, missing Node."""

import pytest

from tools import mpyvm


def _module(tmp_path, body):
    d = tmp_path / "tests" / "mpy"
    d.mkdir(parents=True)
    p = d / "test_probe.py"
    p.write_text(body)
    return p


def test_runs_in_micropython_and_reports_each_test(tmp_path):
    p = _module(tmp_path, (
        "import sys\n"
        "def test_impl():\n    assert sys.implementation.name == 'micropython'\n"
        "def test_fails():\n    raise ValueError('deliberate')\n"
    ))
    res, out, err = mpyvm.run_test_module(p, root=tmp_path)
    assert res["test_impl"]["ok"] is True
    assert res["test_fails"]["ok"] is False
    assert "ValueError: deliberate" in res["test_fails"]["tb"]
    assert "test_probe.py" in res["test_fails"]["tb"]


def test_import_failure_gives_no_results_and_a_traceback(tmp_path):
    p = _module(tmp_path, "import no_such_module\ndef test_x():\n    pass\n")
    res, out, err = mpyvm.run_test_module(p, root=tmp_path)
    assert res == {}
    assert "no_such_module" in err


def test_missing_node_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(mpyvm.shutil, "which", lambda name: None)
    with pytest.raises(mpyvm.MpyVmError, match="Node.js not found"):
        mpyvm.run_job("print(1)", files=[])


def test_cli_exit_status(tmp_path, capsys, monkeypatch):
    p = _module(tmp_path, "def test_ok():\n    assert 1 + 1 == 2\n")
    monkeypatch.setattr(mpyvm, "ROOT", tmp_path)
    rc = mpyvm.main([str(p)])
    assert rc == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
