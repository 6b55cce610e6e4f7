"""What an allocation costs past a fragmented heap, on the emulated Cortex-M7 (a diagnostic).

MicroPython's allocator (py/gc.c ``gc_alloc``) looks for a run of free blocks from
``gc_last_free_atb_index``, one allocation-table byte (4 blocks of 16 octets, 64 octets
of heap) at a time.  Only a one-block allocation moves that index on, and every
collection sets it back to the heap's start.  So an allocation of two blocks or more
(a string of over 12 characters, a list, a float array) walks every table byte from
the lowest free block to the first run long enough: across all of a fragmented
stretch of heap, every time.  Its cost depends on the heap's layout at that instant, not
on the code that allocates.

This measures it on the QEMU image (``-icount shift=0``: one instruction a nanosecond,
``ticks_us`` counts thousands of instructions): a stretch of ``n`` holes of 4 blocks
between live objects of 4 blocks (n × 128 octets), then allocations of 16 and of 100
octets (the object's header takes one block, a 100-octet body 7), each timed over
``--reps`` allocations after a collection.  Printed per stretch: its KiB, the
instructions per allocation, and the cost per KiB of the stretch.

    python -m tools.alloc_scan [--holes 0,500,1000,2000,3000] [--reps 20] [--json F]

docs/firmware.md §9 ("the figures' spread") uses it: the simulator's garbage fragments
the target bench's heap, and a flight call's allocation then pays for walking it.
"""

import argparse
import ast
import json
import sys

from tools import firmware, target

_SCRIPT = r"""
import gc
from time import ticks_us, ticks_diff


def stretch(n):
    keep = [None] * (2 * n)
    for i in range(2 * n):
        keep[i] = bytearray(48)  # a header block and a body of 3
    for i in range(0, 2 * n, 2):
        keep[i] = None  # every other one garbage: n holes of 4 blocks after a collection
    return keep


def timed(nbytes, reps):
    gc.collect()
    t = ticks_us()
    for _ in range(reps):
        bytearray(nbytes)
    return ticks_diff(ticks_us(), t)


keep = stretch(%(holes)d)
print('ALLOCSCAN', [(%(holes)d, timed(16, %(reps)d), timed(100, %(reps)d))])
"""

_HOLE_BYTES = 128  # a hole of 4 blocks and the live object of 4 after it


def script(holes, reps):
    """The target's script for one stretch of ``holes`` holes (one boot each: a heap that
    held an earlier stretch has long free runs low down, which a later one would fill)."""
    return _SCRIPT % {"holes": holes, "reps": reps}


def parse(output, reps):
    """[{holes, stretch_kib, instr_16, instr_100}] from the target's output (instructions
    per allocation: the timed loop's µs × 1000 / reps)."""
    for ln in output.splitlines():
        if ln.startswith("ALLOCSCAN "):
            return [{"holes": n, "stretch_kib": round(n * _HOLE_BYTES / 1024.0, 1),
                     "instr_16": us * 1000 // reps, "instr_100": ub * 1000 // reps}
                    for n, us, ub in ast.literal_eval(ln[10:])]
    raise target.TargetError("no ALLOCSCAN line from the target:\n" + output[-2000:])


def slope(rows, key):
    """Instructions per KiB of fragmented stretch (least squares through the rows)."""
    xs = [r["stretch_kib"] for r in rows]
    ys = [r[key] for r in rows]
    mx = sum(xs) / len(xs)
    my = sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


def holes_arg(text):
    try:
        v = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            "a comma-separated list of whole numbers: %r" % text) from None
    if not v or any(n < 0 or n > 3000 for n in v):
        raise argparse.ArgumentTypeError("each count within 0 .. 3000 (the heap holds ~3500)")
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.alloc_scan",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--holes", type=holes_arg, default=[0, 500, 1000, 2000, 3000],
                    help="stretches to measure: holes of 4 blocks (default 0,500,1000,2000,3000)")
    ap.add_argument("--reps", type=int, default=20, help="allocations timed a case (1 .. 1000)")
    ap.add_argument("--json", help="write the rows and slopes here")
    args = ap.parse_args(argv)
    if not 1 <= args.reps <= 1000:
        ap.error("--reps: %d is outside 1 .. 1000" % args.reps)
    rows = []
    try:
        elf = target.ensure_image()
        for n in args.holes:
            out, err = target.run_script(script(n, args.reps), elf=elf, timeout=900,
                                         icount_shift=0)
            if err.strip():
                raise target.TargetError(err)
            rows += parse(out, args.reps)
    except (target.TargetError, firmware.FirmwareError) as e:
        print("error:", e, file=sys.stderr)
        return 2
    print("%6s %12s %18s %19s" % ("holes", "stretch KiB", "16 B: instr/alloc", "100 B: instr/alloc"))
    for r in rows:
        print("%6d %12.1f %18d %19d" % (r["holes"], r["stretch_kib"], r["instr_16"],
                                        r["instr_100"]))
    res = {"rows": rows, "instr_per_kib_16": round(slope(rows, "instr_16"), 1),
           "instr_per_kib_100": round(slope(rows, "instr_100"), 1)}
    print("per KiB of fragmented stretch: 16 B %.1f, 100 B %.1f instructions"
          % (res["instr_per_kib_16"], res["instr_per_kib_100"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
