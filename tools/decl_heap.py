"""Heap held by the flight declarations on the QEMU Cortex-M7 image, per kind.

The declarations — housekeeping fields (``HK``, ``HK_DIAG``, ``ADCS``), parameters
(``PARAMS``), events (``EVENTS``), commands (flight.cmddict ``COMMANDS``) — and the
indexes built from them at import and at boot (the event table, the parameter table,
the command indexes) are walked on the target after a FlightApp boot on the simulated
board; every object reached that lies in the GC heap (not a frozen constant in flash) is
counted once, at its size in 16-octet GC blocks.  Runtime data built beside them (the
parameter values, the housekeeping packers' buffers) is listed apart.

    python -m tools.decl_heap [--json]
"""

import argparse
import json
import subprocess
import sys

from tools import target

# Runs on the target.  HEAP: (first address, octets) of the GC heap (from the ELF).
SCRIPT = r"""
import gc, json
HS, HN = %(heap)r
seen = set()


def _blocks(n):
    return (n + 15) // 16 * 16


def _dict_bytes(d):
    gc.collect()
    a = gc.mem_alloc()
    c = d.copy()  # same table size as d
    b = gc.mem_alloc() - a
    c = None
    return b


def size(o):
    # Walk o; the heap octets of what was not counted yet.
    a = id(o)
    if a in seen:
        return 0
    seen.add(a)
    inheap = HS <= a < HS + HN
    n = 0
    if isinstance(o, tuple):  # namedtuples too: a tuple with its type pointer
        if inheap:
            n += _blocks(8 + 4 * len(o))
        for x in o:
            n += size(x)
    elif isinstance(o, list):
        if inheap:
            n += 16 + _blocks(4 * len(o))
        for x in o:
            n += size(x)
    elif isinstance(o, dict):
        if inheap:
            n += _dict_bytes(o)
        for k in o:
            n += size(k) + size(o[k])
    elif isinstance(o, (bytes, bytearray)):
        n += (16 + _blocks(len(o))) if inheap else 0
    elif isinstance(o, float):
        n += 16 if inheap else 0
    elif isinstance(o, str):
        n += (16 + _blocks(len(o) + 1)) if inheap else 0
    elif isinstance(o, int):
        n += 32 if inheap else 0
    return n


from hal.clock import VirtualClock
from hal.sim.board import make_board
from hal.sim.world import make_world
world = make_world('nominal', seed=1, pass_start_s=-150.0, session_start_s=1.0)
board = make_board(clock=VirtualClock(), world=world)
gc.collect()
a0 = gc.mem_alloc()
from flight import components
from flight.app import FlightApp
mods = components.modules()
gc.collect()
R = {'import_bytes': gc.mem_alloc() - a0}
app = FlightApp(board)
app.boot(reset_cause='POWER_ON')
gc.collect()
R['boot_bytes'] = gc.mem_alloc() - a0
import flight.cmddict as cd
import flight.telemetry as tl


def kind(attr):
    n = 0
    k = 0
    for _name, decl in components.declared(attr):
        if isinstance(decl, tuple):
            n += size(decl)
            k += len(decl)
    return n, k


R['hk_fields'] = kind('HK')
R['hk_diag_fields'] = kind('HK_DIAG')
R['adcs_fields'] = kind('ADCS')
R['hk_more_list'] = size(getattr(tl, '_MORE', []))
R['params'] = kind('PARAMS')
R['param_index'] = size(app.params.defs) + size(getattr(app.params, '_decls', []))
R['events'] = kind('EVENTS')
ev = app.events.decl  # a dict before issue 11's flash work, a Table after
R['event_index'] = size(ev) if isinstance(ev, dict) else (
    size(getattr(ev, '_owner_of', b'')) + size(getattr(ev, '_decls', ())))
R['commands'] = (size(cd.COMMANDS), len(cd.COMMANDS))
R['command_index'] = size(getattr(cd, 'BY_OPCODE', {})) + size(getattr(cd, 'BY_NAME', {}))
d = app.dispatch
R['dispatch_bindings'] = (size(d.owners) + size(getattr(d, '_fn', {}))
                          + size(getattr(d, '_check', {})))
R['param_values'] = size(app.params.values)
print('@@DECL@@ ' + json.dumps(R))
"""


def heap_range(elf):
    """(address, octets) of the GC heap array of the image (its ``heap`` symbol)."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == "gc_heap":
            return int(parts[0], 16), int(parts[1], 16)
    raise target.TargetError("no heap symbol in %s" % elf)


def measure(elf=None):
    elf = target.ensure_image() if elf is None else elf
    out, err = target.run_script(SCRIPT % {"heap": heap_range(elf)}, elf=elf)
    for line in out.splitlines():
        if line.startswith("@@DECL@@ "):
            return json.loads(line[9:])
    raise target.TargetError("no result from the target:\n%s\n%s" % (out[-2000:], err))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.decl_heap",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = measure()
    if args.json:
        print(json.dumps(r, indent=1, sort_keys=True))
        return 0
    for k in sorted(r):
        print("%-20s %s" % (k, r[k]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
