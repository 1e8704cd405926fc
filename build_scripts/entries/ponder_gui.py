"""The bundle's window program, ``ponder``: ``app.launch.gui_main`` (never the engine: no torch in here)."""

import sys

from app.launch import gui_main

if __name__ == "__main__":
    sys.exit(gui_main())
