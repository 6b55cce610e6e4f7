"""``python -m sim``: fly one pass of a scenario in closed loop and report it.

    python -m sim --scenario NAME [--seed N] [--json FILE] [--plots DIR] [--report FILE]
                  [--max-elevation DEG] [--weather clear|fog] [--coarse-error DEG]
                  [--jitter-rms URAD] [--fsm-latency US] [--tick-send US] [--frame-rate HZ]
                  [--session-lead S] [--bore-scan]
                  [--commissioned] [--quiet] [--strict] [--charge-cpu] [--ideal] [--py-kernels]
                  [--list]

Flies the real flight application on the simulated board (sim/run/passsim.py) with a progress
bar in simulated time on stderr, then prints a summary table, one verdict line per goal
of sim/run/metrics.py ``GOALS`` and ``VERDICT: PASS`` or ``VERDICT: FAIL (k goals)``.

Exit status: 0 when the pass was flown (whatever the verdict), 1 with ``--strict`` when a
goal failed, 2 for a usage error (unknown scenario, bad option value), 3 when the
simulation itself raised an exception.

``--report FILE`` writes a Markdown report with the figures; without ``--plots`` the PNGs
go next to the report.  ``--max-elevation``, ``--weather`` and ``--coarse-error`` override
the scenario's values.  See docs/simulator.md.
"""

import argparse
import json
import os
import sys
import traceback

from hal.sim.world import frame_period_us
from sim import scenarios
from sim.run import costmodel



SEED_MAX = 0xFFFFFFFF  # the world's generators take 32-bit seed words (sim/rng.py)


def seed_value(v):
    """``--seed``: an integer 0 .. SEED_MAX (a larger or negative one would be folded
    onto another seed's world without a word)."""
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not an integer" % v) from None
    if not 0 <= n <= SEED_MAX:
        raise argparse.ArgumentTypeError("%s: must be within 0 .. %d" % (v, SEED_MAX))
    return n

