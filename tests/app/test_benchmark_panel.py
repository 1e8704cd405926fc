"""The benchmark panel, offscreen, against a real engine subprocess on a tiny model: a quick run fills the
table "metric x precision", lands in the store's history, exports a CSV; a run can be cancelled."""

from __future__ import annotations

import csv

import pytest

from app.bench_controller import BenchController
from app.tasks import TaskRunner
from app.widgets.benchmark_panel import BenchmarkPanel
from core.client import EngineClient
from core.store import Store
from tests.app.window_support import close_window, make_window
from tests.core.test_server_support import TOKEN, RemoteServer, tiny_model

RUN_TIMEOUT_MS = 300_000  # a generous bound on a loaded 2-core machine; nothing here is timed


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("panel-model"))


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    srv = RemoteServer(model_dir, tmp_path_factory.mktemp("panel-server"), "--context", "256")
    yield srv
    srv.stop()


@pytest.fixture
def rig(qtbot, tmp_path, server, model_dir):
    store = Store(tmp_path / "ponder.db")
    panel = BenchmarkPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    tasks = TaskRunner()
    controller = BenchController(panel, tasks, store)
    controller.precisions = ["fp32", "int8"]
    client = EngineClient(server.base_url, TOKEN)
    controller.set_client(client, {"mode": "local", "model": model_dir.name})
    yield panel, controller, store
    tasks.shutdown(5000)
    client.close()
    store.close()


def test_quick_run_fills_the_table_saves_history_and_exports_csv(qtbot, rig, tmp_path, model_dir):
    panel, controller, store = rig
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
    progress: list[int] = []
    panel.progress.valueChanged.connect(progress.append)
    with qtbot.waitSignal(controller.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        panel.run_button.click()
    assert finished.args == ["done"]
    assert progress and max(progress) == 1000
    assert panel.progress_label.text() == "Finished."

    table = panel.table_text()
    assert table[0] == ["metric", "fp32 (baseline)", "int8"]
    rows = {r[0]: r[1:] for r in table[1:]}
    assert rows["mean KL vs fp32 (nats)"][0] == "0"
    assert rows["top-1 agreement vs fp32"][0] == "100.0%"
    assert "%)" in rows["weights memory"][1]  # int8's delta against the fp32 baseline
    assert any(label.startswith("decode @512, batch 4") for label in rows)
    assert "[" in rows["TTFT @128 (s)"][0]  # median [min–max]
    assert panel.latency_chart.bars and panel.depth_chart.series

    saved = store.bench_runs(model_dir.name)
    assert len(saved) == 1 and saved[0].machine["torch"]
    assert panel.history_combo.count() == 1

    controller.choose_path = lambda kind, name: str(tmp_path / name)
    with qtbot.waitSignal(controller.exported, timeout=10_000) as exported:
        panel.export_buttons["csv"].click()
    with open(exported.args[0], newline="", encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    kl = {r["precision"]: float(r["median"]) for r in lines if r["metric"] == "mean_kl"}
    assert kl["fp32"] == 0 and kl["int8"] >= 0
    with qtbot.waitSignal(controller.exported, timeout=10_000) as exported:
        panel.export_buttons["png"].click()
    assert exported.args[0].endswith(".png")


def test_cancel_ends_the_run_as_cancelled(qtbot, rig):
    panel, controller, _ = rig
    controller.precisions = None  # all five: long enough to be cancelled mid-way
    panel.run_button.click()
    qtbot.waitUntil(lambda: controller.run_id not in (None, "starting"), timeout=30_000)
    with qtbot.waitSignal(controller.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        panel.cancel_button.click()
    assert finished.args == ["cancelled"]
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_main_window_has_the_benchmark_dock_behind_a_view_action(qtbot, tmp_path):
    window = make_window(tmp_path, None, start=False)
    try:
        assert not window.bench_dock.isVisible()
        window.actions.benchmark.trigger()
        assert window.bench_dock.isVisible() and window.bench_panel.isVisible()
        assert not window.bench_panel.run_button.isEnabled()  # no engine yet
    finally:
        close_window(window)
