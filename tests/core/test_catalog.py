"""The model catalog: its entries (configs shipped as data), the planner's badges for a machine, the local model
folders (size, last used, delete), and ``ponder models``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.catalog import entry_from_dict, fit_text, judge, load_catalog
from core.hardware import HardwareInfo
from core.local_models import LocalModelError, delete_local_model, list_local_models, record_use
from core.paths import downloads_dir, models_dir

GiB = 2**30
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "configs"
REQUIRED = {"deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
            "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
            "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
            "Qwen/Qwen3-0.6B", "Qwen/Qwen3-1.7B", "Qwen/Qwen3-4B", "Qwen/Qwen3-8B", "Qwen/Qwen3-14B", "Qwen/Qwen3-32B"}
LAPTOP_8_GIB = HardwareInfo("cpu", "8 GiB laptop", 8 * GiB, 7 * GiB, cpu_name="laptop CPU",
                            cpu_flags=("avx512_bf16",), supports_bf16=True, cpu_bf16_faster=True)
GPU_24_GIB = HardwareInfo("cuda", "24 GiB GPU", 24 * GiB, int(23.5 * GiB), (8, 9), True, True)


def fake_7b() -> dict:
    """A 7B entry with R1-Distill-Qwen-7B's shape, under a made-up name."""
    config = json.loads((FIXTURES / "DeepSeek-R1-Distill-Qwen-7B.json").read_text())
    return {"repo": "fake/reasoner-7b", "name": "Fake reasoner 7B", "license": "MIT", "config": config}


def test_the_catalog_has_the_curated_models_and_their_real_shapes():
    entries = {e.repo_id: e for e in load_catalog()}
    assert REQUIRED <= set(entries)
    for name in ("DeepSeek-R1-Distill-Qwen-1.5B", "DeepSeek-R1-Distill-Qwen-7B", "DeepSeek-R1-Distill-Llama-8B",
                 "DeepSeek-R1-Distill-Llama-70B", "Qwen3-8B"):
        real = json.loads((FIXTURES / f"{name}.json").read_text())
        entry = next(e for repo, e in entries.items() if repo.endswith("/" + name))
        shipped = entry.config
        assert (shipped.hidden_size, shipped.num_hidden_layers, shipped.num_key_value_heads, shipped.vocab_size,
                shipped.max_position_embeddings) == (real["hidden_size"], real["num_hidden_layers"],
                                                      real["num_key_value_heads"], real["vocab_size"],
                                                      real["max_position_embeddings"])
    small = entries["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"]
    assert 1.7e9 < small.parameters < 1.85e9 and 3.4e9 < small.download_bytes < 3.7e9  # 3.55 GB on the hub
    assert 7.5e9 < entries["Qwen/Qwen3-8B"].parameters < 8.3e9 and entries["Qwen/Qwen3-8B"].context_tokens == 40960
    assert all(e.license and e.about for e in entries.values())


def test_a_7b_on_an_8_gib_machine_fits_at_int4_only():
    verdict = judge(entry_from_dict(fake_7b()).config, LAPTOP_8_GIB)
    assert verdict.badge == "fits at int4 only" and verdict.level == "int4_only" and verdict.chosen == "int4"
    assert [f.precision for f in verdict.fits if f.fits] == ["int4"]
    assert verdict.fit("bf16").needs_bytes > 14 * GiB and fit_text(verdict.fit("bf16")).startswith("bf16 ✗")


def test_a_7b_on_a_24_gib_gpu_fits_at_bf16():
    verdict = judge(entry_from_dict(fake_7b()).config, GPU_24_GIB)
    assert verdict.badge == "fits at bf16" and verdict.chosen == "bf16"
    assert not verdict.fit("fp32").fits and verdict.fit("int8").fits
    assert fit_text(verdict.fit("bf16"), compact=True).startswith("bf16 ✓ ")


def test_too_large_says_what_it_needs_and_what_is_free():
    small_laptop = HardwareInfo("cpu", "4 GiB laptop", 4 * GiB, 3 * GiB, cpu_name="x")
    verdict = judge(entry_from_dict(fake_7b()).config, small_laptop)
    assert verdict.level == "too_large" and verdict.chosen is None
    assert verdict.badge.startswith("too large: needs ") and verdict.badge.endswith("GiB, 3.0 free")
    old_gpu = HardwareInfo("cuda", "old GPU", 8 * GiB, 8 * GiB, (7, 5), False, True)
    assert not judge(entry_from_dict(fake_7b()).config, old_gpu).fit("bf16").runnable


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def model_folder(path: Path, size: int = 1000) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"]}))
    (path / "model.safetensors").write_bytes(b"\0" * size)
    return path


def test_local_models_list_size_and_last_use_and_delete_only_downloads(cache, tmp_path):
    downloaded = model_folder(downloads_dir() / "owner--model", 5000)
    extra = model_folder(tmp_path / "mine" / "my-model")
    record_use(downloaded, when=1_700_000_000.0)
    models = {m.name: m for m in list_local_models([tmp_path / "mine"])}
    assert models["owner/model"].source == "downloaded" and models["owner/model"].size_bytes > 5000
    assert models["owner/model"].last_used == 1_700_000_000.0 and models["owner/model"].deletable
    assert models["my-model"].source == "folder" and not models["my-model"].deletable
    assert models["ponder-reasoner-mini"].source == "bundled" and not models["ponder-reasoner-mini"].deletable
    with pytest.raises(LocalModelError, match="bundled"):
        delete_local_model(models_dir() / "ponder-reasoner-mini")
    with pytest.raises(LocalModelError, match="not downloaded by Ponder"):
        delete_local_model(extra)
    assert delete_local_model(downloaded) > 5000 and not downloaded.exists() and extra.exists()


def test_ponder_models_lists_the_catalog_with_badges_and_the_local_models(cache, monkeypatch, capsys):
    import core.engine.hardware_probe
    from core.cli import main as ponder

    monkeypatch.setattr(core.engine.hardware_probe, "probe", lambda device="auto": GPU_24_GIB)
    model_folder(downloads_dir() / "owner--model")
    assert ponder(["models", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    catalog = {e["repo"]: e for e in out["catalog"]}
    assert catalog["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"]["badge"] == "fits at bf16"
    assert catalog["deepseek-ai/DeepSeek-R1-Distill-Llama-70B"]["level"] == "too_large"
    assert {m["name"] for m in out["local"]} >= {"owner/model", "ponder-reasoner-mini"}
    assert ponder(["models"]) == 0
    text = capsys.readouterr().out
    assert "24 GiB GPU" in text and "fits at bf16" in text and "On this computer" in text
    assert ponder(["models", "--delete", "ponder-reasoner-mini"]) == 2
    assert "bundled" in capsys.readouterr().err
    assert ponder(["models", "--delete", "owner/model"]) == 0 and not (downloads_dir() / "owner--model").exists()


def test_the_command_list_the_window_relays_is_the_command_lines():
    from core.cli import build_parser
    from core.frozen import CLI_COMMANDS

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) | {"engine"} == set(CLI_COMMANDS)
