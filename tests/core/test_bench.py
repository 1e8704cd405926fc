"""The benchmark suite: ``ponder bench --quick`` on a tiny model, the report's table, and the API (progress, cancel).

Numbers are printed, never asserted against a clock: these tests check the shape of the result (every
precision measured, fp32's error columns 0, spreads present) and the run's lifecycle.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from core.api import bench_report as report
from core.api.bench_spec import Spread, SuiteConfig, capped_depths, json_safe
from core.client import BadRequestError, EngineClient, NotFoundError
from tests.core.test_server_support import REPO, TOKEN, RemoteServer, tiny_model

PRECISIONS = "fp32,bf16,int4"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("bench-model"))


@pytest.fixture(scope="module")
def cli_result(model_dir):
    """``ponder bench --quick --json`` in a subprocess, as a user runs it (its children are processes anyway)."""
    code = "import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, "bench", "--quick", "--model", str(model_dir), "--threads", "1",
                           "--precisions", PRECISIONS, "--json"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "100.0%" in proc.stderr  # progress went to stderr, the result alone to stdout
    return json.loads(proc.stdout)


def test_quick_cli_run_measures_every_precision_with_spreads(cli_result):
    assert cli_result["status"] == "done"
    assert [e["precision"] for e in cli_result["precisions"]] == PRECISIONS.split(",")
    machine = cli_result["machine"]
    assert machine["torch"] and machine["threads"] == 1 and machine["cpu"]
    for entry in cli_result["precisions"]:
        assert "failed" not in entry, entry
        assert entry["weights_bytes"] > 0 and entry["peak_rss_bytes"] > 0 and entry["load_s"] > 0
        for depth in entry["depths"]:
            speed = entry["speed"][str(depth)]
            for key in ("ttft_s", "prefill_tok_s", "decode_tok_s@1", "decode_tok_s@4"):
                s = speed[key]
                assert 2 <= s["n"] <= 5 and s["min"] <= s["median"] <= s["max"], (key, s)
        assert 0 < entry["bandwidth"]["per_depth"][str(entry["depths"][0])]["fraction_of_peak"]
        assert entry["retention"]["total"] == 3 and entry["retention"]["kind"] == "planted code"
        assert entry["error"]["text"] == "a fixed English passage"  # a model without held-out documents
        assert 0 <= entry["other_load"] <= 1


def test_depths_are_capped_by_the_model_context(cli_result):
    assert cli_result["precisions"][0]["depths"] == [128, 512]
    assert capped_depths((512, 2048, 8192), 1024, 16) == [512, 1007]
    assert capped_depths((512, 2048), 300, 16) == [283]


def test_fp32_is_the_zero_error_baseline_and_errors_grow_for_int4(cli_result):
    errors = {e["precision"]: e["error"] for e in cli_result["precisions"]}
    assert errors["fp32"]["mean_kl"] == 0 and errors["fp32"]["top1_agreement"] == 1
    assert errors["fp32"]["perplexity_change"] == 0
    assert 0 <= errors["bf16"]["mean_kl"] < errors["int4"]["mean_kl"]
    assert errors["int4"]["top1_agreement"] < 1


def test_printed_table_and_csv_show_the_metric_by_precision_layout(cli_result, model_dir):
    text = report.markdown(cli_result)
    lines = text.splitlines()
    assert lines[2] == "| metric | fp32 | bf16 | int4 |"
    kl = next(line for line in lines if line.startswith("| mean KL vs fp32"))
    assert kl.split("|")[2].strip() == "0"
    weights = next(line for line in lines if line.startswith("| weights memory"))
    assert "(-50%)" in weights.split("|")[3]  # bf16 halves fp32's weights
    rows = list(csv.DictReader(io.StringIO(report.to_csv(cli_result))))
    assert tuple(rows[0]) == report.CSV_COLUMNS
    fp32_kl = next(r for r in rows if r["metric"] == "mean_kl" and r["precision"] == "fp32")
    assert float(fp32_kl["median"]) == 0
    bf16_weights = next(r for r in rows if r["metric"] == "weights_bytes" and r["precision"] == "bf16")
    assert float(bf16_weights["delta_pct_vs_fp32"]) == pytest.approx(-50, abs=1)


def test_report_handles_failed_precisions_and_nan():
    result = json_safe({"config": {"batch_sizes": [1]}, "machine": {}, "model": {}, "precisions": [
        {"precision": "fp32", "depths": [64], "load_s": 2.0, "speed": {"64": {"ttft_s": Spread.of([1.0, 3.0]).to_dict(),
                                                                            "prefill_tok_s": Spread.of([float("nan")]).to_dict()}}},
        {"precision": "int8", "depths": [64], "load_s": 1.0, "speed": {"64": {"ttft_s": Spread.of([0.5]).to_dict()}}},
        {"precision": "int4", "failed": "OutOfMemoryError: no"}]})
    rows = {r.metric.key: r for r in report.table(result)}
    assert rows["load_s"].cells["int8"].delta_pct == pytest.approx(-50)
    assert rows["ttft_s@64"].cells["fp32"].text == "2.000 [1.000–3.000]"
    assert rows["prefill_tok_s@64"].cells["fp32"].text == "n/a"
    assert rows["load_s"].cells["int4"].text == "failed"
    assert "int4 failed: OutOfMemoryError: no" in report.markdown(result)


def test_repeats_go_on_until_the_runs_agree_or_the_cap(tmp_path):
    from core.bench.precision_run import repeated

    cfg = SuiteConfig.make(tmp_path)  # at least 2, at most 5 runs, 5% apart
    steady = repeated(cfg, lambda r: 10.0, lambda rs: [rs])
    noisy = repeated(cfg, lambda r: 10.0 + 5 * (r % 2), lambda rs: [rs])
    assert (len(steady), len(noisy)) == (2, 5)
    capped = repeated(SuiteConfig.make(tmp_path, repeat_cap_s=0.0), lambda r: 10.0 + r, lambda rs: [rs])
    assert len(capped) == 2  # over the time cap after the minimum: no more runs


def verdicts(base: dict, other: dict, key: str) -> report.Cell:
    result = json_safe({"config": {"batch_sizes": [1]}, "machine": {}, "model": {},
                        "precisions": [{"precision": "fp32", "depths": [64], **base},
                                       {"precision": "int4", "depths": [64], **other}]})
    return next(r for r in report.table(result) if r.metric.key == key).cells["int4"]


def spread(*values: float) -> dict:
    return Spread.of(list(values)).to_dict()


def test_a_worse_lower_is_better_figure_is_never_a_gain_and_noise_is_said():
    # perplexity (lower is better) going up is worse, and going down is not a gain: fp32 is its reference
    assert verdicts({"error": {"perplexity": 10.0}}, {"error": {"perplexity": 13.0}}, "perplexity").verdict == "worse"
    assert verdicts({"error": {"perplexity": 10.0}}, {"error": {"perplexity": 7.4}}, "perplexity").verdict is None
    # speed: overlapping ranges are within noise, not judged; clear differences are
    ttft = {"speed": {"64": {"ttft_s": spread(1.0, 1.2)}}}
    close = verdicts(ttft, {"speed": {"64": {"ttft_s": spread(1.1, 1.3)}}}, "ttft_s@64")
    assert close.within_noise and close.verdict is None and "within noise" in report.cell_text(close)
    slower = verdicts(ttft, {"speed": {"64": {"ttft_s": spread(2.0, 2.1)}}}, "ttft_s@64")
    faster = verdicts(ttft, {"speed": {"64": {"ttft_s": spread(0.5, 0.6)}}}, "ttft_s@64")
    assert (slower.verdict, faster.verdict) == ("worse", "better") and not slower.within_noise
    # memory is exact: half the bytes is better
    assert verdicts({"weights_bytes": 100}, {"weights_bytes": 50}, "weights_bytes").verdict == "better"
    # 5 of 8 against 4 of 8 questions: within noise; 1 of 8 against 8 of 8: worse; more right than fp32: not a gain
    tasks = lambda k, n=8: {"tasks": {"accuracy": k / n, "n": n}}  # noqa: E731
    assert verdicts(tasks(4), tasks(5), "task_accuracy").within_noise
    assert verdicts(tasks(8), tasks(1), "task_accuracy").verdict == "worse"
    assert verdicts(tasks(1), tasks(8), "task_accuracy").verdict is None
    assert report.cell_text(verdicts(tasks(4), tasks(5), "task_accuracy")) == "62.5% (5 of 8) (within noise)"


def test_every_row_has_a_legend_and_the_text_says_what_perplexity_read(cli_result):
    rows = report.metrics(cli_result)
    assert all(m.help for m in rows)
    text = report.markdown(cli_result)
    assert "Legend:" in text and all(f"- {m.label}: " in text for m in rows)
    assert "| perplexity (fixed text) |" in text
    assert "within noise" in text.split("Legend:")[1]


def test_a_busy_cpu_is_measured_with_the_cores_left_free(tmp_path, monkeypatch):
    import psutil

    from core.bench.suite import threads_for
    from core.hardware import HardwareInfo

    cpu = HardwareInfo(device="cpu", device_name="cpu", total_memory_bytes=1, free_memory_bytes=1)
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 2)
    cfg = SuiteConfig.make(tmp_path)
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval: 75.0)  # 1.5 of 2 cores busy (a training run)
    threads, why = threads_for(cfg, cpu, 0)
    assert threads == 1 and "other programs kept 1.5 cores busy" in why
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval: 5.0)
    assert threads_for(cfg, cpu, 0) == (None, None)  # an idle machine: torch's default, every core
    assert threads_for(SuiteConfig.make(tmp_path, threads=2), cpu, 0) == (2, None)  # asked for: as asked


def test_suite_config_presets_and_validation(tmp_path):
    quick, full = SuiteConfig.make(tmp_path), SuiteConfig.make(tmp_path, quick=False, precisions=["int8"])
    assert quick.quick and full.depths == (512, 2048, 8192) and full.precisions == ("int8",)
    assert SuiteConfig.from_dict(json.loads(json.dumps(full.to_dict()))) == full
    assert quick.ordered_precisions(["bf16", "int4", "fp32"]) == ["fp32", "bf16", "int4"]
    with pytest.raises(ValueError, match="unknown precision"):
        SuiteConfig.make(tmp_path, precisions=["fp8"])


# --- the API, over loopback --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    srv = RemoteServer(model_dir, tmp_path_factory.mktemp("bench-server"), "--context", "256")
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with EngineClient(server.base_url, TOKEN) as c:
        yield c


def test_api_run_reports_progress_then_the_result(client):
    run = client.bench_start(quick=True, precisions=["fp32", "int8"], threads=1)
    assert run.state == "running" and run.id
    seen = list(client.bench_watch(run.id, interval_s=0.2))
    final = seen[-1]
    assert final.state == "done", final.message
    running = [r for r in seen if r.state == "running"]
    assert running and all(0 <= r.fraction <= 1 for r in running)
    partial = [r.result for r in running if r.result]  # fp32's column, before int8 is measured
    assert partial and [e["precision"] for e in partial[0]["precisions"]] == ["fp32"]
    assert partial[0]["status"] == "running" and final.result["description"].startswith("Quick run of fp32, int8")
    assert [e["precision"] for e in final.result["precisions"]] == ["fp32", "int8"]
    assert final.result["precisions"][0]["error"]["mean_kl"] == 0
    assert final.result["model"]["name"] == "bench-model0"


def test_api_cancel_stops_the_run_and_keeps_what_was_measured(client):
    run = client.bench_start(quick=True, threads=1)
    with pytest.raises(BadRequestError) as conflict:
        client.bench_start(quick=True)
    assert conflict.value.status == 409
    cancelled = client.bench_cancel(run.id)
    assert cancelled.id == run.id
    final = list(client.bench_watch(run.id, interval_s=0.2))[-1]
    assert final.state == "cancelled"
    assert final.result["status"] == "cancelled" and len(final.result["precisions"]) < 5
    with pytest.raises(NotFoundError):
        client.bench_run("bench-unknown")


def test_api_rejects_unknown_precisions_and_folders(client, tmp_path):
    with pytest.raises(BadRequestError):
        client.bench_start(precisions=["fp8"])
    with pytest.raises(BadRequestError, match="not a model folder"):
        client.bench_start(model=str(tmp_path))
