"""Downloads from a Hugging Face hub on loopback (``tests.hub_server``), through huggingface_hub, end to end:
a full download that then loads and generates, a pull killed mid-file that resumes without fetching its bytes
again, damaged files fetched again, the disk check before any byte, gated / private / missing repositories,
offline within seconds, and ``ponder pull``'s one-line errors with exit status 2."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import core.hub
from core.cli import main as ponder
from core.hub import HubError, download_model, parse_repo_ref
from core.hub_transfer import part_path
from tests.checkpoints import R1_TOKENIZER, random_checkpoint
from tests.hub_server import VALID_TOKEN, HubRepo, LoopbackHub

REPO = "ponder-test/tiny-reasoner"
WEIGHTS = "model.safetensors"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny Qwen3 (tied embeddings, the R1 tokenizer's vocabulary), ~10 MB of bf16 weights, plus files a pull
    must leave alone: pickle weights and a nested safetensors."""
    folder = random_checkpoint(tmp_path_factory.mktemp("hub") / "tiny", "qwen3", vocab_size=152064, hidden_size=32,
                               intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                               num_key_value_heads=1, head_dim=16, torch_dtype="bfloat16", tokenizer=R1_TOKENIZER)
    (folder / "README.md").write_text("# tiny-reasoner\n\nA random test model.\n")
    (folder / "pytorch_model.bin").write_bytes(b"pickle" * 100)
    return folder


@pytest.fixture
def hub(checkpoint, monkeypatch, tmp_path) -> LoopbackHub:
    repo = HubRepo.from_folder(checkpoint)
    repo.files["original/consolidated.safetensors"] = b"not for Ponder"
    repos = {REPO: repo, "ponder-test/gated": HubRepo.from_folder(checkpoint, gated=True),
             "ponder-test/private": HubRepo.from_folder(checkpoint, private=True),
             "ponder-test/pickle-only": HubRepo({"config.json": repo.files["config.json"], "pytorch_model.bin": b"x"})}
    server = LoopbackHub(repos).start()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored `hf auth login` token
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path / "cache"))
    yield server
    server.stop()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetched(hub: LoopbackHub) -> list[str]:
    return [r.file for r in hub.requests]


def test_a_full_download_loads_and_generates(hub, checkpoint, tmp_path):
    from core.engine.engine import Engine, EngineConfig
    from core.engine.sampler import SamplingParams
    from core.models.loader import load_model
    from core.tokenizer import Tokenizer

    items = list(download_model(REPO, tmp_path / "m"))
    folder = items[-1].path
    assert folder == tmp_path / "m" and items[-1].fraction == 1.0
    assert all(a.bytes_done <= b.bytes_done for a, b in zip(items, items[1:]))
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert names == ["README.md", "config.json", "generation_config.json", WEIGHTS, "tokenizer.json",
                     "tokenizer_config.json"]
    assert "pytorch_model.bin" not in fetched(hub) and "original/consolidated.safetensors" not in fetched(hub)
    assert sha256(folder / WEIGHTS) == sha256(checkpoint / WEIGHTS)
    engine = Engine(load_model(folder, "fp32", "cpu"), Tokenizer.from_dir(folder), EngineConfig(context_tokens=256))
    prompt = engine.tokenizer.prompt_ids([{"role": "user", "content": "Hello"}])
    done = engine.generate_batch([prompt], SamplingParams(max_tokens=4))[0]
    assert len(done.token_ids) == 4


def test_progress_says_bytes_speed_and_time_left(hub, tmp_path):
    hub.rate_bytes_per_s = 20e6
    items = list(download_model(REPO, tmp_path / "m"))
    during = [p for p in items if p.file == WEIGHTS and p.bytes_per_s > 0]
    assert during, "no progress item while the weights streamed"
    text = during[-1].text()
    assert " of " in text and "MiB" in text and "/s" in text and "left" in text
    assert items[-1].text().startswith(f"Downloaded {REPO}")


