"""The wheel-line canceller near the frames' Nyquist frequency (docs/apt-loop.md §4 "Wheel
lines"): how close to half the frame rate a line can be and still be cancelled.

    python -m bench.apt_alias_guard [--seed N] [--duration S] [--freqs F,F,...]
                                    [--phase RAD] [--guard HZ]

Flies the honest nominal pass (``--duration`` simulated seconds) with the reaction wheels
replaced by two (sim/pointing.py's amplitudes: 1.5 µrad fundamental, 0.5 µrad 2nd
harmonic): one at each frequency of ``--freqs`` and one at 40.3 Hz (always cancelled), and
prints, per frequency, the aim error RMS in TRACK with the canceller's rule as built
(``flight.apt_wheels.ALIAS_GUARD_HZ``) and with the guard set to ``--guard`` (default
1.5 Hz: the limit before stop 29, a line aliased above 48.5 Hz left to the predictor).
JSON on stdout, one object per frequency, a progress line per pass on stderr.
"""

import argparse
import json
import sys

from sim.pointing import RW_AMP_RAD  # the world's wheel lines: fundamental, 2nd harmonic

OTHER_WHEEL_HZ = 40.3  # aliased at 40.3 Hz: cancelled under either rule


def _lines(f, phase):
    """The world's ``lines`` (amplitude, Hz, phase, direction) for a wheel at ``f``."""
    return [(RW_AMP_RAD[0], f, phase, 0.7), (RW_AMP_RAD[1], 2 * f, 1.1, 0.7),
            (RW_AMP_RAD[0], OTHER_WHEEL_HZ, 2.0, 2.1),
            (RW_AMP_RAD[1], 2 * OTHER_WHEEL_HZ, 0.2, 2.1)]


def fly(seed, duration_s, f, phase, guard_hz):
    """Aim error RMS (µrad) of one pass with a wheel at ``f`` and the guard ``guard_hz``
    (None: as built)."""
    import flight.apt_wheels as wheels
    import hal.sim.world as world
    from sim.run import metrics, passsim

    built_guard = wheels.ALIAS_GUARD_HZ
    built_lines = world.reaction_wheel_lines
    try:
        if guard_hz is not None:
            wheels.ALIAS_GUARD_HZ = guard_hz
        world.reaction_wheel_lines = lambda _seed: _lines(f, phase)
        m = metrics.compute(passsim.fly("nominal", seed=seed, duration_s=duration_s))
    finally:
        wheels.ALIAS_GUARD_HZ = built_guard
        world.reaction_wheel_lines = built_lines
    return m["track_residual_rms_urad"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument("--freqs", default="49.6,49.9,49.95,50.05,50.2")
    ap.add_argument("--phase", type=float, default=0.3)
    ap.add_argument("--guard", type=float, default=1.5)
    a = ap.parse_args(argv)
    try:
        freqs = [float(v) for v in a.freqs.split(",")]
    except ValueError:
        ap.error("--freqs: comma-separated frequencies in Hz")
    if a.duration <= 20.0 or a.guard < 0.0:
        ap.error("--duration must exceed 20 s (TRACK starts ~8 s in); --guard >= 0")
    import flight.apt_wheels as wheels

    out = []
    for i, f in enumerate(freqs):
        row = {"wheel_hz": f, "phase_rad": a.phase,
               "guard_hz_built": wheels.ALIAS_GUARD_HZ, "guard_hz_other": a.guard}
        row["aim_error_urad_built"] = round(fly(a.seed, a.duration, f, a.phase, None), 3)
        row["aim_error_urad_other"] = round(fly(a.seed, a.duration, f, a.phase, a.guard), 3)
        print("apt_alias_guard: %d/%d  %.3f Hz  %.3f (guard %.2f Hz)  %.3f (guard %.2f Hz)"
              % (i + 1, len(freqs), f, row["aim_error_urad_built"], wheels.ALIAS_GUARD_HZ,
                 row["aim_error_urad_other"], a.guard), file=sys.stderr, flush=True)
        out.append(row)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
