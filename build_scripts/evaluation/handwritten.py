"""The hand-written evaluation: documents and questions nobody trained on, asked through the engine.

    .venv/bin/python -m build_scripts.evaluation.handwritten [--set {handwritten,manuals}] [--model DIR]
        [--no-grounding] [--out report.json]

Every question is asked greedily through Ponder's engine as the window asks it (the document in the
window's framing, the question after it), with grounded quotes on unless ``--no-grounding``. Graded by
kind: lookup, two_hop, arithmetic (a sum or difference), multi_step, dates, rules, unanswerable; plus the share of well-formed
traces, answers cut off by a loop, and every quoted sentence checked against its document by a script
(``quotes_outside``), not assumed from the constraint.

``--set manuals`` asks instead about real manual pages (``manuals.json``: a PDF page and an HTML page from
Debian documentation packages), read through Ponder's own document loader so the model sees the text the
app would send, extraction quirks included.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SET_FILE = Path(__file__).resolve().with_name("handwritten.json")
MANUALS_FILE = Path(__file__).resolve().with_name("manuals.json")
KINDS = ("lookup", "two_hop", "arithmetic", "multi_step", "dates", "rules", "unanswerable")
_QUOTE = re.compile(r'The document (?:also )?says: "([^"]*)"')
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?")
_NOT_STATED = ("not stated", "does not say", "does not state", "not mentioned", "does not mention",
               "no information", "not given", "does not specify")


@dataclass(frozen=True, slots=True)
class Item:
    document_id: str
    document: str
    question: str
    kind: str
    answer: str
    accept: tuple[str, ...] = ()
    header: str = ""  # the window's header line above the document; "" for a plain text file's

    def block(self) -> str:
        """The document as the window sends it: its header line, a blank line, the text."""
        return f"{self.header or f'Document: {self.document_id}.txt (text, 1 section)'}\n\n{self.document}"


@dataclass(slots=True)
class Graded:
    item: Item
    response: str
    correct: bool
    well_formed: bool
    looped: bool
    quotes: int
    quotes_outside: list[str]


def load(path: Path = SET_FILE) -> list[Item]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Item(d["id"], d["text"], q["q"], q["kind"], q["answer"], tuple(q.get("accept", ())))
            for d in data["documents"] for q in d["questions"]]


def load_manuals(path: Path = MANUALS_FILE) -> list[Item]:
    """The manual-page set: each document's text is what ``parse_document`` (the app's loader) extracts from
    its file, cut to ``excerpt`` [start, end) where given to keep it short enough for the model's context."""
    from core.documents import parse_document
    from core.documents.prompt import document_header, render_document

    data = json.loads(path.read_text(encoding="utf-8"))
    items = []
    for d in data["documents"]:
        parsed = parse_document(path.parent / d["file"])
        if "excerpt" in d:
            start, end = d["excerpt"]
            text = parsed.text[start:end]
        else:
            text = render_document(parsed).split("\n\n", 1)[1]  # the text as sent, page marks included
        items += [Item(d["id"], text, q["q"], q["kind"], q["answer"], tuple(q.get("accept", ())),
                       document_header(parsed)) for q in d["questions"]]
    return items


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9:.-]+", " ", text.lower().replace("'", "")).split())


def final_answer(response: str) -> str:
    return response.rpartition("</think>")[2].strip()


def grade_answer(item: Item, answer: str) -> bool:
    """Whether ``answer`` (the text after ``</think>``) gives the gold value (see the module docstring)."""
    from core.bench.scoring import answer_correct

    norm = _norm(answer)
    says_unknown = any(p in norm for p in _NOT_STATED)
    if item.answer == "not stated":
        return says_unknown
    if says_unknown or not norm:
        return False
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", item.answer):
        return answer_correct(item.answer, answer)
    if re.fullmatch(r"\d+", item.answer):
        numbers = [n.replace(",", "") for n in _NUMBER.findall(answer)]
        return item.answer in numbers
    return any(_norm(gold) in norm for gold in (item.answer, *item.accept))


