"""core.hub's file selection and error sentences, and the window's download path (model panel, catalog) against a
hub on loopback: progress with bytes, speed and time left, then the model loads with the planner's choice."""

from __future__ import annotations

import httpx
import pytest

from core.hub import HubError, RemoteFile, check_repo_id, select_files, translate_error
from tests.hub_server import HubRepo, LoopbackHub

REPO_FILES = {"config.json": 700, "generation_config.json": 200, "tokenizer.json": 7_000_000,
              "tokenizer_config.json": 3_000, "model-00001-of-00002.safetensors": 4_000_000_000,
              "model-00002-of-00002.safetensors": 1_000_000_000, "model.safetensors.index.json": 20_000,
              "README.md": 5_000, "pytorch_model.bin": 5_000_000_000, "modeling_custom.py": 9_000,
              "original/consolidated.safetensors": 5_000_000_000, ".gitattributes": 1_500, "LICENSE": 1_000}
TINY = {"config.json": b'{"architectures": ["Qwen2ForCausalLM"]}', "tokenizer.json": b"{}",
        "model.safetensors": bytes(range(256)) * 4096}


def test_only_top_level_safetensors_json_and_the_card_are_fetched():
    names = [f.name for f in select_files([RemoteFile(n, s) for n, s in REPO_FILES.items()])]
    assert names == ["README.md", "config.json", "generation_config.json", "model.safetensors.index.json",
                     "tokenizer.json", "tokenizer_config.json", "model-00001-of-00002.safetensors",
                     "model-00002-of-00002.safetensors"]


def named_error(name: str) -> BaseException:
    return type(name, (Exception,), {})("boom\nsecond line")


@pytest.mark.parametrize("error, kind, words", [
    (httpx.ConnectError("Name or service not known"), "offline", "offline"),
    (named_error("LocalEntryNotFoundError"), "offline", "cannot be reached"),
    (named_error("OfflineModeIsEnabled"), "offline", "offline"),
    (named_error("RepositoryNotFoundError"), "not_found", "no repository"),
    (named_error("GatedRepoError"), "gated", "gated"),
    (named_error("SomethingElse"), "error", "failed: boom"),
])
def test_hub_failures_become_one_sentence_with_a_next_step(error, kind, words):
    err = translate_error(error, "owner/model")
    assert err.kind == kind and words in err.message and err.next_step and "\n" not in err.one_line()


@pytest.mark.parametrize("repo", ["", "model", "a/b/c", "../etc", "owner/na me"])
def test_bad_repo_ids_are_refused(repo):
    with pytest.raises(HubError):
        check_repo_id(repo)
    assert check_repo_id(" https://huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B/ ") == \
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    server = LoopbackHub({"owner/model": HubRepo(dict(TINY))}).start()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path / "cache"))
    yield server
    server.stop()


def test_the_model_panel_downloads_then_loads_with_the_planners_choice(qtbot, hub, tmp_path):
    from app.model_controller import ModelController
    from app.tasks import TaskRunner
    from app.widgets.model_panel import ModelPanel
    from core.hub import default_download_dir
    from tests.app.window_support import wait_until

    panel = ModelPanel()
    qtbot.addWidget(panel)
    tasks = TaskRunner(panel)
    controller = ModelController(panel, tasks, panel)
    progress, started = [], []
    controller.download_progressed.connect(progress.append)
    controller.start_requested.connect(lambda folder, precision, context: started.append((folder, precision, context)))
    panel.repo_edit.setText("owner/model")
    panel.download_button.click()
    folder = str(default_download_dir("owner/model"))
    wait_until(lambda: bool(started), 10, "the load after the download")
    assert started == [(folder, "auto", None)]  # no engine yet: it starts on the download, precision planned
    assert panel.folder_edit.text() == folder and progress[-1].path is not None
    assert "Downloaded owner/model" in panel.download_label.text()
    assert panel.download_button.isVisibleTo(panel) and not panel.cancel_download_button.isVisibleTo(panel)
    assert tasks.shutdown(2000)
