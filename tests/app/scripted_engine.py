"""A test-only engine entry point: the real server (``core.server.lifecycle.serve``) with a scripted model.

``python -m tests.app.scripted_engine [--token-delay S] <the options of python -m core.server>`` starts
exactly like ``python -m core.server`` (token from the environment, one JSON handshake line on stdout,
SIGTERM shuts down) and serves a real Engine, tokenizer and chat template; only the model is scripted:
after ``<｜Assistant｜>`` it writes ``<think>`` + REASONING + ``</think>`` + ANSWER, one token per forward
pass, ``--token-delay`` seconds each. A prompt containing the word "forever" gets reasoning that never
ends (until max_tokens), for the Stop and crash tests.

Unlike ``ChainModel`` (next token = f(current token), so every token of a script must be distinct), the
model here follows its script by position, counted from the ``<｜Assistant｜>`` token of the prompt, so
the text can be natural prose with numbered steps. It serves one answer at a time (as the GUI does).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from core.engine.engine import Engine, EngineConfig
from core.engine.launch import Launched, LaunchOptions
from core.engine.speculative import SpeculationConfig
from core.tokenizer import Tokenizer
from core.hardware import HardwareInfo
from core.model_config import ModelConfig
from core.models.loader import LoadedModel
from core.precision import plan
from core.server.__main__ import build_parser, json_announcer
from core.server.settings import options_from_args, read_token
from tests.checkpoints import R1_TOKENIZER, tiny_config

VOCAB = 152064
USER, ASSISTANT, THINK, END_THINK, EOS = 151644, 151645, 151648, 151649, 151643

REASONING = (
    "1. The question asks for the total of the two invoices in the report.\n\n"
    "2. The first invoice is 1,250 euros and the second is 730 euros.\n\n"
    "3. Adding them gives 1,250 + 730 = 1,980 euros.\n\n"
    "Wait, the second invoice has a 10% discount, so it is 657 euros, not 730.\n\n"
    "4. The total is therefore 1,250 + 657 = 1,907 euros.")
ANSWER = "The two invoices come to **1,907 euros** in total (1,250 + 657 after the 10% discount on the second)."
LOOP = "Step {n}. Checking the report once more to be sure nothing was missed.\n\n"
TRIGGER_WORD = " forever"
HARDWARE = HardwareInfo(device="cpu", device_name="test CPU", total_memory_bytes=16 * 2**30,
                        free_memory_bytes=12 * 2**30, cpu_name="test CPU")


class ScriptModel(nn.Module):
    """Logits that pick ``script[k]`` for the k-th token after ``<｜Assistant｜>`` (eos past the end)."""

    def __init__(self, config: ModelConfig, script: list[int], endless: list[int], trigger: int,
                 delay_s: float) -> None:
        super().__init__()
        self.config, self.script, self.endless, self.trigger, self.delay_s = config, script, endless, trigger, delay_s
        self.start_pos: int | None = None
        self.current = script

    def forward(self, tokens: Tensor, positions: Tensor, cache=None, logits_at: Tensor | None = None) -> Tensor:
        if self.delay_s:
            time.sleep(self.delay_s)
        toks, pos = tokens[0].tolist(), positions[0].tolist()
        rows = range(len(toks)) if logits_at is None else logits_at.tolist()
        logits = torch.zeros(len(rows), self.config.vocab_size)
        for i, r in enumerate(rows):
            if toks[r] == ASSISTANT:  # the prompt's last token: a new answer starts
                self.start_pos = pos[r]
                question = toks[max((j for j in range(r) if toks[j] == USER), default=0):r]
                self.current = self.endless if self.trigger in question else self.script
            k = pos[r] - self.start_pos if self.start_pos is not None else -1
            logits[i, self._token(k)] = 100.0
        return logits

    def _token(self, k: int) -> int:
        if k < 0:
            return EOS
        if self.current is self.endless:
            return THINK if k == 0 else self.endless[(k - 1) % len(self.endless)]
        return self.current[k] if k < len(self.current) else EOS


def script_ids(tokenizer: Tokenizer) -> tuple[list[int], list[int]]:
    script = [THINK, *tokenizer.encode(REASONING), END_THINK, *tokenizer.encode("\n\n" + ANSWER), EOS]
    endless = [i for n in range(1, 10) for i in tokenizer.encode(LOOP.format(n=n))]
    return script, endless


def scripted_launcher(delay_s: float) -> Callable[[LaunchOptions, Callable[[str, float], None]], Launched]:
    tokenizer = Tokenizer.from_dir(R1_TOKENIZER)
    config = ModelConfig.from_hf(tiny_config("qwen2", vocab_size=VOCAB, max_position_embeddings=4096))
    script, endless = script_ids(tokenizer)
    trigger = tokenizer.encode(TRIGGER_WORD)[0]

    def launch(options: LaunchOptions, on_progress: Callable[[str, float], None]) -> Launched:
        on_progress("planning", 0.0)
        precision = "fp32" if options.precision == "auto" else options.precision
        the_plan = plan(config, HARDWARE, options.context_tokens or 2048, precision, options.max_sequences)
        for i in range(1, 5):
            time.sleep(0.05)  # a visible load
            on_progress("loading", i / 4)
        model = ScriptModel(config, script, endless, trigger, delay_s)
        loaded = LoadedModel(model, config, precision, torch.float32, torch.device("cpu"), 0.0, 0)  # type: ignore
        engine = Engine(loaded, tokenizer, EngineConfig(max_sequences=options.max_sequences,
                                                        context_tokens=the_plan.context_tokens,
                                                        max_waiting=options.max_waiting,
                                                        # the script keeps where its answer started; a rejected
                                                        # draft token (a past turn's <｜Assistant｜>) would move it
                                                        speculation=SpeculationConfig(enabled=False)))
        return Launched(engine, the_plan, HARDWARE, loaded, [])

    return launch


def main(argv: list[str] | None = None) -> int:
    ours = argparse.ArgumentParser(add_help=False)
    ours.add_argument("--token-delay", type=float, default=0.01)
    mine, rest = ours.parse_known_args(argv)
    args = build_parser().parse_args(rest)
    handshake_out, sys.stdout = sys.stdout, sys.stderr
    announce = json_announcer(handshake_out)
    options = options_from_args(args)
    token, generated = read_token(args.token_stdin)
    from core.server.lifecycle import serve

    return serve(options, token, generated, announce, launcher=scripted_launcher(mine.token_delay))


def write_model_folder(path: Path) -> Path:
    """A model folder the scripted engine (and the plan endpoint) can read: config, tokenizer, a README, and a
    one-tensor safetensors file (never loaded: the planner only checks that the weights are safetensors)."""
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    save_file({"scripted": torch.zeros(1)}, str(path / "model.safetensors"))
    config = tiny_config("qwen2", vocab_size=VOCAB, max_position_embeddings=4096)
    (path / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (path / name).write_bytes((R1_TOKENIZER / name).read_bytes())
    (path / "README.md").write_text("---\nlicense: mit\n---\n# Scripted reasoner\n\nA **test** model that "
                                    "answers from a script.\n\n![remote](https://example.com/x.png)\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