def quotes_outside(response: str, document: str) -> tuple[int, list[str]]:
    """(quotations of the document in the trace, those not found in it verbatim, whitespace aside)."""
    think = response.partition("</think>")[0]
    flat = " ".join(document.split())
    found = _QUOTE.findall(think)
    return len(found), [q for q in found if " ".join(q.split()) not in flat]


def evaluate(engine: Any, items: list[Item], quotes: Any, max_tokens: int = 1536, batch: int = 8) -> list[Graded]:
    """Greedy answers through ``engine`` (a ``core.engine.Engine``), quotes grounded under ``quotes`` (a
    ``core.engine.grounding.QuoteRules``; None: not grounded), each graded."""
    from core.bench.scoring import parse_response
    from core.documents.prompt import question_messages
    from core.engine.sampler import SamplingParams

    tokenizer = engine.tokenizer
    graded = []
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        messages = [question_messages(it.block(), it.question) for it in chunk]
        prompts = [tokenizer.prompt_ids(m) for m in messages]
        grounders = [quotes.for_message(tokenizer, m[0]["content"]) if quotes else None for m in messages]
        params = SamplingParams(max_tokens=max_tokens)
        for item, done in zip(chunk, engine.generate_batch(prompts, params, grounders=grounders)):
            text = tokenizer.decode(done.token_ids, skip_special_tokens=True)
            n, outside = quotes_outside(text, item.document)
            graded.append(Graded(item, text, grade_answer(item, final_answer(text)),
                                 parse_response(text).well_formed or parse_response("<think>\n" + text).well_formed,
                                 done.metrics.stop_reason == "repetition", n, outside))
    return graded


def evaluate_folder(model_dir: Path, items: list[Item], grounded: bool = True, batch: int = 8) -> list[Graded]:
    """``evaluate`` on the model folder ``model_dir``, quotes grounded as its generation_config.json has them."""
    from core.engine.engine import Engine, EngineConfig
    from core.engine.grounding import model_quote_rules
    from core.models.loader import load_model
    from core.tokenizer import Tokenizer

    engine = Engine(load_model(model_dir, "fp32"), Tokenizer.from_dir(model_dir),
                    EngineConfig(max_sequences=batch, context_tokens=4096))
    return evaluate(engine, items, model_quote_rules(model_dir) if grounded else None, batch=batch)


def summary(graded: list[Graded]) -> dict[str, Any]:
    by_kind: dict[str, list[Graded]] = defaultdict(list)
    for g in graded:
        by_kind[g.item.kind].append(g)

    def rate(gs: list[Graded], attr: str) -> float:
        return sum(getattr(g, attr) for g in gs) / len(gs) if gs else float("nan")

    return {"n": len(graded), "accuracy": rate(graded, "correct"),
            "by_kind": {k: {"n": len(by_kind[k]), "accuracy": rate(by_kind[k], "correct")} for k in KINDS},
            "well_formed": rate(graded, "well_formed"), "looped": sum(g.looped for g in graded),
            "quotes": sum(g.quotes for g in graded), "quotes_outside": sum(len(g.quotes_outside) for g in graded)}


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", choices=("handwritten", "manuals"), default="handwritten", dest="question_set",
                   help="hand-written documents (default) or real manual pages read through the document loader")
    p.add_argument("--model", type=Path, default=ROOT / "resources" / "models" / "ponder-reasoner-mini")
    p.add_argument("--no-grounding", action="store_true")
    p.add_argument("--out", type=Path, help="write every response and grade here (JSON)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    items = load_manuals() if args.question_set == "manuals" else load()
    graded = evaluate_folder(args.model, items, grounded=not args.no_grounding)
    result = summary(graded) | {"seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps({"summary": result, "items": [
            {**asdict(g.item), "response": g.response, "correct": g.correct, "well_formed": g.well_formed,
             "looped": g.looped, "quotes_outside": g.quotes_outside} for g in graded]}, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
