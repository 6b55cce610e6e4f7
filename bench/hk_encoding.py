"""Housekeeping encoding cost (issue 10 §3): packed big-endian vs positional CBOR.

One housekeeping packet of a full payload (bias, APT, framer, comparator) in a session,
encoded three ways from the same raw values (the declared fields, flight.telemetry):

* ``packed``  — flight.telemetry.HkPacker.encode(): ``struct.pack_into`` per field into a
  buffer allocated once (what flies, APID 0x0A1);
* ``collect`` — the owners' ``hk(values, i)`` methods filling the value list (common to
  every encoding);
* ``cbor_array`` — flight.cbor.encode(values): a positional CBOR array;
* ``cbor_map`` — flight.cbor.encode({name: value}): the text-keyed map of before.

Per encoding: body octets, µs per encode and heap octets allocated per encode.  Also the
cost of ``gc.mem_free()`` / ``gc.mem_alloc()`` (heap walks on some ports).  Runs in the
MicroPython VM (``python -m bench.hk_encoding``; ``--cpython`` for the host figure).
In the VM, ``hrtime.us`` is the host clock: figures are relative (a WebAssembly VM, not
a Cortex-M), the octet counts are exact.
"""

import json
import sys

N = 200


def make():
    from kit import app_rig

    r = app_rig("bias", "apt", "comparator")
    r.app.modes.request("STANDBY")
    r.app.modes.request("SESSION")
    r.app.run_for(3000000)  # ramp, search, track: counters and states away from zero
    return r.app


def measure(now_us, mem_alloc):
    import gc

    from flight import cbor
    from flight.telemetry import F_NAME

    app = make()
    p = app.hk_packer
    p.pack()  # fills p.values
    values = list(p.values)
    names = [f[F_NAME] for f in p.fields]  # (a plain tuple on MicroPython)
    keyed = {}
    for k in range(len(names)):
        keyed[names[k]] = values[k]
    out = {"fields": len(names)}

    def run(name, fn):
        fn()
        gc.collect()
        a0 = mem_alloc()
        t0 = now_us()
        for _ in range(N):
            body = fn()
        t1 = now_us()
        a1 = mem_alloc()
        out[name] = {"octets": len(body), "us": (t1 - t0) / N, "alloc": (a1 - a0) / N}

    run("collect", lambda: p.collect() or b"")
    run("packed", p.encode)
    run("cbor_array", lambda: cbor.encode(p.values))
    run("cbor_map", lambda: cbor.encode(keyed))
    for fn in ("mem_free", "mem_alloc"):
        f = getattr(gc, fn, None)
        if f is not None:
            t0 = now_us()
            for _ in range(N):
                f()
            out["gc_" + fn + "_us"] = (now_us() - t0) / N
    return out


_MPY = """
import sys, json, gc, hrtime
sys.path.insert(0, '/proj')
sys.path.insert(0, '/proj/tests/mpy')
from bench import hk_encoding
r = hk_encoding.measure(hrtime.us, gc.mem_alloc)
print('RESULT' + json.dumps(r))
"""


def micropython():
    from tools import mpyvm

    files = mpyvm.project_files(extra_dirs=("bench",))
    rc, out, err = mpyvm.run_job(_MPY, files=files, heapsize=1024 * 1024)
    if rc != 0:
        raise RuntimeError("MicroPython bench failed:\n" + err)
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT")][0]
    return json.loads(line[6:])


def cpython():
    import time
    import tracemalloc

    sys.path.insert(0, "tests/mpy")
    tracemalloc.start()
    return measure(lambda: time.perf_counter() * 1e6,
                   lambda: tracemalloc.get_traced_memory()[0])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    r = cpython() if "--cpython" in argv else micropython()
    print(json.dumps(r, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
