"""vector-tc — the Vector payload ground tool (also ``python -m ground_tools``)."""

import argparse
import json
import sys


def cmd_dict(args):
    from ground_tools.dictionary import build_dictionary

    text = json.dumps(build_dictionary(), indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


def build_parser():
    ap = argparse.ArgumentParser(prog="vector-tc", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dict", help="command and telemetry dictionaries as JSON")
    p.add_argument("--out", help="write to FILE instead of stdout")
    p.set_defaults(fn=cmd_dict)
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
