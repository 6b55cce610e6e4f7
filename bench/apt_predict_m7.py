"""The predictor's own cost on the QEMU Cortex-M7 image, apart from the APT tick.

    python -m bench.apt_predict_m7

The target bench (``tools/target_bench.py``) gives the APT task's mean over a pass, moved
by tens of thousands of instructions by the simulated devices and collections.  Here the
predictor (flight/apt_predict.py, its viper kernels frozen in the image) runs 200 frames
(the board's period, ``hal.interfaces.CAMERA_FRAME_PERIOD_US``) of a tracking-like input under ``-icount shift=0`` (1 instruction = 1 ns): instructions
and octets per call of the frame step (:meth:`Predictor.step`: the frame kernel, the
supervisor's check), the frame kernel alone, and the waveform to the mirror
(:meth:`Predictor.play`: the codes kernel and the HAL's checks on a stub driver, its
buffers registered as the APT's are: ``hal.interfaces.WaveBuffers``).
Figures in docs/apt-loop.md §4 ("CPU").
"""

import json
import sys

SCRIPT = r"""
import gc, sys
from array import array
from time import ticks_us, ticks_diff
from flight import apt as A
from flight import apt_predict as ap
from hal.interfaces import CAMERA_FRAME_PERIOD_US as T, WaveBuffers

p = {}
for d in A.PARAMS:  # records by position: (name, type, default, ...)
    p[d[0]] = d[2]
pr = ap.Predictor()
pr.configure(p, T, 24000)  # (the board's frame period)


class Fsm:  # the board driver's checks (hal/real/fsm.py), no bus
    def __init__(self):
        self._waves = WaveBuffers()

    def register_wave_buffers(self, x0, y0, x1, y1):
        self._waves.register(x0, y0, x1, y1)

    def play_wave(self, xs, ys, n):
        self._waves.check(xs, ys, n)


fsm = Fsm()
pr.register(fsm)  # (as ControlLaw does with the APT's driver)
N = 200
fx = array('i', [((i * 7919) % 4001 - 2000) * 3 for i in range(64)])
st = [0]


def frame():
    i = st[0]
    st[0] = i + 1
    pr.step(fx[i & 63], fx[(i + 17) & 63], i * T, 2000, pr.c[ap.C_UX], pr.c[ap.C_UY])


for _ in range(60):  # past the restart and the supervisor's arming
    frame()
    pr.fill(0, 0)
    pr.send(fsm)
arrs = pr.arrs
c = pr.c
saved = array('i', c)


def kernel():
    for i in range(len(c)):  # (the same input each call: the kernel's cost alone)
        c[i] = saved[i]
    ap._frame(arrs, c)


def restore():
    for i in range(len(c)):
        c[i] = saved[i]


def run(f):
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    t0 = ticks_us()
    for _ in range(N):
        f()
    dt = ticks_diff(ticks_us(), t0)
    a = gc.mem_alloc() - a0
    gc.enable()
    return dt * 1000 // N, a // N


loop = run(lambda: None)
rs = run(restore)
st_ = run(frame)
ke = run(kernel)


def play():  # (the waveform's codes, then the driver: what the tick's command does)
    pr.fill(0, 0)
    pr.send(fsm)


pl = run(play)
print('RESULT', {'step': (st_[0] - loop[0], st_[1]), 'kernel': (ke[0] - rs[0], ke[1]),
                 'play': (pl[0] - loop[0], pl[1]), 'viper': 'flight.predict_py' not in sys.modules,
                 'robust': pr.robust})
"""


def measure(extra=""):
    from tools import target

    out, err = target.run_script(SCRIPT + extra, elf=target.ensure_image(), timeout=900,
                                 icount_shift=0)
    for line in out.splitlines():
        if line.startswith("RESULT "):
            import ast

            d = ast.literal_eval(line[7:])
            return {"predict_step_instr": d["step"][0], "predict_step_bytes": d["step"][1],
                    "predict_frame_kernel_instr": d["kernel"][0],
                    "predict_play_instr": d["play"][0], "predict_play_bytes": d["play"][1],
                    "predict_viper": d["viper"], "predict_robust": d["robust"],
                    "extra": [ln for ln in out.splitlines() if ln.startswith("EXTRA ")]}
    raise RuntimeError("no result from the target: %s %s" % (out, err))


if __name__ == "__main__":
    json.dump(measure(), sys.stdout, indent=1)
    print()
