"""``python -m sim.campaign``: thin entry point; the campaign lives in sim/run/campaign.py."""

import sys

from sim.run.campaign import main

if __name__ == "__main__":
    sys.exit(main())
