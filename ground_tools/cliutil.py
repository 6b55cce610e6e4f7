"""Shared pieces of the ``vector-tc`` command line (the error type and its printers), so
subcommands in several modules report errors the same way."""

import json
import sys

from ground_tools.link import EXIT_OK, EXIT_USAGE

PROG = "vector-tc"
# A fit or design that ran and was refused (bore-fit, kf-noise: the JSON says why;
# docs/ground-tool.md)
EXIT_REFUSED = 4


class Fail(Exception):
    """One-line error with an exit code."""

    def __init__(self, msg, code=EXIT_USAGE):
        Exception.__init__(self, msg)
        self.code = code


def err(msg):
    print("%s: error: %s" % (PROG, msg), file=sys.stderr)


def note(msg):
    print("%s: %s" % (PROG, msg), file=sys.stderr)


def verdict(out, what):
    """Print a fit's or design's JSON object ``out`` (its ``accepted`` / ``why``) and give
    the exit code: EXIT_OK, or EXIT_REFUSED with "``what`` refused: why" said."""
    print(json.dumps(out, indent=1, sort_keys=True))
    if not out["accepted"]:
        note("%s refused: %s" % (what, out["why"]))
        return EXIT_REFUSED
    return EXIT_OK
