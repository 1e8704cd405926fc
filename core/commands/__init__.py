"""One module per ``ponder`` subcommand, each with ``run(args) -> exit code`` (``core.cli`` parses and dispatches)."""

from __future__ import annotations

import json
from typing import Any


def dump_json(obj: Any) -> None:
    """The ``--json`` output of a subcommand: one indented object on stdout."""
    print(json.dumps(obj, ensure_ascii=False, indent=2))
