"""``ponder serve``: run the engine's API server in the foreground, for people (and curl, and other UIs).

The same server as ``python -m core.server``, but the handshake is written for humans on stderr: the
address, the token (only when it was generated here; one from $PONDER_API_TOKEN is not echoed) and an
example curl command.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.api.spawn import TOKEN_ENV
from core.server.settings import options_from_args, read_token

# The banner's example: a short note and a question on it, which the bundled model answers right (a test asks it).
EXAMPLE_DOCUMENT = "The bakery on Mill Lane is run by Agnes Holt. It opens at 7:30 and sells 40 loaves a day."
EXAMPLE_QUESTION = "Who runs the bakery on Mill Lane?"
EXAMPLE_CONTENT = f"{EXAMPLE_DOCUMENT}\n\nQuestion: {EXAMPLE_QUESTION}"


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    token, generated = read_token(args.token_stdin)
    from core.server.lifecycle import serve  # imports torch: only now

    return serve(options, token, generated, _announce_for_humans)


def _announce_for_humans(message: dict[str, Any]) -> None:
    if message.get("event") != "ready":
        print(f"ponder serve: {message.get('message')}", file=sys.stderr, flush=True)
        return
    url = f"http://127.0.0.1:{message['port']}"
    token = message.get("token")
    shown = token if token else f"(the value of ${TOKEN_ENV})"
    curl_token = token if token else f"${TOKEN_ENV}"
    plan = message.get("plan") or {}
    print(f"\nPonder engine serving {message['model']} ({plan.get('summary', '')})\n"
          f"  API:   {url}/v1  (OpenAI-compatible)\n"
          f"  Token: {shown}\n\n"
          "Try:\n"
          f"  curl -N {url}/v1/chat/completions -H 'Authorization: Bearer {curl_token}' \\\n"
          "    -H 'Content-Type: application/json' \\\n"
          f"    -d '{_example_body()}'\n\n"
          "Press Ctrl+C to stop.\n", file=sys.stderr, flush=True)


def _example_body() -> str:
    """The example request's JSON, as a shell's single quotes carry it."""
    body = {"messages": [{"role": "user", "content": EXAMPLE_CONTENT}], "stream": True}
    return json.dumps(body).replace("'", "'\\''")
