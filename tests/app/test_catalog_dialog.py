"""The catalog in the window: badges from the engine's hardware facts, a download from a hub on loopback with its
progress (bytes, speed, time left) and cancel, the model then loaded with the planner's choice, local models."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QSettings

from app.catalog_controller import CatalogController
from app.model_controller import ModelController
from app.tasks import TaskRunner
from app.widgets.model_panel import ModelPanel
from core.api.protocol import EngineStatus
from core.hardware import HardwareInfo
from core.hub import default_download_dir
from tests.app.window_support import wait_until
from tests.hub_server import HubRepo, LoopbackHub

GiB = 2**30
REPO = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"  # a catalog entry, served by the loopback hub
FILES = {"config.json": json.dumps({"architectures": ["Qwen2ForCausalLM"]}).encode(), "tokenizer.json": b"{}",
         "model.safetensors": bytes(range(256)) * 16384}


@pytest.fixture
def hub(monkeypatch, tmp_path):
    server = LoopbackHub({REPO: HubRepo(dict(FILES))}).start()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path / "cache"))
    yield server
    server.stop()


@pytest.fixture
def catalog(qtbot, tmp_path):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    tasks = TaskRunner(panel)
    models = ModelController(panel, tasks, panel)
    errors: list = []
    controller = CatalogController(panel, models, tasks, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                                   lambda exc, title: errors.append(exc), panel)
    controller.confirm_deletes = False
    controller.errors = errors
    yield controller
    if controller.dialog is not None:
        controller.dialog.close()
    assert tasks.shutdown(3000)


def test_badges_follow_the_hardware_the_engine_reports(catalog):
    dialog = catalog.show()
    assert "CPU and RAM only" in dialog.machine_label.text()  # no engine yet: this computer's RAM
    gpu = HardwareInfo("cuda", "24 GiB GPU", 24 * GiB, int(23.5 * GiB), (8, 9), True, True)
    catalog.models.status_received.emit(EngineStatus(load={"state": "ready"}, hardware=gpu.to_dict()))
    assert "24 GiB GPU" in dialog.machine_label.text()
    assert dialog.table.badges["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"] == "fits at bf16"
    assert dialog.table.badges["deepseek-ai/DeepSeek-R1-Distill-Llama-70B"].startswith("too large: needs ")


def test_a_download_shows_progress_then_loads_with_the_planners_choice(catalog, hub):
    dialog = catalog.show()
    wait_until(lambda: dialog.local_table.rowCount() >= 1, 5, "the local models")
    started, texts = [], []
    catalog.models.start_requested.connect(lambda folder, precision, context: started.append((folder, precision)))
    catalog.models.download_progressed.connect(lambda p: texts.append(dialog.download_label.text()))
    hub.rate_bytes_per_s = 8e6
    dialog.table.buttons[REPO].click()
    wait_until(lambda: bool(started), 20, "the load after the download")
    folder = str(default_download_dir(REPO))
    assert started == [(folder, "auto")]
    assert any("MiB/s" in t and "left" in t for t in texts), texts[-3:]
    wait_until(lambda: dialog.table.buttons[REPO].text() == "Downloaded ✓", 5, "the catalog to mark it downloaded")
    names = [m.name for m in dialog.local_table.models]
    assert REPO in names and catalog.errors == []
    catalog.delete(folder)
    wait_until(lambda: REPO not in [m.name for m in dialog.local_table.models], 5, "the deletion")


def test_cancel_stops_mid_file_and_says_it_continues_next_time(catalog, hub):
    dialog = catalog.show()
    hub.rate_bytes_per_s = 1e6
    dialog.table.buttons[REPO].click()
    wait_until(lambda: "model.safetensors" in dialog.download_label.text(), 10, "the weights to stream")
    dialog.cancel_button.click()
    wait_until(lambda: not catalog.models.downloading, 5, "the cancel")
    assert "continues where it stopped" in dialog.download_label.text()
    assert not dialog.cancel_button.isVisibleTo(dialog)
