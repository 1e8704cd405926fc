"""A document's KV cache on disk: a restarted engine reads a saved prompt back instead of computing it, and
decodes exactly what a cold engine decodes; a corrupt or foreign file is skipped and removed, never loaded;
the folder stays within its size cap, least recently used first.

The model runs in float64 so that a prompt whose last token is computed alone (after a restore) rounds to the
same float32 logits as one computed in a long pass: a random model's flat logits tie often enough in float32.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core.engine.disk_cache import DiskCacheConfig, model_key
from core.engine.engine import Engine, EngineConfig
from core.engine.launch import LaunchOptions, launch
from core.engine.sampler import SamplingParams
from core.models.loader import load_model
from core.tokenizer import Tokenizer
from tests.checkpoints import R1_TOKENIZER, random_checkpoint

VOCAB = 152064
PARAMS = SamplingParams(max_tokens=12, ignore_eos=True)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = random_checkpoint(tmp_path_factory.mktemp("m"), "qwen2", seed=3, vocab_size=VOCAB, tokenizer=R1_TOKENIZER)
    loaded = load_model(folder, "fp32")
    return folder, replace(loaded, model=loaded.model.double(), compute_dtype=torch.float64), Tokenizer.from_dir(folder)


def prompt(n: int, seed: int) -> list[int]:
    return torch.randint(3, 150000, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def engine(model, folder: Path | None, max_bytes: int = 2**30) -> Engine:
    path, loaded, tokenizer = model
    disk = DiskCacheConfig(folder, model_key(path, "fp32"), max_bytes=max_bytes, min_tokens=64) if folder else None
    return Engine(loaded, tokenizer, EngineConfig(max_sequences=2, context_tokens=1024, step_token_budget=128,
                                                 speculation=replace(EngineConfig().speculation, enabled=False),
                                                 disk_cache=disk))


def run(e: Engine, ids: list[int]):
    done = e.generate_batch([ids], PARAMS)[0]
    if e.disk is not None:
        e.disk.flush()
    return done


def test_a_restarted_engine_reads_the_saved_prompt_and_decodes_the_same(model, tmp_path):
    document = prompt(400, 1)
    cold = run(engine(model, None), document)
    first = run(engine(model, tmp_path), document)
    assert first.token_ids == cold.token_ids and first.metrics.cached_prompt_tokens == 0
    assert len(list(tmp_path.rglob("*.safetensors"))) == 1
    again = run(engine(model, tmp_path), document)  # a new engine: a restart
    assert again.metrics.cached_prompt_tokens == 399 and again.token_ids == cold.token_ids
    follow_up = document[:380] + prompt(30, 2)  # the same document, another question
    restarted = engine(model, tmp_path)
    answered = run(restarted, follow_up)
    assert answered.metrics.cached_prompt_tokens == 380
    assert answered.token_ids == run(engine(model, None), follow_up).token_ids
    assert len(list(tmp_path.rglob("*.safetensors"))) == 1  # 30 new tokens are not worth a file of their own


def test_a_corrupt_or_foreign_file_is_skipped_and_removed(model, tmp_path, caplog):
    document = prompt(300, 4)
    cold = run(engine(model, None), document)
    run(engine(model, tmp_path), document)
    [saved] = tmp_path.rglob("*.safetensors")
    saved.write_bytes(saved.read_bytes()[:-100])  # truncated
    with caplog.at_level(logging.WARNING, logger="core.engine.disk_cache"):
        again = run(engine(model, tmp_path), document)
    assert "ignoring the saved KV cache" in caplog.text and again.metrics.cached_prompt_tokens == 0
    assert again.token_ids == cold.token_ids
    [saved] = tmp_path.rglob("*.safetensors")  # written again by that run, whole
    data = bytearray(saved.read_bytes())
    data[-8:] = b"\x7f" * 8  # bytes changed in place: the file still reads, its checksum does not match
    saved.write_bytes(bytes(data))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="core.engine.disk_cache"):
        again = run(engine(model, tmp_path), document)
    assert "contents changed" in caplog.text and again.metrics.cached_prompt_tokens == 0
    assert again.token_ids == cold.token_ids


def test_the_key_follows_the_weights_and_the_precision(model, tmp_path):
    path = model[0]
    assert model_key(path, "fp32") == model_key(path, "fp32") != model_key(path, "bf16")
    other = random_checkpoint(tmp_path / "other", "qwen2", seed=4, vocab_size=VOCAB)  # same shape, other weights
    assert model_key(other, "fp32") != model_key(path, "fp32")


def test_the_folder_keeps_within_its_cap_least_recently_used_first(model, tmp_path):
    e = engine(model, tmp_path)
    run(e, prompt(200, 5))
    one_file = e.disk.bytes_used
    capped = engine(model, tmp_path, max_bytes=int(one_file * 2.5))
    run(capped, prompt(200, 6))
    run(capped, prompt(200, 5))  # restored: now the most recently used
    run(capped, prompt(200, 7))
    assert capped.disk.bytes_used <= one_file * 2.5
    kept = engine(model, tmp_path, max_bytes=int(one_file * 2.5))
    assert run(kept, prompt(200, 5)).metrics.cached_prompt_tokens == 199
    assert run(kept, prompt(200, 6)).metrics.cached_prompt_tokens == 0  # the oldest, evicted


def test_a_relaunched_bundled_model_reads_a_document_back(tmp_path, monkeypatch):
    """The launch path (model key, folder, cap) on the bundled model: a 1,500-token document asked again after
    a new launch is read from disk and answered the same."""
    monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path))
    bundled = Path(__file__).resolve().parents[2] / "resources" / "models" / "ponder-reasoner-mini"
    options = LaunchOptions(bundled, "fp32", 4096, "cpu", kv_disk_mib=64)
    first = launch(options).engine
    ids = first.tokenizer.prompt_ids([{"role": "user", "content": long_document(first.tokenizer, 1500)}])
    cold = run(first, ids)
    assert cold.metrics.cached_prompt_tokens == 0 and len(list((tmp_path / "kv").rglob("*.safetensors"))) == 1
    warm = run(launch(options).engine, ids)
    assert warm.metrics.cached_prompt_tokens == len(ids) - 1 and warm.token_ids == cold.token_ids


def long_document(tokenizer: Tokenizer, tokens: int) -> str:
    lines, n = [], 0
    while n < tokens:
        line = f"Parcel {len(lines) + 100} weighs {len(lines) % 17 + 2} kilograms and leaves from dock {len(lines) % 5}."
        lines.append(line)
        n += len(tokenizer.encode(line)) + 1
    return "\n".join(lines) + "\n\nQuestion: How much does parcel 120 weigh?"
