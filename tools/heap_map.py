"""Where the flight heap goes, measured on the QEMU Cortex-M7 image → out/heap_map.json.

The flight application runs with the code frozen in the image (``make firmware``), on the
simulated board and pass world of hal/sim, as in ``make target-bench``; every figure is
``gc.mem_alloc()`` after a ``gc.collect()`` (the live heap), taken on the target:

* **imports** — ``__import__`` is wrapped (the port overrides builtins), so each flight
  module's import is measured where the application really imports it, in its real
  order: ``inclusive`` (what the import statement added, the modules it pulled in
  included) and ``self`` (without them).  A frozen module's bytecode and constants stay
  in flash; what its import leaves on the heap is its globals dict, one function object
  per ``def`` (classes: a type and a locals dict, one function object per method) and
  what its top level builds (declaration records, tables).  The host adds each module's
  count of functions, classes and declaration records (``defs``, ``classes``,
  ``decls``: Event/ParamDef/HkField/Command/... calls) from its source.
* **objects** — the ``__init__`` of every flight class is wrapped while the application
  is built and booted: bytes left live by each construction, per class (``self``: its
  own, the objects it built through other wrapped classes apart; ``n``: how many).
* **attributes** (estimated) — at boot and in TRACK (steady: the session start's knee
  calibration done and its code released, hal/sim/session.py ``settle``), each component (the app's flight
  objects, each payload module) with its own data, and its attributes ≥ 64 B: sizes from
  MicroPython's layouts (16-octet blocks; an instance or dict is its hash table,
  ``py/map.c``'s sizes; an array its items); the walk stops at the other components and
  leaves out functions and classes (import memory).  ``track_minus_boot``: what TRACK
  adds to each.
* **heap_sim_bytes** (measured) — the simulator's state grown since the baseline: the
  simulated flash's blobs (the world's residual history is a ring allocated with the
  world, before the baseline), measured as the target bench does (hal/sim/session.py
  ``sim_bytes``: the allocation of an equal copy) and left out of
  ``heap_live_boot_bytes``/``heap_live_track_bytes``, which are the flight's alone.
  **sim_growth** (estimated) — the simulator's state per attribute of the world and the
  board's devices, its growth since the baseline (hal/sim/heap_est.py, shared with the
  target bench: the FSM waveform queue, floats the models re-box): what the flight
  reaches is walked first and not counted (the simulated camera keeps views of the APT's
  frame buffers, which are flight memory).  Its net sum but the blobs (measured above) is
  ``heap_sim_growth_boot_bytes``/``heap_sim_growth_bytes``, also left out of the live
  figures (a walk that finds no heap: ``sim_growth_*skipped``, nothing left out).
* **modules held in TRACK** — which flight modules a TRACK session holds: a module
  imported on first use and released after (flight/lazy.py) is ``released``.

    python -m tools.heap_map [--out out/heap_map.json] [--no-track]

Prints a table (largest first), ~1 min wall.  The world's own heap (hal/sim, sim/, the
camera model's noise tables) is the baseline taken before the first flight import, as the
target bench does.  The measurement's own bookkeeping is preallocated, and the boot's
attribute rows are printed and dropped before TRACK (held, they were ~5.9 kB of the
TRACK figure until stop 24); the import and construction records are live during the
TRACK figure: ~1 kB above the bench's.
"""

import argparse
import ast
import json
import subprocess
import sys
import time
from pathlib import Path

from tools import firmware, target
from tools.heap_map_script import SCRIPT, WRAPPER

ROOT = firmware.ROOT
# Declaration-record constructors, by the names the declaration blocks call them.
DECL_CALLS = ("Event", "ParamDef", "P", "HkField", "F", "Command", "Arg", "A", "Rule")

def heap_range(elf):
    """(first, end) address of the image's GC heap (the qemu port's static ``gc_heap``),
    (0, 0) where nm cannot tell: an object elsewhere is a constant frozen in flash."""
    try:
        out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return 0, 0
    lo = firmware.parse_nm_symbols(out, ("gc_heap",)).get("gc_heap")
    return (lo, lo + firmware.QEMU_HEAP_BYTES) if lo else (0, 0)