def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m sim",
        description="Fly one simulated pass with the real flight software and report it.")
    p.add_argument("--scenario", default="nominal",
                   help="scenario name (default nominal; --list shows them)")
    p.add_argument("--seed", type=seed_value, default=1,
                   help="random seed of the physics, 0 .. 2^32-1 (default 1)")
    p.add_argument("--json", metavar="FILE", help="write the metrics JSON (DESIGN §7 keys)")
    p.add_argument("--plots", metavar="DIR", help="write the PNG figures into DIR")
    p.add_argument("--report", metavar="FILE",
                   help="write a Markdown report with the figures and the events timeline")
    p.add_argument("--max-elevation", type=float, metavar="DEG",
                   help="override the pass's maximum elevation (20 < DEG <= 90)")
    p.add_argument("--weather", choices=("clear", "fog"), help="override the weather")
    p.add_argument("--coarse-error", type=float, metavar="DEG",
                   help="override the initial coarse pointing error (0 .. 2 deg)")
    p.add_argument("--jitter-rms", type=float, metavar="URAD",
                   help="override the platform's broadband jitter RMS (0 .. 200 urad)")
    p.add_argument("--fsm-latency", type=int, metavar="US",
                   help="override the FSM command latency (0 .. 10000 us)")
    p.add_argument("--tick-send", type=int, metavar="US",
                   help="override the APT tick's time before its mirror command (0 .. "
                        "10000 us; default the board's measured send with its camera "
                        "read and buses, %d, sim/run/costmodel.py MIRROR_SEND_US; "
                        "stop 51's kit send, without them, %d: a board "
                        "slower or faster to its send than the flight's delays assume, "
                        "docs/apt-loop.md §4 \"Which way to err\")"
                        % (costmodel.MIRROR_SEND_US, costmodel.KIT_SEND_US))
    p.add_argument("--param", action="append", metavar="NAME=VALUE", default=[],
                   help="set a flight parameter at every boot, checked as PARAM_SET checks "
                        "it (repeatable; e.g. apt_kf_noise_urad=1.25: a design what-if, "
                        "docs/apt-loop.md §5 \"The predictor's design, re-checked\")")
    p.add_argument("--exact-wave", action="store_true",
                   help="idealise the mirror's waveform timing: every sample exactly on its "
                        "period (default: on the board's millisecond tick, each the sample "
                        "nearest its time, hal/real/fsm.py)")
    p.add_argument("--aligned-frames", action="store_true",
                   help="idealise the camera's frame clock: its frames on the payload "
                        "computer's grid from time 0 (default: the camera's own oscillator, "
                        "20 ppm off, started at a phase of its own, hal/sim/frameclock.py)")
    p.add_argument("--frame-rate", type=float, metavar="HZ",
                   help="override the beacon camera's frame rate (the APT ticks once a frame; "
                        "the period a whole number of ms, 2 .. 32: e.g. 100, 125, 200, 250, "
                        "500; docs/apt-loop.md §5)")
    p.add_argument("--session-lead", type=float, metavar="S",
                   help="start the session S seconds before the station's beacon and uplink "
                        "come on (default: the plan's, ground_tools/plan.py DEFAULT_SESSION_LEAD_S; 100: a warm-up before the link, "
                        "the unit's k_T from dark knees as it warms, docs/calibration.md)")
    p.add_argument("--bore-scan", action="store_true",
                   help="the station refines the transmitter boresight in the pass: "
                        "PA_BORE_SCAN 20 s into TRACK, the received power fitted "
                        "(vector-tc bore-fit), the correction sent (docs/point-ahead.md)")
    p.add_argument("--commissioned", action="store_true",
                   help="fly the unit's commissioning pass first (FSM calibration, boresight "
                        "scan, k_T from two dark knees, PARAM_SAVE) and this pass with its "
                        "saved parameters "
                        "(sim/run/commission.py; twice the time)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar and no table: only the VERDICT line")
    p.add_argument("--strict", action="store_true", help="exit 1 when a goal fails")
    p.add_argument("--charge-cpu", action="store_true",
                   help="charge the host's measured CPU time of the flight tasks to simulated "
                        "time instead of the declared per-task cost model (not reproducible: "
                        "the figures then depend on the host's load)")
    p.add_argument("--deterministic", action="store_true",
                   help="accepted for old scripts: the default is deterministic now")
    p.add_argument("--ideal", action="store_true",
                   help="fly the idealised world of before issue 13 (no calibration errors, no "
                        "point-ahead in the aim, no charged task cost) for comparison")
    p.add_argument("--py-kernels", action="store_true",
                   help="run the APT's kernels as the flight code's Python twins instead of "
                        "their host builds (sim/run/hostkernels: the same figures, bit for bit, "
                        "~1.7x faster)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    # Tests: stop the run after this many simulated seconds (passsim.fly duration_s).
    p.add_argument("--duration", type=float, help=argparse.SUPPRESS)
    return p


def planning_overrides(args):
    """The overrides of ``--frame-rate`` and ``--session-lead`` (a campaign applies them to
    every draw too); (dict, error text or None)."""
    ov = {}
    if getattr(args, "frame_rate", None) is not None:
        try:
            frame_period_us(args.frame_rate)
        except ValueError:
            return None, ("--frame-rate must give a frame period of a whole number of ms, "
                          "2 .. 32 (e.g. 100, 125, 200, 250, 500 Hz), got %g" % args.frame_rate)
        ov["frame_rate_hz"] = args.frame_rate
    lead = getattr(args, "session_lead", None)
    if lead is not None:
        from ground_tools.plan import search_limit_s

        if not 0.0 <= lead <= search_limit_s():
            return None, ("--session-lead must be within 0 .. %g s (the APT ends a session "
                          "that finds no beacon after apt_search_timeout_s), got %g"
                          % (search_limit_s(), lead))
        ov["session_lead_s"] = lead
    return ov, None


def _literal(text):
    """A parameter value as typed: true / false, an int, a float, else the text (which
    Params.set refuses, naming the type it wants).  vector-tc reads its scalars so too
    (ground_tools/commands.py ``_parse_scalar``), and is not imported for it: the
    simulator's command line stays below the ground tool's."""
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    for kind in (int, float):
        try:
            return kind(t)
        except ValueError:
            pass
    return text


def boot_params_from(items):
    """{name: value} of ``--param NAME=VALUE`` items, each checked as PARAM_SET checks it
    (a declared name, its type and range, the cross-parameter rules with those before
    it); (dict, error text or None)."""
    from flight import components
    from flight.params import Params

    ps = Params()
    for owner, decl in components.declared("PARAMS"):
        ps.declare(decl, owner)
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            return None, "--param wants NAME=VALUE, got %r" % item
        try:
            out[name] = ps.set(name, _literal(text))
        except Exception as e:  # noqa: BLE001 - ParamError and the checks' own: the user's
            return None, "--param: %s" % (e,)
    return out, None


def overrides_from(args):
    """fly() overrides from the command line; (dict, error text or None)."""
    ov = {}
    if getattr(args, "param", None):
        params, err = boot_params_from(args.param)
        if err:
            return None, err
        ov["boot_params"] = params
    if args.max_elevation is not None:
        if not 20.0 < args.max_elevation <= 90.0:
            return None, ("--max-elevation must be above 20 and at most 90 deg (the pass is "
                          "the time above 20 deg), got %g" % args.max_elevation)
        ov["max_elevation_deg"] = args.max_elevation
    if args.weather is not None:
        ov["weather"] = args.weather
    if args.coarse_error is not None:
        if not 0.0 <= args.coarse_error <= 2.0:
            return None, "--coarse-error must be within 0 .. 2 deg, got %g" % args.coarse_error
        ov["coarse_error_deg"] = args.coarse_error
    if args.jitter_rms is not None:
        if not 0.0 <= args.jitter_rms <= 200.0:
            return None, "--jitter-rms must be within 0 .. 200 urad, got %g" % args.jitter_rms
        ov["jitter_rms_urad"] = args.jitter_rms
    if args.fsm_latency is not None:
        if not 0 <= args.fsm_latency <= 10000:
            return None, "--fsm-latency must be within 0 .. 10000 us, got %d" % args.fsm_latency
        ov["fsm_latency_us"] = args.fsm_latency
    if getattr(args, "exact_wave", False):
        ov["wave_timing"] = "exact"
    if getattr(args, "aligned_frames", False):
        ov["frame_clock"] = "aligned"
    if args.tick_send is not None:
        if not 0 <= args.tick_send <= 10000:
            return None, "--tick-send must be within 0 .. 10000 us, got %d" % args.tick_send
        if getattr(args, "ideal", False):
            return None, ("--tick-send needs the honest world (the idealised one sends each "
                          "mirror command at the task's dispatch)")
        ov["tick_send_us"] = args.tick_send
    planned, err = planning_overrides(args)
    if err:
        return None, err
    ov.update(planned)
    if getattr(args, "bore_scan", False):
        if getattr(args, "ideal", False):
            return None, ("--bore-scan needs the honest world (the idealised one has no "
                          "boresight error to find)")
        ov["bore_scan"] = {}  # (sim/run/bore_ground.py DEFAULTS)
    if getattr(args, "commissioned", False):
        if getattr(args, "ideal", False):
            return None, ("--commissioned needs the honest world (the idealised one has no "
                          "calibration errors to commission away)")
        ov["commissioned"] = {}  # (sim/run/commission.py)
    return ov, None


def main(argv=None):
    args = build_parser().parse_args(argv)
    names = scenarios.names()
    if args.list:
        for n in names:
            print(n)
        return 0
    if args.scenario not in names:
        sys.stderr.write("error: unknown scenario %r; known scenarios: %s\n"
                         % (args.scenario, ", ".join(names)))
        return 2
    ov, err = overrides_from(args)
    if err:
        sys.stderr.write("error: %s\n" % err)
        return 2
    if args.duration is not None and not args.duration > 0:
        sys.stderr.write("error: --duration must be > 0\n")
        return 2

    from sim.run import report

    try:
        res, m = report.run(args.scenario, seed=args.seed, overrides=ov,
                            progress=not args.quiet, duration_s=args.duration,
                            charge_cpu=args.charge_cpu, ideal=args.ideal,
                            py_kernels=args.py_kernels)
    except Exception:
        sys.stderr.write("\n")
        traceback.print_exc()
        sys.stderr.write("error: the simulated pass of %r (seed %d) raised an exception\n"
                         % (args.scenario, args.seed))
        return 3

    doc = report.metrics_json(m, args.scenario, args.seed, ov, args.duration,
                              charge_cpu=args.charge_cpu, ideal=args.ideal, res=res)
    lines, nfail = report.verdict_lines(m)
    if not args.quiet:
        title = "Pass %s, seed %d%s%s" % (args.scenario, args.seed, "".join(
            ", %s=%s" % kv for kv in sorted(ov.items())), " (ideal world)" if args.ideal else "")
        print(report.summary_table(m, title=title))
        print("Goals (sim/run/metrics.py GOALS: the bars of issue 14, its goals beside them; "
              "the exit status is 0 whatever the verdict, 1 with --strict when one fails):")
        for line in lines[:-1]:
            print(line)
    if args.json:
        _makedirs_for(args.json)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, sort_keys=False, allow_nan=False)
            fh.write("\n")
    plots_dir = args.plots
    if plots_dir is None and args.report:
        plots_dir = os.path.dirname(os.path.abspath(args.report))
    figures = []
    s = None
    if plots_dir or args.report:
        from sim.run import plots, series

        s = series.series(res)
        if plots_dir:
            figures = plots.write_all(res, plots_dir, s)
    if args.report:
        report.write_report(args.report, res, m, args.scenario, args.seed, figures, s, ov)
    if not args.quiet:
        written = ([args.json] if args.json else []) + [p for p, _ in figures] + \
            ([args.report] if args.report else [])
        if written:
            print("wrote: " + ", ".join(written))
    print(lines[-1])
    return 1 if (args.strict and nfail) else 0


def _makedirs_for(path):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)


if __name__ == "__main__":
    sys.exit(main())
