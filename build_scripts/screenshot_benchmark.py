"""Screenshot of the benchmark panel after a real quick run: table "metric x precision", charts, history.

    xvfb-run -a .venv/bin/python build_scripts/screenshot_benchmark.py [--model DIR] [--out PNG]

Starts the real engine (``python -m core.server``) on the model, shows ``BenchmarkPanel`` with its
``BenchController`` and a throw-away store, clicks "Run benchmark" (quick), waits for the run to finish
and saves the panel as a PNG. Without ``--model`` the model is a small random-weight Qwen2 with the
DeepSeek-R1 tokenizer (built in a temp folder): the figures are real measurements of that shape on this
machine, the error columns are real errors of random weights. Uses the xcb platform when a display is
there (``xvfb-run``), else offscreen. Exit status 0 when the table is filled.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TINY = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 256, "intermediate_size": 768,
        "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-6, "vocab_size": 152064, "hidden_act": "silu", "torch_dtype": "float32",
        "rope_theta": 10000.0, "tie_word_embeddings": False, "use_sliding_window": False, "bos_token_id": 151646,
        "eos_token_id": 151643}


def tiny_model(folder: Path) -> Path:
    import shutil

    from core.bench.random_checkpoint import REPO_TOKENIZER
    from core.bench.random_checkpoint import write_random_checkpoint

    write_random_checkpoint(folder, TINY)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(REPO_TOKENIZER / name, folder / name)
    (folder / "generation_config.json").write_text(json.dumps({"bos_token_id": 151646, "eos_token_id": 151643}))
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot-benchmark.png")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--timeout", type=float, default=900.0)
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "offscreen")
    from PySide6.QtWidgets import QApplication

    from app import theme
    from app.bench_controller import BenchController
    from app.tasks import TaskRunner
    from app.widgets.benchmark_panel import BenchmarkPanel
    from core.client import EngineClient
    from core.api.spawn import EngineSubprocess
    from core.store import Store

    with tempfile.TemporaryDirectory(prefix="ponder-shot-") as tmp:
        work = Path(tmp)
        model = args.model or tiny_model(work / "tiny-qwen2-random")
        app = QApplication(sys.argv[:1])
        theme.apply("light")
        engine = EngineSubprocess(["--model", str(model), "--threads", str(args.threads), "--context", "512",
                                   "--log-file", str(work / "engine.log")])
        with engine:
            store = Store(work / "ponder.db")
            panel = BenchmarkPanel()
            panel.setWindowTitle("Ponder — Benchmark")
            panel.resize(1360, 820)
            tasks = TaskRunner()
            controller = BenchController(panel, tasks, store)
            client = EngineClient(engine.base_url, engine.token)
            controller.set_client(client, {"mode": "local", "model": Path(model).resolve().name})
            panel.show()
            states: list[str] = []
            controller.run_finished.connect(states.append)
            panel.run_button.click()
            deadline = time.monotonic() + args.timeout
            while not states and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.02)
            for _ in range(20):
                app.processEvents()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            panel.grab().save(str(args.out), "PNG")
            filled = panel.table.rowCount() > 0 and states == ["done"]
            print(f"{args.out}: run {states or ['timed out']}, {panel.table.rowCount()} rows", file=sys.stderr)
            tasks.shutdown(3000)
            client.close()
            store.close()
    return 0 if filled else 1


if __name__ == "__main__":
    sys.exit(main())
