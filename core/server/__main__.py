"""``python -m core.server``: the engine process the GUI spawns.

stdout carries exactly one line, the JSON handshake (``{"event": "ready", ...}`` or ``{"event": "error",
...}``); everything else goes to stderr and the log file. Anything printed to stdout by a library is sent
to stderr instead, so the GUI can trust the first stdout line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, TextIO

from core.server.settings import add_serve_arguments, options_from_args, read_token


def build_parser(prog: str = "python -m core.server") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Ponder's engine: an OpenAI-compatible API on 127.0.0.1.")
    add_serve_arguments(parser)
    return parser


def json_announcer(out: TextIO):
    def announce(message: dict[str, Any]) -> None:
        out.write(json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n")
        out.flush()

    return announce


def main(argv: list[str] | None = None, prog: str = "python -m core.server") -> int:
    """``prog``: how the usage line names this program (``ponder engine``, the bundle's ``ponder-engine``)."""
    args = build_parser(prog).parse_args(argv)
    handshake_out, sys.stdout = sys.stdout, sys.stderr  # stray prints must not corrupt the handshake
    announce = json_announcer(handshake_out)
    try:
        options = options_from_args(args)
        token, generated = read_token(args.token_stdin)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        announce({"event": "error", "message": str(exc)})
        return 2
    from core.server.lifecycle import serve  # imports torch: only now

    try:
        return serve(options, token, generated, announce)
    except OSError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        announce({"event": "error", "message": str(exc)})
        return 2
    except KeyboardInterrupt:
        return 0


def exit_now(code: int | None) -> None:
    """End the process once the server has shut down cleanly (requests aborted, sockets closed, logs
    written): the interpreter's own teardown, garbage-collecting torch's objects, took 9-25 s under load,
    longer than the window waits before it kills its engine."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    exit_now(main())
