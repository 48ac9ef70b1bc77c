"""``python -m waymark``: the same command as the ``waymark`` console script."""

import sys

from waymark.cli import main

if __name__ == "__main__":
    sys.exit(main())
