"""The ``ponder`` command line, run as a user would (a subprocess), on a tiny checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checkpoints import R1_TOKENIZER, random_checkpoint

PRECISIONS = ["fp32", "bf16", "fp16", "int8", "int4"]


def ponder(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return random_checkpoint(tmp_path_factory.mktemp("model"), "qwen2", vocab_size=152064, tokenizer=R1_TOKENIZER,
                             hidden_size=128, intermediate_size=256, num_attention_heads=4, num_key_value_heads=2)


def test_generate_json_at_every_precision(model_dir):
    outputs = {}
    for precision in PRECISIONS:
        proc = ponder("generate", "--model", str(model_dir), "--prompt", "What is 2+2?", "--precision", precision,
                      "--max-tokens", "8", "--json", "--threads", "1")
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["plan"]["precision"] == precision
        assert len(result["token_ids"]) == 8 and result["finish_reason"] == "length"
        assert result["metrics"]["ttft_s"] > 0 and result["metrics"]["peak_rss_bytes"] > 0
        assert result["prompt_tokens"] > 5
        outputs[precision] = result["token_ids"]
    assert len(outputs) == len(PRECISIONS)


def test_generate_is_reproducible_with_a_seed(model_dir):
    args = ["generate", "--model", str(model_dir), "--prompt", "Hi", "--max-tokens", "6", "--temperature", "0.9",
            "--seed", "11", "--json", "--precision", "fp32"]
    first, second = (json.loads(ponder(*args).stdout)["token_ids"] for _ in range(2))
    assert first == second


def test_generate_streams_plan_and_stats_for_humans(model_dir):
    proc = ponder("generate", "--model", str(model_dir), "--prompt", "Hi", "--max-tokens", "4", "--precision", "fp32")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Plan: fp32 on cpu")
    assert "TTFT" in proc.stdout and "tok/s" in proc.stdout and "peak RSS" in proc.stdout
    assert "[the answer was cut off: it reached --max-tokens (4); raise --max-tokens]" in proc.stdout, proc.stdout


def test_the_advice_names_what_ran_out():
    """Raising --max-tokens helps only when max tokens ran out; a full context or a loop needs something else."""
    from core.commands.generate import _ending

    assert _ending("max_tokens", True, 64, 64, 4096).endswith("it reached --max-tokens (64); raise --max-tokens")
    context = _ending("context", False, 4000, 8192, 4096)
    assert "--max-tokens" not in context and "the context (4,096 tokens) is full" in context
    assert _ending("repetition", False, 300, 2048, 4096) == "the model began repeating itself; stopped after 300 tokens"
    assert _ending("eos", False, 12, 2048, 4096) == _ending("stop_string", False, 12, 2048, 4096) == ""


def test_plan_lists_every_candidate_with_reasons(model_dir):
    proc = ponder("plan", "--model", str(model_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)["plan"]
    assert {c["precision"] for c in plan["candidates"]} == set(PRECISIONS)
    assert plan["reasons"] and plan["precision"] in PRECISIONS
    human = ponder("plan", "--model", str(model_dir))
    assert "chosen" in human.stdout and "GiB" in human.stdout


def test_errors_are_messages_not_tracebacks(tmp_path):
    proc = ponder("generate", "--model", str(tmp_path), "--prompt", "x")
    assert proc.returncode == 2
    assert "config.json" in proc.stderr and "Traceback" not in proc.stderr
    proc = ponder("plan", "--model", str(tmp_path), "--json")
    assert json.loads(proc.stdout)["error"]["message"]


def test_plan_refuses_a_folder_that_generate_refuses(model_dir, tmp_path):
    # a pickle-only folder: the plan must not say "fits" for weights the loader will never read
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (pickled / name).write_bytes((model_dir / name).read_bytes())
    (pickled / "pytorch_model.bin").write_bytes(b"not read")
    plan, generate = ponder("plan", "--model", str(pickled)), ponder("generate", "--model", str(pickled), "--prompt", "x")
    assert plan.returncode == generate.returncode == 2
    assert "only pickle checkpoints found" in plan.stderr and "only pickle checkpoints found" in generate.stderr
    assert "chosen" not in plan.stdout and "Traceback" not in plan.stderr


def test_plan_shows_a_small_models_memory_in_mib(model_dir):
    proc = ponder("plan", "--model", str(model_dir))
    rows = [line for line in proc.stdout.splitlines() if line.strip().startswith(("fp32 ", "bf16 ", "int8 "))]
    assert rows and not any("0.0 GiB" in row for row in rows), proc.stdout
