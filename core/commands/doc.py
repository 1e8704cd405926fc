"""``ponder doc FILE``: what the app would see of a document, and how it would fit a model's context.

Parses the file exactly as the app does (pre-checks, then a worker process with time and memory limits; the
same errors, reported as a message with exit code 2), then prints the extracted text by page or section
(shortened; ``--json`` has everything), character and token counts (the model's tokenizer with ``--model``,
else a labelled estimate) and the strategy the app would choose for the model's context, with its reason.
No torch is imported: this runs without loading any weights.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.commands import dump_json
from core.documents import (ContextBudget, IndexedDocument, EstimatedCounter, ParseLimits, ParseProgress,
                            TokenizerCounter, choose_strategy, parse_document)
from core.documents.parsed import ParsedDocument
from core.precision import DEFAULT_CONTEXT_CAP

SHOWN_SECTIONS = 8
SHOWN_CHARS = 400


def add_doc_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="a PDF, DOCX, HTML, Markdown or text file")
    p.add_argument("--model", type=Path, help="model folder: its tokenizer counts tokens, its config the context")
    p.add_argument("--context", type=int, help="context length in tokens (default: min(model max, 32768))")
    p.add_argument("--reserve", type=int, default=4096, help="tokens kept for the reasoning and the answer")
    p.add_argument("--question", help="plan the prompt for this question (retrieval shows what it would include)")
    p.add_argument("--strategy", choices=("auto", "whole", "retrieval", "sequential"), default="auto")
    p.add_argument("--timeout", type=float, default=ParseLimits().time_s, help="parser time limit in seconds")
    p.add_argument("--json", action="store_true", help="print everything as one JSON object")


def run(args: argparse.Namespace) -> int:
    progress = _show_progress if sys.stderr.isatty() and not args.json else None
    document = parse_document(args.file, ParseLimits(time_s=args.timeout), on_progress=progress)
    if progress:
        print("\r\033[K", end="", file=sys.stderr)
    counter = TokenizerCounter.from_model_dir(args.model) if args.model else EstimatedCounter()
    context, context_source = resolve_context(args.model, args.context)
    budget = ContextBudget.for_context(context, args.reserve)
    indexed = IndexedDocument(document, counter)
    strategy = None if args.strategy == "auto" else args.strategy
    question = args.question or ""
    room = indexed.room_tokens(question, budget)
    if args.question:
        prompt = indexed.prompt(question, budget, strategy)
        choice: dict[str, Any] = prompt.to_dict()
    else:
        picked = choose_strategy(indexed.document_tokens, room, question, strategy)
        choice = {"strategy": picked.strategy, "reason": picked.reason, "document_tokens": indexed.document_tokens,
                  "room_tokens": room, "budget": budget.to_dict(), "question": None}
    report = _report(document, indexed, counter, context_source, budget, choice)
    if args.json:
        dump_json(report)
    else:
        print(_describe(report, document))
    return 0


def resolve_context(model: Path | None, context: int | None) -> tuple[int, str]:
    """(context tokens, where that number comes from), as the engine would choose it."""
    if context is not None:
        return context, "--context"
    if model is None:
        return DEFAULT_CONTEXT_CAP, "assumed: pass --model or --context"
    path = model / "config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        maximum = int(raw["max_position_embeddings"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} gives no usable max_position_embeddings ({type(exc).__name__}: {exc}); "
                         "pass --context") from exc
    used = min(maximum, DEFAULT_CONTEXT_CAP)
    capped = f", capped at {DEFAULT_CONTEXT_CAP:,} as the engine does by default" if used < maximum else ""
    return used, f"model maximum {maximum:,} (config.json max_position_embeddings){capped}"


def _show_progress(progress: ParseProgress) -> None:
    print(f"\r\033[K{progress.describe()}", end="", file=sys.stderr, flush=True)


def _report(document: ParsedDocument, indexed: IndexedDocument, counter: Any, context_source: str,
            budget: ContextBudget, choice: dict[str, Any]) -> dict[str, Any]:
    sections = indexed.section_tokens
    return {
        "document": document.to_dict(),
        "tokens": {"total": indexed.document_tokens, "exact": counter.exact, "counter": counter.label,
                   "sections": [{"index": s.section_index, "title": s.title, "page": s.page, "chars": s.chars,
                                 "tokens": s.tokens} for s in sections]},
        "chunks": [c.anchor() for c in indexed.chunks],
        "context": {**budget.to_dict(), "source": context_source, "budget": budget.describe()},
        "strategy": choice,
    }


def _describe(report: dict[str, Any], document: ParsedDocument) -> str:
    tokens = report["tokens"]
    count = (f"{tokens['total']:,} tokens ({tokens['counter']})" if tokens["exact"] else
             f"about {tokens['total']:,} tokens ({tokens['counter']}; pass --model for exact counts)")
    lines = [f"{document.describe()}, {count}",
             f"  sha256 {document.sha256} · {document.size_bytes:,} bytes"
             + (f" · encoding {document.encoding}" if document.encoding else "")]
    lines += [f"  warning: {w}" for w in document.warnings]
    lines.append("")
    for section, counts in list(zip(document.sections, tokens["sections"]))[:SHOWN_SECTIONS]:
        lines.append(f"— {section.heading()} · {counts['chars']:,} characters · {counts['tokens']:,} tokens")
        shown = section.text[:SHOWN_CHARS]
        lines += ["  " + line for line in shown.splitlines()]
        if len(section.text) > SHOWN_CHARS:
            lines.append(f"  … ({len(section.text) - SHOWN_CHARS:,} more characters)")
    hidden = len(document.sections) - SHOWN_SECTIONS
    if hidden > 0:
        lines.append(f"… {hidden:,} more sections not shown (--json has the full text)")
    strategy, context = report["strategy"], report["context"]
    lines += ["", f"Chunks: {len(report['chunks']):,} (for retrieval and citations)",
              f"Context: {context['context_tokens']:,} tokens ({context['source']})",
              f"Budget: {context['budget']}; {strategy['room_tokens']:,} tokens left for the document",
              f"Strategy: {strategy['strategy']}. {strategy['reason']}"]
    if strategy.get("prompt_tokens"):
        lines.append(f"  prompt: {strategy['prompt_tokens']:,} tokens")
    if strategy.get("included"):
        where = sorted({c["page"] for c in strategy["included"] if c["page"] is not None})
        lines.append(f"  includes {len(strategy['included'])} passages"
                     + (f" from pages {', '.join(map(str, where))}" if where else ""))
    if strategy.get("parts"):
        lines.append(f"  reads the document in {strategy['parts']} parts, then answers from the notes")
    lines += [f"  note: {n}" for n in strategy.get("notes", ())]
    return "\n".join(lines)
