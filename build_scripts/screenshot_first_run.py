"""Screenshots of a first run, on the real app and the bundled model: the welcome, a sample question answered, the
model catalog with this machine's badges, a download in progress from a hub on loopback, the downloaded model
loaded.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python build_scripts/screenshot_first_run.py [--out-dir docs]

Everything the app writes goes to a throw-away folder (chats, settings, logs, downloads: ``PONDER_CACHE_DIR``);
the hub is ``tests.hub_server`` on 127.0.0.1 serving a random-weight checkpoint built here (``HF_ENDPOINT``
points at it; nothing leaves the machine). Each picture is a grab of the whole screen, so the catalog dialog
shows over the window. Exit status 0 when every step happened (the sample answered right, the download finished
and the downloaded model serves).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEMO_REPO = "ponder-demo/tiny-reasoner"
QUESTION_INDEX = 1  # the two-hop question: the most steps of the three


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", type=Path, default=ROOT / "docs")
    p.add_argument("--prefix", default="first-run")
    p.add_argument("--size", default="1500x920", help="window size WxH")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--rate", type=float, default=6e6, help="the loopback hub's bytes per second")
    return p.parse_args(argv)


def demo_checkpoint(folder: Path) -> Path:
    """A random-weight model with the R1 tokenizer: about 85 MB, so the download takes a few seconds."""
    from tests.checkpoints import R1_TOKENIZER, random_checkpoint

    random_checkpoint(folder, "qwen2", vocab_size=152064, hidden_size=256, intermediate_size=512,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      torch_dtype="bfloat16", tie_word_embeddings=True, tokenizer=R1_TOKENIZER)
    (folder / "README.md").write_text("# tiny-reasoner\n\nA random-weight model served by the loopback hub for the "
                                      "first-run screenshots. It loads and runs; its answers are noise.\n")
    return folder


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ponder-first-run-"))
    os.environ["PONDER_CACHE_DIR"] = str(work / "cache")
    os.environ["HF_HOME"] = str(work / "hf-home")
    os.environ.pop("HF_TOKEN", None)
    from tests.hub_server import HubRepo, LoopbackHub

    hub = LoopbackHub({DEMO_REPO: HubRepo.from_folder(demo_checkpoint(work / "hub" / "tiny-reasoner"))},
                      rate_bytes_per_s=args.rate).start()
    os.environ["HF_ENDPOINT"] = hub.endpoint
    try:
        return take(args, work)
    finally:
        hub.stop()


def take(args: argparse.Namespace, work: Path) -> int:
    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from core.samples import answer_matches
    from core.store import Store

    QCoreApplication.setOrganizationName("Ponder")
    QCoreApplication.setApplicationName("Ponder")
    app = QApplication([sys.argv[0]])
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("view/theme", "light")
    store = Store(work / "ponder.db")
    window = MainWindow(store, settings=settings, confirm_deletes=False)
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.move(0, 0)
    window.show()
    window.start()
    deadline = time.monotonic() + args.timeout
    args.out_dir.mkdir(parents=True, exist_ok=True)

    def wait(predicate: Callable[[], bool], what: str, settle_s: float = 0.0) -> None:
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what} (status line: {window.engine_state.text()!r})")
            app.processEvents()
            time.sleep(0.01)
        until = time.monotonic() + settle_s
        while time.monotonic() < until:
            app.processEvents()
            time.sleep(0.02)

    def shoot(name: str) -> Path:
        path = args.out_dir / f"{args.prefix}-{name}.png"
        app.primaryScreen().grabWindow(0, 0, 0, width, height).save(str(path))
        print(f"saved {path}")
        return path

    try:
        wait(lambda: window.link.client is not None and window.prompt.state == "ready", "the engine", 1.0)
        assert window.welcome.showing, "a first start shows the welcome"
        shoot("welcome")

        sample = window.welcome.sample
        question = sample.questions[QUESTION_INDEX]
        window.welcome.view.question_links[QUESTION_INDEX].linkActivated.emit(str(QUESTION_INDEX))
        wait(lambda: window.session is not None and window.session.state is not None, "the question to be sent")
        message_id = window.session.state.message_id
        wait(lambda: not window.session.busy, "the answer")
        window.view.set_all_expanded(message_id, True)
        wait(lambda: True, "the view", 1.5)
        answer = window.view.trace(message_id).answer
        right = answer_matches(question.answer, answer)
        print(f"sample question {question.question!r} -> {answer!r} ({'right' if right else 'WRONG'})")
        shoot("sample-answered")

        dialog = window.catalog.show()
        dialog.setGeometry(10, 40, width - 20, height - 70)
        wait(lambda: window.catalog.hardware is not None and dialog.local_table.rowCount() >= 1, "the catalog", 1.0)
        shoot("catalog")

        dialog.hide()
        window.actions.model_panel.setChecked(True)
        window.model_panel.repo_edit.setText(DEMO_REPO)
        window.model_panel.download_button.click()
        dialog = window.catalog.show()
        wait(lambda: "model.safetensors" in dialog.download_label.text() and dialog.download_bar.value() > 350,
             "the download to be under way", 0.3)
        shoot("download")

        wait(lambda: not window.models.downloading, "the download to finish")
        dialog.hide()
        wait(lambda: not window.models.loading and window.model_panel.current_model_path is not None
             and Path(window.model_panel.current_model_path).name == DEMO_REPO.replace("/", "--"),
             "the downloaded model to be loaded", 2.0)
        shoot("downloaded-loaded")
        return 0 if right else 1
    finally:
        window.close()
        store.close()


if __name__ == "__main__":
    sys.exit(main())
