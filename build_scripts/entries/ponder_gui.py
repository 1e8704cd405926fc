"""The bundle's window program, ``ponder``: ``app.__main__.main`` (never the engine: no torch in here)."""

import sys

from app.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
