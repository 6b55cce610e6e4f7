"""pytest plugin: every MicroPython test module (tests/mpy/test_*.py) also runs in the VM.

pytest collects such a module twice: as an ordinary CPython module, and through
:class:`MpyModule`, whose items (suffixed ``[mpy]``) run the same functions inside the
official MicroPython 1.27 WebAssembly port.  The VM runs a module once, for all its tests;
a failure shows the MicroPython traceback.  A missing Node.js or runtime fails the items
with a clear message — it is never a skip.
"""

import ast
from pathlib import Path

import pytest

from tools import mpyvm

MPY_DIR = Path(__file__).resolve().parent / "mpy"


def pytest_collect_file(parent, file_path):
    if (
        file_path.suffix == ".py"
        and file_path.name.startswith("test_")
        and file_path.parent == MPY_DIR
    ):
        return MpyModule.from_parent(parent, path=file_path, name=file_path.name + "::mpy")
    return None


class MpyRunError(Exception):
    pass


class MpyModule(pytest.File):
    _results = None

    def collect(self):
        tree = ast.parse(self.path.read_text(), filename=str(self.path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield MpyItem.from_parent(self, name=node.name + "[mpy]", func=node.name)

    def results(self):
        # Run the whole module once in one VM; items read their outcome from the cache.
        if self._results is None:
            try:
                res, out, err = mpyvm.run_test_module(self.path)
            except mpyvm.MpyVmError as e:
                res, out, err = {}, "", "MicroPython VM unavailable: %s" % e
            self._results = (res, out, err)
        return self._results


class MpyItem(pytest.Item):
    def __init__(self, *, func, **kw):
        super().__init__(**kw)
        self.func = func

    def runtest(self):
        res, out, err = self.parent.results()
        r = res.get(self.func)
        if r is None:
            raise MpyRunError(
                "test did not run in the MicroPython VM (module failed to import?)\n"
                + (err or "")
                + ("\n--- stdout ---\n" + out if out else "")
            )
        if not r["ok"]:
            raise MpyRunError("MicroPython traceback:\n" + r["tb"])

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MpyRunError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, "mpy: %s" % self.name