def script(track=True, heap=(0, 0)):
    body = SCRIPT % {"track": 1 if track else 0, "heap_lo": heap[0], "heap_hi": heap[1]}
    head, _, rest = body.partition("R = {'phase': 'start', 'errors': []}\n")
    indented = "\n".join(("    " + ln) if ln.strip() else "" for ln in rest.splitlines())
    return head + "R = {'phase': 'start', 'errors': []}\n" + WRAPPER % {"body": indented}


def source_counts(path):
    """{defs, classes, decls} of one module's source: the function objects its import
    creates (module-level defs and methods), its classes, its declaration records."""
    tree = ast.parse(Path(path).read_text())
    defs = classes = decls = 0

    def walk(body):
        nonlocal defs, classes
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defs += 1
            elif isinstance(node, ast.ClassDef):
                classes += 1
                walk(node.body)
            elif isinstance(node, (ast.If, ast.Try)):
                walk(node.body)
                walk(getattr(node, "orelse", []))
                for h in getattr(node, "handlers", []):
                    walk(h.body)
    walk(tree.body)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in DECL_CALLS:
            decls += 1
    return {"defs": defs, "classes": classes, "decls": decls}


def module_path(name):
    p = ROOT.joinpath(*name.split("."))
    return p.with_suffix(".py") if p.with_suffix(".py").exists() else p / "__init__.py"


def figures(r):
    """The target's raw result → heap_map.json (imports, objects, attributes)."""
    f = {k: r.get(k) for k in ("heap_base_world_bytes", "heap_code_bytes",
                               "heap_app_built_bytes", "heap_live_boot_bytes",
                               "heap_live_track_bytes", "heap_sim_boot_bytes",
                               "heap_sim_bytes", "heap_sim_growth_boot_bytes",
                               "heap_sim_growth_bytes", "sim_growth_boot_skipped",
                               "sim_growth_skipped", "apt_state",
                               "comparator_state",
                               "modules_after_app_import", "modules_in_track", "phase",
                               "errors")}
    imports, objects = [], []
    for name, kind, incl, excl, n in r.get("records", []):
        if kind == 1:
            row = {"module": name, "self": excl, "inclusive": incl,
                   "resident": name in (r.get("modules_in_track") or [name])}
            p = module_path(name)
            if p.exists():
                row.update(source_counts(p))
            imports.append(row)
        else:
            objects.append({"class": name, "self": excl, "inclusive": incl, "n": n})
    f["imports"] = sorted(imports, key=lambda x: -x["self"])
    f["imports_total_bytes"] = sum(x["self"] for x in imports)
    f["imports_held_bytes"] = sum(x["self"] for x in imports if x["resident"])
    f["objects"] = sorted(objects, key=lambda x: -x["self"])
    f["objects_total_bytes"] = sum(x["self"] for x in objects)
    for phase in ("boot", "track"):
        rows = r.get("attributes_" + phase)
        if rows is not None:
            f["attributes_" + phase] = [{"attr": a, "type": t, "len": n, "bytes": b}
                                        for a, t, n, b in sorted(rows, key=lambda x: -x[3])]
    if r.get("attributes_track") is not None:
        boot = {a: b for a, _, _, b in r.get("attributes_boot", [])}
        diff = []
        for a, t, n, b in r["attributes_track"]:
            d = b - boot.get(a, 0)
            if d:
                diff.append({"attr": a, "type": t, "len": n, "bytes": d})
        f["track_minus_boot"] = sorted(diff, key=lambda x: -x["bytes"])
    if r.get("module_data"):
        f["module_data"] = [{"module": m, "name": k, "len": n, "bytes": b}
                            for m, k, n, b in sorted(r["module_data"], key=lambda x: -x[3])]
    sim = r.get("sim_growth")
    if sim is not None:
        f["sim_growth"] = [{"attr": a, "bytes": b} for a, b in sorted(sim, key=lambda x: -x[1])]
        f["sim_growth_bytes_est"] = sum(b for _, b in sim)
    return f


