"""core.hub with a fake hub (no network here): file selection, progress, cancel, and the error messages."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from core.hub import HubError, RemoteFile, check_repo_id, download_model, select_files

REPO_FILES = {"config.json": 700, "generation_config.json": 200, "tokenizer.json": 7_000_000,
              "tokenizer_config.json": 3_000, "model-00001-of-00002.safetensors": 4_000_000_000,
              "model-00002-of-00002.safetensors": 1_000_000_000, "model.safetensors.index.json": 20_000,
              "README.md": 5_000, "pytorch_model.bin": 5_000_000_000, "modeling_custom.py": 9_000,
              "original/consolidated.safetensors": 5_000_000_000, ".gitattributes": 1_500, "LICENSE": 1_000}


class FakeApi:
    def __init__(self, files: dict[str, int], error: BaseException | None = None) -> None:
        self.files, self.error = files, error

    def model_info(self, repo_id, revision=None, files_metadata=False):
        if self.error is not None:
            raise self.error
        return SimpleNamespace(siblings=[SimpleNamespace(rfilename=n, size=s) for n, s in self.files.items()])


class FakeFetch:
    def __init__(self, fail_on: str | None = None, error: BaseException | None = None) -> None:
        self.calls: list[str] = []
        self.fail_on, self.error = fail_on, error

    def __call__(self, repo_id, filename, *, revision=None, local_dir=None):
        if filename == self.fail_on:
            raise self.error
        self.calls.append(filename)
        path = Path(local_dir) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        return str(path)


def test_only_top_level_safetensors_json_and_the_card_are_fetched():
    names = [f.name for f in select_files([RemoteFile(n, s) for n, s in REPO_FILES.items()])]
    assert names == ["README.md", "config.json", "generation_config.json", "model.safetensors.index.json",
                     "tokenizer.json", "tokenizer_config.json", "model-00001-of-00002.safetensors",
                     "model-00002-of-00002.safetensors"]


def test_download_reports_progress_and_ends_with_the_folder(tmp_path):
    fetch = FakeFetch()
    items = list(download_model("owner/model", tmp_path / "m", api=FakeApi(REPO_FILES), fetch=fetch))
    assert fetch.calls[-2:] == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert items[-1].path == tmp_path / "m" and items[-1].fraction == 1.0
    assert [i.files_done for i in items[:4]] == [0, 1, 1, 2]
    assert all(a.bytes_done <= b.bytes_done for a, b in zip(items, items[1:]))
    assert (tmp_path / "m" / "config.json").exists() and not (tmp_path / "m" / "pytorch_model.bin").exists()


def test_cancel_stops_between_files(tmp_path):
    fetch = FakeFetch()
    stream = download_model("owner/model", tmp_path, api=FakeApi(REPO_FILES), fetch=fetch)
    next(stream), next(stream), next(stream)  # file 1 started and done, file 2 announced
    stream.close()
    assert fetch.calls == ["README.md"]


def test_a_repo_without_safetensors_is_refused_before_downloading(tmp_path):
    fetch = FakeFetch()
    files = {"config.json": 1, "pytorch_model.bin": 10, "tokenizer.json": 1}
    with pytest.raises(HubError) as err:
        list(download_model("owner/old", tmp_path, api=FakeApi(files), fetch=fetch))
    assert err.value.kind == "no_safetensors" and "safetensors" in err.value.next_step and fetch.calls == []


def named_error(name: str) -> BaseException:
    return type(name, (Exception,), {})("boom")


@pytest.mark.parametrize("error, kind, words", [
    (httpx.ConnectError("Name or service not known"), "offline", "cannot be reached"),
    (named_error("LocalEntryNotFoundError"), "offline", "cannot be reached"),
    (named_error("RepositoryNotFoundError"), "not_found", "no repository"),
    (named_error("GatedRepoError"), "gated", "gated"),
])
def test_hub_failures_become_sentences_with_a_next_step(tmp_path, error, kind, words):
    with pytest.raises(HubError) as err:
        list(download_model("owner/model", tmp_path, api=FakeApi(REPO_FILES, error), fetch=FakeFetch()))
    assert err.value.kind == kind and words in str(err.value) and err.value.next_step


def test_losing_the_connection_mid_download_keeps_finished_files(tmp_path):
    fetch = FakeFetch(fail_on="tokenizer.json", error=ConnectionError("reset"))
    with pytest.raises(HubError) as err:
        list(download_model("owner/model", tmp_path, api=FakeApi(REPO_FILES), fetch=fetch))
    assert err.value.kind == "offline" and "resumes" in err.value.next_step
    assert (tmp_path / "config.json").exists()


@pytest.mark.parametrize("repo", ["", "model", "a/b/c", "../etc", "owner/na me"])
def test_bad_repo_ids_are_refused(repo):
    with pytest.raises(HubError):
        check_repo_id(repo)
    assert check_repo_id(" https://huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B/ ") == \
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"


def test_the_model_panel_downloads_into_its_folder_field(qtbot, tmp_path):
    from app.model_controller import ModelController
    from app.tasks import TaskRunner
    from app.widgets.model_panel import ModelPanel
    from tests.app.window_support import wait_until

    panel = ModelPanel()
    qtbot.addWidget(panel)
    tasks = TaskRunner(panel)
    controller = ModelController(panel, tasks, panel)
    controller.downloader = lambda repo: download_model(repo, tmp_path / "dl", api=FakeApi(REPO_FILES),
                                                        fetch=FakeFetch())
    panel.repo_edit.setText("owner/model")
    panel.download_button.click()
    wait_until(lambda: panel.folder_edit.text() == str(tmp_path / "dl"), 5, "the download")
    wait_until(lambda: controller._download is None, 5, "the end")
    assert "Downloaded" in panel.download_label.text()
    assert panel.download_button.isVisibleTo(panel) and not panel.cancel_download_button.isVisibleTo(panel)
    assert tasks.shutdown(2000)
