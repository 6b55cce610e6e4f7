"""The sipm_bias update's own cost on the QEMU Cortex-M7 image, apart from its HAL.

    python -m bench.sipm_bias_m7

The target bench (``tools/target_bench.py``) gives the task's mean over ~20 runs of a pass,
where the simulated devices' calls and an occasional collection move the mean by tens of
thousands of instructions.  Here the update runs 200 times on the kit (tests/mpy/kit.py)
with a supply that allocates nothing, readings stepping by the TMP117's 1/128 K, under
``-icount shift=0`` (1 instruction = 1 ns: ``ticks_us`` counts thousands of instructions,
deterministic): instructions and octets per call of the whole update, of the sensor
selection inside it (flight/thermal_sensors.py), and of the rest (the law, the read-back
check).  Figures in docs/firmware.md (§4 "Per-task costs").
"""

import json
import sys

SCRIPT = r"""
import sys, gc
from time import ticks_us, ticks_diff
sys.path.append('/tests/mpy')
from kit import bias_update_rig

r = bias_update_rig({"bias_ff_tau_s": 3.0})  # on a supply that allocates nothing
b = r.bias
for _ in range(10):
    b.update()
N = 200
vals = [25.0 + (i % 37) * 0.0078125 for i in range(64)]
t0s = r.temps[0]
t1s = r.temps[1]


def run(f):
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    t0 = ticks_us()
    for i in range(N):
        t0s.t = vals[i & 63]
        t1s.t = vals[(i + 1) & 63]
        f()
    dt = ticks_diff(ticks_us(), t0)
    a = gc.mem_alloc() - a0
    gc.enable()
    return dt * 1000 // N, a // N


loop = run(lambda: None)
up = run(b.update)
sel = run(lambda: b.sensors.select(25.0))
print('RESULT', {'update': (up[0] - loop[0], up[1]), 'select': (sel[0] - loop[0], sel[1]),
                 'state': b.state})
"""


def measure():
    from tools import target

    out, err = target.run_script(SCRIPT, elf=target.ensure_image(), timeout=900, icount_shift=0)
    for line in out.splitlines():
        if line.startswith("RESULT "):
            import ast

            d = ast.literal_eval(line[7:])
            up, sel = d["update"], d["select"]
            return {"sipm_bias_update_instr": up[0], "sipm_bias_update_bytes": up[1],
                    "sipm_bias_select_instr": sel[0], "sipm_bias_select_bytes": sel[1],
                    "sipm_bias_law_instr": up[0] - sel[0], "sipm_bias_law_bytes": up[1] - sel[1]}
    raise RuntimeError("no result from the target: %s %s" % (out, err))


if __name__ == "__main__":
    import argparse

    # No options: --help prints what the bench measures instead of starting QEMU.
    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    json.dump(measure(), sys.stdout, indent=1)
    print()
