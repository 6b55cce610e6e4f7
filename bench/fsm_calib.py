"""The FSM calibration (flight/apt_calib.py) against the simulator's truth, over units:
the nominal pass flown per seed with the automatic calibration on, the pass's first
result compared with the unit's mirror-to-camera matrix (sim/calib.py: camera rotation ×
mirror gain matrix ÷ pixel-angle scale, decomposed as the calibration does).

    .venv/bin/python -m bench.fsm_calib FIRST END [--set NAME=VALUE ...]

Prints per seed the errors of the gains and the rotation (mrad), then their mean, RMS and
worst (docs/fsm-calibration.md "Figures").  ``--set`` sets flight parameters after boot
(e.g. ``apt_cal_step_codes=6``).
"""

import argparse
import math

from flight import apt_calib_fit as fit
from sim.run import passsim

_DONE = ("APT_CAL_DONE", "APT_CAL_REFUSED")


def truth(cal):
    """(gain x, gain y, rotation rad, cross) of one unit, as the calibration defines them."""
    c, s = math.cos(cal["cam_fsm_rot_rad"]), math.sin(cal["cam_fsm_rot_rad"])
    g = (1 + cal["fsm_gain_x"], cal["fsm_cross_xy"], cal["fsm_cross_yx"], 1 + cal["fsm_gain_y"])
    k = 1.0 / (1.0 + cal["ifov_scale"])
    return fit.polar((k * (c * g[0] + s * g[2]), k * (c * g[1] + s * g[3]),
                      k * (-s * g[0] + c * g[2]), k * (-s * g[1] + c * g[3])))


def one(seed, params, duration_s=40.0):
    def hook(app):
        app.params.set("apt_cal_auto", 1)
        for name, v in params.items():
            app.params.set(name, v)

    res = passsim.fly("nominal", seed=seed, duration_s=duration_s, app_hook=hook)
    for _t, _b, e in res.obc.events:
        if e.get("name") in _DONE:
            a = e["args"] if e["name"] == "APT_CAL_DONE" else e["args"][1:]
            t = truth(res.world.calib)
            return e["name"][8:], (a[0] - t[0], a[1] - t[1], a[2] - t[2] * 1e3)
    return None, None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("first", type=int)
    ap.add_argument("end", type=int)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    a = ap.parse_args(argv)
    params = {}
    for kv in a.set:
        k, v = kv.split("=", 1)
        params[k] = float(v) if "." in v else int(v)
    errs = []
    for seed in range(a.first, a.end):
        how, e = one(seed, params)
        if e is None:
            print("seed %2d: no result" % seed)
            continue
        errs.append(e)
        print("seed %2d %-7s gain x %+.4f  gain y %+.4f  rotation %+6.2f mrad" % ((seed, how) + e))
    if errs:
        n = len(errs)
        for i, name in enumerate(("gain x", "gain y", "rotation (mrad)")):
            v = [e[i] for e in errs]
            print("%-16s mean %+.4f  RMS %.4f  worst %.4f  (%d units)" % (
                name, sum(v) / n, math.sqrt(sum(x * x for x in v) / n), max(abs(x) for x in v),
                n))


if __name__ == "__main__":
    main()
