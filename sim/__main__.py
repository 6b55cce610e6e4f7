"""``python -m sim``: thin entry point; the command lives in sim/run/cli.py (runner layer)."""

import sys

from sim.run.cli import main

if __name__ == "__main__":
    sys.exit(main())