def test_a_pull_killed_mid_file_resumes_without_fetching_its_bytes_again(hub, checkpoint, tmp_path):
    hub.rate_bytes_per_s = 3e6
    dest = tmp_path / "m"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    pull = subprocess.Popen([sys.executable, "-m", "core.cli", "pull", REPO, "--dir", str(dest)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = part_path(dest, WEIGHTS)
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size > 1_000_000):
        assert pull.poll() is None and time.monotonic() < deadline, "the pull never got into the weights"
        time.sleep(0.05)
    pull.send_signal(signal.SIGKILL)
    pull.wait(10)
    while WEIGHTS not in fetched(hub):  # the server notices the dropped connection at its next write
        assert time.monotonic() < deadline
        time.sleep(0.05)
    kept = part.stat().st_size
    size = (checkpoint / WEIGHTS).stat().st_size
    assert 0 < kept < size
    hub.rate_bytes_per_s = None
    before = len(hub.requests)
    list(download_model(REPO, dest))
    again = [r for r in hub.requests[before:] if r.file == WEIGHTS]
    assert [(r.range_start, r.bytes_sent) for r in again] == [(kept, size - kept)]
    assert not [r for r in hub.requests[before:] if r.file == "config.json"], "a finished file was fetched again"
    assert sha256(dest / WEIGHTS) == sha256(checkpoint / WEIGHTS) and not part.exists()


def test_cancel_keeps_the_partial_file_and_the_next_try_continues_it(hub, checkpoint, tmp_path):
    hub.rate_bytes_per_s = 4e6
    stream = download_model(REPO, tmp_path / "m")
    for progress in stream:
        if progress.file == WEIGHTS and part_path(tmp_path / "m", WEIGHTS).exists() and progress.bytes_per_s > 0:
            break
    stream.close()
    kept = part_path(tmp_path / "m", WEIGHTS).stat().st_size
    assert kept > 0
    hub.rate_bytes_per_s = None
    items = list(download_model(REPO, tmp_path / "m"))
    assert items[0].note.startswith("resuming at") or any(p.note.startswith("resuming") for p in items)
    assert hub.requests[-1].range_start == kept
    assert sha256(tmp_path / "m" / WEIGHTS) == sha256(checkpoint / WEIGHTS)


def test_a_file_damaged_in_transit_is_detected_and_fetched_again(hub, checkpoint, tmp_path):
    hub.corrupt_once = {WEIGHTS}
    items = list(download_model(REPO, tmp_path / "m"))
    assert fetched(hub).count(WEIGHTS) == 2
    assert any("damaged" in p.note for p in items)
    assert sha256(tmp_path / "m" / WEIGHTS) == sha256(checkpoint / WEIGHTS)


def test_a_file_damaged_on_disk_is_fetched_again_and_only_that_one(hub, checkpoint, tmp_path):
    list(download_model(REPO, tmp_path / "m"))
    weights = tmp_path / "m" / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[1000] ^= 0xFF
    weights.write_bytes(bytes(data))
    before = len(hub.requests)
    list(download_model(REPO, tmp_path / "m"))
    assert [r.file for r in hub.requests[before:]] == [WEIGHTS]
    assert sha256(weights) == sha256(checkpoint / WEIGHTS)


def test_not_enough_disk_space_stops_before_any_byte(hub, monkeypatch, tmp_path):
    monkeypatch.setattr(core.hub, "free_disk_bytes", lambda path: 2 * 2**20)
    with pytest.raises(HubError) as err:
        list(download_model(REPO, tmp_path / "m"))
    assert err.value.kind == "disk" and "not enough disk space" in err.value.message
    assert "MiB more" in err.value.message and "only 2 MiB are free" in err.value.message
    assert hub.requests == []


def test_a_gated_repo_says_how_to_get_access(hub, tmp_path):
    with pytest.raises(HubError) as err:
        list(download_model("ponder-test/gated", tmp_path / "g"))
    assert err.value.kind == "gated" and "Accept the terms" in err.value.next_step and "HF_TOKEN" in err.value.next_step
    with pytest.raises(HubError) as err:  # a token that was not granted access: the hub's 403
        list(download_model("ponder-test/gated", tmp_path / "g", token="hf_not_granted"))
    assert err.value.kind == "gated"
    assert list(download_model("ponder-test/gated", tmp_path / "g", token=VALID_TOKEN))[-1].path == tmp_path / "g"


@pytest.mark.parametrize("ref, kind", [("ponder-test/private", "not_found"), ("ponder-test/missing", "not_found"),
                                       (f"{REPO}@no-such-branch", "not_found"),
                                       ("ponder-test/pickle-only", "no_safetensors")])
def test_missing_private_and_unusable_repos_are_named(hub, tmp_path, ref, kind):
    with pytest.raises(HubError) as err:
        list(download_model(ref, tmp_path / "x"))
    assert err.value.kind == kind and err.value.next_step and "\n" not in err.value.one_line()


def test_offline_is_said_within_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    started = time.monotonic()
    with pytest.raises(HubError) as err:
        list(download_model(REPO, tmp_path / "x"))
    assert err.value.kind == "offline" and err.value.message.startswith("offline")
    assert time.monotonic() - started < 5


def test_repo_references_with_revisions():
    assert parse_repo_ref("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B@main").revision == "main"
    assert parse_repo_ref(" owner/name ").revision is None
    assert parse_repo_ref("owner/name@").revision is None
    for bad in ("owner/name@a..b", "name-only", "a/b/c", "owner/na me"):
        with pytest.raises(HubError):
            parse_repo_ref(bad)


def test_ponder_pull_downloads_and_prints_the_folder(hub, tmp_path, capsys):
    assert ponder(["pull", f"{REPO}@main", "--dir", str(tmp_path / "m")]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == str(tmp_path / "m") and "Downloaded" in out.err


@pytest.mark.parametrize("case", ["bad id", "offline", "full disk"])
def test_ponder_pull_failures_are_one_line_with_status_2(hub, tmp_path, capsys, monkeypatch, case):
    repo = REPO
    if case == "bad id":
        repo = "not a repo id"
    elif case == "offline":
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    else:
        monkeypatch.setattr(core.hub, "free_disk_bytes", lambda path: 0)
    assert ponder(["pull", repo, "--dir", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ponder pull: ") and "\n" not in err
    assert {"bad id": "not a Hugging Face repository id", "offline": "offline",
            "full disk": "not enough disk space"}[case] in err
