"""Entry point of the ``ponder`` command: the desktop app, or a command-line subcommand.

``ponder`` alone opens the window; ``ponder generate|plan|...`` runs the command line (core.cli), which
never imports Qt.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        from core.cli import main as cli_main

        return cli_main(args)
    print("The Ponder desktop window is not built yet. Command line: ponder --help", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
