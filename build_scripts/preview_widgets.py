"""Render ReasoningView and StatsBar with sample data to PNGs (light and dark palette), for a visual check.

    QT_QPA_PLATFORM=offscreen python build_scripts/preview_widgets.py [--out build/preview]

Writes preview-light.png and preview-dark.png: a finished answer (steps, one expanded, Markdown answer
with a remote image that must stay a placeholder), an answer still streaming (the current step
highlighted), one that ran out of tokens, and the stats bar after a minute of fake engine events.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget  # noqa: E402

from app.widgets.reasoning_view import ReasoningView  # noqa: E402
from app.widgets.stats_bar import StatsBar  # noqa: E402
from core.api.protocol import EngineEvent  # noqa: E402
from core.reasoning import ReasoningTrace  # noqa: E402

TRACE = """Okay, the user wants the total revenue for 2023 from the report. Let me find the numbers first.

1. The report lists quarterly revenue on page 4: Q1 1.2M, Q2 1.5M, Q3 1.1M, Q4 1.9M.

2. Adding them: 1.2 + 1.5 = 2.7, plus 1.1 is 3.8, plus 1.9 is 5.7M in total.

Wait, the footnote on page 5 says Q3 was restated to 1.3M after an audit. I should use the restated figure.

3. With the restated Q3: 1.2 + 1.5 + 1.3 + 1.9 = 5.9M.

Let me double-check against the summary table on page 2, which gives 5.9M for the year. That matches.
"""

ANSWER = """**Total revenue for 2023: 5.9M** (after the Q3 restatement).

| quarter | revenue |
| --- | --- |
| Q1 | 1.2M |
| Q3 | 1.3M *(restated)* |

- Source: the summary table, page 2
- The unrestated sum would be `5.7M`; see [the footnote](https://example.com/report#p5).

![chart](https://example.com/tracking-pixel.png)
"""


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, "#202124"), (QPalette.ColorRole.WindowText, "#e8eaed"),
                         (QPalette.ColorRole.Base, "#17181a"), (QPalette.ColorRole.AlternateBase, "#2a2b2e"),
                         (QPalette.ColorRole.Text, "#e8eaed"), (QPalette.ColorRole.Button, "#2d2e31"),
                         (QPalette.ColorRole.ButtonText, "#e8eaed"), (QPalette.ColorRole.Highlight, "#4c8bf5"),
                         (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.Link, "#8ab4f8"),
                         (QPalette.ColorRole.PlaceholderText, "#9aa0a6"), (QPalette.ColorRole.Mid, "#3c4043"),
                         (QPalette.ColorRole.ToolTipBase, "#2d2e31"), (QPalette.ColorRole.ToolTipText, "#e8eaed")):
        palette.setColor(role, QColor(colour))
    return palette


def fill(view: ReasoningView, bar: StatsBar) -> None:
    view.add_user_message("What was the total revenue in 2023, according to the annual report?")
    trace, t = ReasoningTrace(max_tokens=2048), 0.4
    for word in TRACE.split(" "):
        t += 0.03
        trace.add(word + " ", "", t)
    for piece in ANSWER.split(" "):
        t += 0.03
        trace.add("", piece + " ", t)
    trace.finish("complete", "stop", t)
    view.show_trace(1, trace.snapshot())
    view.set_step_expanded(1, 3, True)

    view.add_user_message("And the growth compared to 2022?")
    trace = ReasoningTrace(max_tokens=64)
    for word in "1. The 2022 revenue is on page 3: 5.1M in total. 2. Growth is (5.9 - 5.1) / 5.1 which".split(" "):
        trace.add(word + " ", "", 0.5)
    trace.finish("complete", "length", 3.0)
    view.show_trace(2, trace.snapshot())

    view.add_user_message("Summarise the risks section.")
    trace = ReasoningTrace()
    streaming = ("Step 1. The risks section is on pages 12 to 14. It lists three risks.\n\nStep 2. The first risk "
                 "is currency exposure in the European market, which")
    for word in streaming.split(" "):
        trace.add(word + " ", "", 1.0)
    view.show_trace(3, trace.snapshot())

    for second in range(61):
        bar.update_engine(EngineEvent(
            time=1000.0 + second, state="ready", tokens_per_s=18 + 6 * ((second * 7) % 5) / 4,
            last_ttft_s=0.42, rss_bytes=int((1.10 + 0.002 * second) * 2**30),
            vram_allocated_bytes=int((3.2 + 0.01 * (second % 20)) * 2**30), vram_reserved_bytes=4 * 2**30,
            kv_tokens_used=1200 + 20 * second, kv_tokens_total=32768, kv_bytes_used=300 * 2**20,
            kv_bytes_total=8 * 2**30, running=1, waiting=0))
    bar.show_trace(ReasoningTrace(server_ttft_s=0.42, server_tokens_per_s=21.7, reasoning_tokens=1234))


def render(app: QApplication, palette: QPalette, path: Path) -> None:
    app.setPalette(palette)
    window = QWidget()
    layout = QVBoxLayout(window)
    layout.setContentsMargins(0, 0, 0, 0)
    view, bar = ReasoningView(), StatsBar()
    layout.addWidget(view, 1)
    layout.addWidget(bar)
    window.resize(1200, 1000)
    window.show()
    fill(view, bar)
    for _ in range(5):
        app.processEvents()
    view._scroll.verticalScrollBar().setValue(0)  # the preview shows the top: a finished answer
    app.processEvents()
    window.grab().save(str(path))
    window.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/preview"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    app.setStyle("Fusion")
    render(app, app.style().standardPalette(), args.out / "preview-light.png")
    render(app, dark_palette(), args.out / "preview-dark.png")
    print(f"wrote {args.out / 'preview-light.png'} and {args.out / 'preview-dark.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
