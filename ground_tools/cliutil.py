"""Shared pieces of the ``vector-tc`` command line (the error type and its printers), so
subcommands in several modules report errors the same way."""

import sys

from ground_tools.link import EXIT_USAGE

PROG = "vector-tc"


class Fail(Exception):
    """One-line error with an exit code."""

    def __init__(self, msg, code=EXIT_USAGE):
        Exception.__init__(self, msg)
        self.code = code


def err(msg):
    print("%s: error: %s" % (PROG, msg), file=sys.stderr)


def note(msg):
    print("%s: %s" % (PROG, msg), file=sys.stderr)
