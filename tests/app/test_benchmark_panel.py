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
    assert panel.progress_label.full_text().startswith("Finished in ")

    table = panel.table_text()
    assert table[0] == ["metric", "fp32 (baseline)", "int8"]
    rows = {r[0]: r[1:] for r in table[1:]}
    assert rows["mean KL vs fp32 (nats)"][0] == "0"
    assert panel.legend_label.text().count("<li>") == len(table) - 1 + 2  # every row, then how to read a cell
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


def test_main_window_has_the_benchmark_tab_behind_a_view_action(qtbot, tmp_path):
    window = make_window(tmp_path, None, start=False)
    try:
        assert not window.side.page_visible("benchmark")
        window.actions.benchmark.trigger()
        assert window.side.current_page() == "benchmark" and window.bench_panel.isVisible()
        assert not window.bench_panel.run_button.isEnabled()  # no engine yet
        assert window.bench_panel.progress_label.full_text() == "Start the engine to run a benchmark."
    finally:
        close_window(window)


def test_the_panel_follows_the_engine_and_shows_columns_as_they_come(qtbot, tmp_path):
    panel = BenchmarkPanel()
    qtbot.addWidget(panel)
    panel.set_available(True)
    assert panel.run_button.isEnabled() and "Ready" in panel.progress_label.full_text()  # not "Start the engine"
    fp32 = {"precision": "fp32", "depths": [64], "weights_bytes": 100, "error": {"perplexity": 10.0},
            "speed": {"64": {"ttft_s": {"median": 1.0, "min": 0.9, "max": 1.1, "n": 2}}}}
    running = {"started_at": 1.0, "config": {"batch_sizes": [1], "repeats": 2, "max_repeats": 5}, "machine": {},
               "model": {"name": "m"}, "status": "running", "precisions": [fp32]}
    panel.set_running(True)
    panel.show_result(running, partial=True)
    assert panel.table_text()[0] == ["metric", "fp32 (baseline)"] and "1 precision measured so far" in \
        panel.header_label.text() and not panel.export_buttons["csv"].isEnabled()
    int4 = {**fp32, "precision": "int4", "weights_bytes": 30, "error": {"perplexity": 7.0}}
    panel.show_result({**running, "precisions": [fp32, int4]}, partial=True)
    assert panel.table_text()[0][-1] == "int4"
    assert panel.cell_colour("perplexity", "int4") is None  # lower than fp32's: luck, never a green "gain"
    assert panel.cell_colour("weights_bytes", "int4") == "better"
    panel.show_result({**running, "precisions": [fp32, {**int4, "error": {"perplexity": 14.0}}]}, partial=True)
    assert panel.cell_colour("perplexity", "int4") == "worse"


def test_chart_axes_step_in_round_numbers(qtbot):
    from app.widgets.bench_charts import BarChartView, LineChartView

    bars, lines = BarChartView("TTFT (s)"), LineChartView("decode tok/s")
    qtbot.addWidget(bars)
    qtbot.addWidget(lines)
    assert bars.ticks(3.17) == ["0", "1", "2", "3", "4"]  # not 0, 1.06, 2.12, 3.17
    assert bars.ticks(0.0123) == ["0.000", "0.005", "0.010", "0.015"]
    assert lines.ticks(12_000) == ["0", "5,000", "10,000", "15,000"]
    lines.set_series({"fp32": [(128, 40.0, 38.0, 44.0), (512, 35.0, 30.0, 41.0)]})
    lines.resize(320, 220)
    assert not lines.grab().isNull()  # each point drawn with its range
