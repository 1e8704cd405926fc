"""The shipped model (resources/models/ponder-reasoner-mini) through the normal loader and engine, greedy.

Its full evaluation (720 held-out questions) is in its model card; here a fixed handful of held-out
questions on short documents, from seeds the training never drew, must come back with well-formed
traces, and at least as many right as the shipped model got when it was trained. The held-out set it ships
for the benchmark must be what its generator writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from build_scripts.training.evaluate import evaluate
from build_scripts.training.export_heldout import heldout_examples, heldout_json
from build_scripts.training.recipe import TrainingRecipe
from build_scripts.training.tasks import heldout_set
from core.bench import quality
from core.bench.heldout import HELDOUT_FILE, has_heldout, load_heldout
from build_scripts.evaluation import handwritten
from core.commands.serve import EXAMPLE_CONTENT
from core.engine.engine import Engine, EngineConfig
from core.engine.grounding import DEFAULT_OPENER, model_quote_rules
from core.engine.sampler import SamplingParams
from core.server.model_state import GenerationDefaults
from core.models.loader import load_model
from core.tokenizer import Tokenizer

MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "ponder-reasoner-mini"
FAMILIES = ("lookup", "multihop", "deduction", "contradiction", "causal", "comparison")


@pytest.fixture(scope="module")
def engine() -> Engine:
    loaded = load_model(MODEL, "fp32", "cpu")
    return Engine(loaded, Tokenizer.from_dir(MODEL), EngineConfig(max_sequences=8, context_tokens=4096))


def test_the_bundled_model_loads_like_a_real_checkpoint(engine: Engine) -> None:
    assert json.loads((MODEL / "config.json").read_text())["architectures"] == ["Qwen2ForCausalLM"]
    card = (MODEL / "README.md").read_text()
    assert card.startswith("---\nlicense: mit\nsummary: ") and "\n# ponder-reasoner-mini\n" in card
    assert (MODEL / "model.safetensors").stat().st_size <= 100 * 1024 * 1024
    defaults = GenerationDefaults.from_dir(MODEL)
    assert defaults.quotes == TrainingRecipe().quotes and defaults.quotes.opener == DEFAULT_OPENER
    assert defaults.max_tokens == 2048
    tokenizer = engine.tokenizer
    ids = tokenizer.prompt_ids([{"role": "user", "content": "hi"}])
    assert tokenizer.decode(ids, skip_special_tokens=False).startswith("<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜>")


def test_it_answers_held_out_questions_with_well_formed_traces(engine: Engine) -> None:
    examples = [e for e in heldout_set(1, seed=0, count_tokens=lambda s: len(engine.tokenizer.encode(s)))
                if e.family in FAMILIES and e.doc_tokens <= 500]
    assert len(examples) == len(FAMILIES)
    report = evaluate(engine, examples, max_tokens=768)
    assert all(r.well_formed for r in report.results), [r.response for r in report.results if not r.well_formed]
    correct = [r.family for r in report.results if r.correct]
    # measured: 5 of these 6, all but the contradiction (the card: lookup 90% and multi-hop 70% in 200-500
    # token documents, comparison 15-25%, contradiction 0%); the lookup and the multi-hop question must be
    # among them
    assert {"lookup", "multihop"} <= set(correct) and len(correct) >= 4, f"only {correct} of {FAMILIES} answered right"


def test_it_counts_a_teams_projects_by_walking_their_chain(engine: Engine) -> None:
    """The held-out counts on short documents that chain a team's projects (``tasks.World.chains``): the trace
    starts where the team's plan starts and follows it link by link to "nothing", numbering each project."""
    examples = [e for e in heldout_set(20, seed=0, count_tokens=lambda s: len(engine.tokenizer.encode(s)), chains=True)
                if e.family == "arithmetic" and e.doc_tokens <= 500 and e.question.startswith("How many projects")]
    assert len(examples) == 3
    report = evaluate(engine, examples, max_tokens=768)
    for r in report.results:
        assert r.well_formed and "1. Find the first project in the plan of the" in r.response, r.response
    # measured: 3 of 3 (the card: arithmetic 40% in 200-500 token documents)
    assert sum(r.correct for r in report.results) >= 2, [r.response for r in report.results]


def test_the_shipped_held_out_set_is_what_its_generator_writes() -> None:
    """Regenerated and compared, so the benchmark's questions cannot drift from the training's held-out set; the
    prompt the benchmark builds from each is the one the model was trained on."""
    path = MODEL / HELDOUT_FILE
    assert path.read_text(encoding="utf-8") == heldout_json(), "run: python -m build_scripts.training.export_heldout"
    assert path.stat().st_size < 200 * 1024
    questions = load_heldout(MODEL)
    assert [q.user_message() for q in questions] == [e.user_message() for e in heldout_examples()]
    assert len({q.family for q in questions[:9]}) == 9 and all(q.doc_tokens <= 500 for q in questions[:9])


def test_the_benchmark_asks_the_shipped_questions(engine: Engine) -> None:
    """The benchmark's task accuracy (a quick run's 4 questions) through the core scorer, no training code."""
    assert has_heldout(MODEL)
    result = quality.task_accuracy(engine, MODEL, 4, max_tokens=256)
    # measured: 2 of 4 right, 4 of 4 well-formed (arithmetic, causal, comparison, contradiction; 256 tokens)
    assert result["n"] == 4 and result["accuracy"] >= 0.25 and result["well_formed_rate"] >= 0.5, result


def test_the_serve_banners_example_is_answered_right(engine: Engine) -> None:
    """``ponder serve`` suggests a curl request; the bundled model must answer it, grounded as the server does."""
    tokenizer = engine.tokenizer
    prompt = tokenizer.prompt_ids([{"role": "user", "content": EXAMPLE_CONTENT}])
    grounder = model_quote_rules(MODEL).for_message(tokenizer, EXAMPLE_CONTENT)
    done = engine.generate_batch([prompt], SamplingParams(max_tokens=512), grounders=[grounder])[0]
    text = tokenizer.decode(done.token_ids, skip_special_tokens=True)
    assert "Agnes Holt" in text.rpartition("</think>")[2], text


def test_it_reads_hand_written_documents_with_real_quotes(engine: Engine) -> None:
    """A fixed slice of the hand-written evaluation (one lookup per document, the first 12 documents): answered
    through the engine with grounded quotes, every quotation checked against its document by text."""
    items, seen = [], set()
    for item in handwritten.load():
        if item.kind == "lookup" and item.document_id not in seen and len(seen) < 12:
            seen.add(item.document_id)
            items.append(item)
    graded = handwritten.evaluate(engine, items, model_quote_rules(MODEL), max_tokens=768)
    assert not [g.quotes_outside for g in graded if g.quotes_outside]
    # measured: 6 of these 12 right, none cut by the repetition guard (4 and 2 with quotes only kept to the
    # document's text; the card: lookup 50% on the whole set, 7 of its 137 answers stopped as loops); the issue
    # asks for 85% and none
    looped = [g.item.question for g in graded if g.looped]
    assert len(looped) <= 1, looped
    right = [g.item.question for g in graded if g.correct]
    assert len(right) >= 5, [(g.item.question, g.response[-300:]) for g in graded if not g.correct]
