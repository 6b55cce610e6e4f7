"""Heap that importing the flight modules builds with them frozen into the firmware.

Frozen (`make firmware`), a module's bytecode, constants and strings stay in flash; what
its import builds at run time — the module object and its globals, classes, functions
and closures, the tables computed at import — is heap.  This boots the QEMU Cortex-M7
image (tools/target.py) and, on a fresh heap, takes ``gc.mem_alloc()`` after a
collection before and after importing the modules that ``python -m bench.flight_mpy``
imports in the WebAssembly VM (``flight.app``, ``flight.payload``).  Nothing else is
imported first (no simulated world or board): as on the payload computer, the hal
modules the flight code imports are counted too.

``bench.flight_mpy`` adds this figure to the VM's ``heap_peak_above_imports_bytes_mpy``
to make ``heap_peak_bytes_mpy``, the flight deployment's heap peak (issue 5's 128 KiB).

    python -m tools.import_heap [--json]
"""

import argparse
import json
import sys

from tools import target

MODULES = ("flight.app", "flight.payload")  # what bench.flight_mpy's VM job imports
MARK = "@@IMPORT_HEAP@@ "

# Runs on the target, compiled there from this text (the flight code itself is frozen).
SCRIPT = r"""
import gc, json
gc.collect()
a0 = gc.mem_alloc()
%(imports)s
gc.collect()
a1 = gc.mem_alloc()
print(%(mark)r + json.dumps({'import_bytes': a1 - a0, 'heap_bytes': a1 + gc.mem_free()}))
"""


def script(modules=MODULES):
    return SCRIPT % {"imports": "\n".join("import " + m for m in modules), "mark": MARK}


def parse(out):
    """The result dict from the target's output; TargetError if there is none."""
    for line in out.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise target.TargetError("no import-heap result from the target:\n%s" % out[-2000:])


def measure(elf=None, timeout=300, modules=MODULES):
    """{'import_bytes': heap the frozen imports of ``modules`` built, 'heap_bytes': the
    heap's size}."""
    elf = target.ensure_image() if elf is None else elf
    out, err = target.run_script(script(modules), elf=elf, timeout=timeout)
    if err.strip():
        raise target.TargetError("import on the target failed:\n" + err)
    return parse(out)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.import_heap",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    reason = target.unavailable_reason()
    if reason:
        print("error: target unavailable, %s (make setup-target)" % reason, file=sys.stderr)
        return 2
    r = measure()
    if args.json:
        print(json.dumps(r, indent=1, sort_keys=True))
    else:
        print("heap_import_frozen_bytes %d (heap %d)" % (r["import_bytes"], r["heap_bytes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
