import sys

from tools.mpyvm import main

sys.exit(main())