def table(f, top=25):
    """The map as text: the largest imports, constructions and attributes."""
    lines = []
    for k in ("heap_code_bytes", "heap_app_built_bytes", "heap_live_boot_bytes",
              "heap_live_track_bytes", "heap_sim_boot_bytes", "heap_sim_bytes",
              "heap_sim_growth_boot_bytes", "heap_sim_growth_bytes", "sim_growth_bytes_est"):
        lines.append("%-28s %s" % (k, f.get(k)))
    lines.append("")
    lines.append("imports (%d modules, %d B)  self  inclusive  defs classes decls  held"
                 % (len(f["imports"]), f["imports_total_bytes"]))
    for x in f["imports"][:top]:
        lines.append("  %-28s %6d %9d  %4s %5s %5s  %s" % (
            x["module"], x["self"], x["inclusive"], x.get("defs", ""), x.get("classes", ""),
            x.get("decls", ""), "yes" if x["resident"] else "released"))
    lines.append("")
    lines.append("constructions (%d B)  self  inclusive  n" % f["objects_total_bytes"])
    for x in f["objects"][:top]:
        lines.append("  %-28s %6d %9d %3d" % (x["class"], x["self"], x["inclusive"], x["n"]))
    for key in ("attributes_boot", "attributes_track", "track_minus_boot"):
        rows = f.get(key)
        if not rows:
            continue
        lines.append("")
        lines.append(key + " (bytes freed when dropped alone)")
        for x in rows[:top]:
            lines.append("  %-40s %-12s %6s %7d" % (x["attr"], x["type"],
                                                    "" if x["len"] is None else x["len"],
                                                    x["bytes"]))
    if f.get("module_data"):
        lines.append("")
        lines.append("module_data (held modules: globals dict slots, data their top level built)")
        for x in f["module_data"][:top]:
            lines.append("  %-28s %-24s %6s %7d" % (x["module"], x["name"],
                                                    "" if x["len"] is None else x["len"],
                                                    x["bytes"]))
    if f.get("sim_growth"):
        lines.append("")
        lines.append("sim_growth (the simulator's state allocated after the baseline, est.)")
        for x in f["sim_growth"][:top]:
            lines.append("  %-40s %7d" % (x["attr"], x["bytes"]))
    return "\n".join(lines)


def run(elf=None, track=True, timeout=1800):
    elf = target.ensure_image() if elf is None else elf
    out, err = target.run_script(script(track, heap_range(elf)), elf=elf, timeout=timeout)
    if err.strip():
        raise target.TargetError("heap map failed:\n" + err)
    return figures(parse_result(out))


def parse_result(out):
    """The target's result lines (one per value, one per row of a list) → dict."""
    r, rows = {}, None
    for ln in out.splitlines():
        if ln.startswith("RESULTK"):
            k, v = json.loads(ln[7:])
            r[k] = v
        elif ln.startswith("RESULTL"):
            rows = r[ln[7:].strip()] = []
        elif ln.startswith("RESULTI") and rows is not None:
            rows.append(json.loads(ln[7:]))
    if not r:
        raise target.TargetError("no RESULT line from the heap map:\n" + out[-3000:])
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.heap_map",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "out" / "heap_map.json"))
    ap.add_argument("--elf")
    ap.add_argument("--no-track", action="store_true", help="stop after boot")
    ap.add_argument("--top", type=int, default=25, help="rows per table (default 25)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        f = run(elf=args.elf, track=not args.no_track)
    except (target.TargetError, firmware.FirmwareError) as e:
        print("error:", e, file=sys.stderr)
        return 2
    f["wall_s"] = round(time.monotonic() - t0, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(f, indent=2, sort_keys=True) + "\n")
    print(table(f, args.top))
    for e in f.get("errors") or []:
        print("target error:", e, file=sys.stderr)
    return 0 if not f.get("errors") else 1


if __name__ == "__main__":
    sys.exit(main())
