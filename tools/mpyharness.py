"""The test-runner script every MicroPython interpreter runs, and its result lines.

One home for the three runners of ``tests/mpy`` modules — the WebAssembly VM
(tools.mpyvm), the QEMU Cortex-M7 image (tools.target) and the unix port
(tools.unixport): the script imports one test module, runs its ``test_*`` functions and
prints one marked JSON line per test (name, ok, MicroPython traceback, µs, and where the
port really collects garbage, the free heap after the test); the host parses those lines
and prints them the same way for every interpreter.
"""

import json

RESULT_MARK = "@@MPYTEST@@ "

# Runs inside MicroPython.  ``report_free``: after each test, collect and report
# gc.mem_free() (the WebAssembly VM only collects when control returns to JavaScript, so
# there the figure would mean nothing).
HARNESS = """
import sys, io, json, time, gc
for _p in %(paths)r:
    sys.path.insert(0, _p)
_names = %(names)r
_mod = __import__(%(module)r)
if _names is None:
    _names = sorted(n for n in dir(_mod) if n.startswith('test_'))
for _n in _names:
    _f = getattr(_mod, _n, None)
    _res = {'name': _n, 'ok': False, 'tb': ''}
    if _f is None:
        _res['tb'] = 'no such test in module'
    else:
        gc.collect()
        _t0 = time.ticks_us()
        try:
            _f()
            _res['ok'] = True
        except Exception as _e:
            _buf = io.StringIO()
            sys.print_exception(_e, _buf)
            _res['tb'] = _buf.getvalue()
        _res['us'] = time.ticks_diff(time.ticks_us(), _t0)
        if %(report_free)r:
            gc.collect()
            _res['free'] = gc.mem_free()
    print(%(mark)r + json.dumps(_res))
"""


def harness(module, names=None, paths=(), report_free=True):
    """The script running test module ``module`` (its ``names`` only, if given) with
    ``paths`` put first on ``sys.path`` (the last one given ends up first)."""
    return HARNESS % {"paths": list(paths), "names": list(names) if names else None,
                      "module": module, "mark": RESULT_MARK, "report_free": bool(report_free)}


def parse_results(out):
    """Marked JSON lines → ({name: result}, other output lines joined)."""
    results = {}
    other = []
    for line in out.splitlines():
        line = line.rstrip("\r")
        if line.startswith(RESULT_MARK):
            r = json.loads(line[len(RESULT_MARK):])
            results[r["name"]] = r
        else:
            other.append(line)
    return results, "\n".join(other)


def report_results(results, out, err):
    """Print one MicroPython test module's results (every interpreter's CLI: VM, unix port,
    QEMU M7) with a closing "N passed, N failed" line; the exit status."""
    if out.strip():
        print(out)
    failed = 0
    for name, r in results.items():
        free = "" if r.get("free") is None else ", %s B free" % r["free"]
        print("%-50s %s  (%d us%s)" % (name, "PASS" if r["ok"] else "FAIL", r.get("us", 0), free))
        if not r["ok"]:
            failed += 1
            print(r["tb"])
    if err.strip():
        print(err)
    if not results:
        print("error: no test ran (import failure?)")
        return 1
    print("%d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0
