"""Run as a script (a fresh process): prepare a generated long text for questions the way the window does
(its allocator set as ``app.application.run_gui`` sets it, the window's ``build`` step, then a question),
and print the peak growth of the process's resident memory over its base as JSON.

    python tests/core/memory_probe.py MEGABYTES TOKENIZER_DIR
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.document_controller import build  # noqa: E402  (the window's own preparation step)
from core.documents import ContextBudget, ParsedDocument, Section, TokenizerCounter  # noqa: E402
from core.heap import release_free_memory, return_large_blocks_at_once  # noqa: E402


def generated_text(size: int, seed: int = 7) -> str:
    """Sentences over a vocabulary of about 20,000 made-up words, in paragraphs: ASCII, size characters."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ten", "dra", "vos", "pel", "quin", "sha", "ru", "bex", "tor", "ny", "ga"]
    vocabulary = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(20_000)]
    parts, total = [], 0
    while total < size:
        sentence = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(6, 24))).capitalize() + ". "
        if rng.random() < 0.1:
            sentence += "\n\n"
        parts.append(sentence)
        total += len(sentence)
    return "".join(parts)[:size]


def main() -> None:
    size, tokenizer_dir = int(float(sys.argv[1]) * 2**20), sys.argv[2]
    return_large_blocks_at_once()
    me = psutil.Process()
    before_tokenizer = me.memory_info().rss
    counter = TokenizerCounter.from_model_dir(tokenizer_dir)
    tokenizer = me.memory_info().rss - before_tokenizer
    text = generated_text(size)
    document = ParsedDocument("long.txt", "text", "0" * 64, size, (Section(None, None, text, 0),))
    del text
    release_free_memory()
    base = peak = me.memory_info().rss
    done = False

    def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, me.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    built, _ = build([document], counter, None, ContextBudget.for_context(32768), None)
    prompt = built.context.prompt("Which passage speaks of the kalo tendra?")  # builds the BM25 index
    quoted = document.text[size // 2:size // 2 + 400]
    cited = built.citations.find(quoted[quoted.index(" ") + 1:])
    done = True
    sampler.join()
    print(json.dumps({"tokenizer_mib": tokenizer / 2**20, "base_mib": base / 2**20,
                      "peak_growth_mib": (peak - base) / 2**20, "text_mib": size / 2**20,
                      "strategy": prompt.strategy, "cited": [c.char_start for c in cited],
                      "chunks": len(built.context.indexed.chunks)}))


if __name__ == "__main__":
    main()
