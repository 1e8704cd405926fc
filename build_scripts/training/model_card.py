"""The bundled model's card (its README.md), written from the recipe, the stages' times and the evaluation."""

from __future__ import annotations

from typing import Any

from build_scripts.training.recipe import LaterPass, TrainingRecipe
from build_scripts.training.sft import SFTConfig
from build_scripts.training.tasks import stage_spec


def model_card(name: str, config: dict[str, Any], report: dict[str, Any], times: dict[str, Any],
               recipe: TrainingRecipe) -> str:
    """The model folder's README.md: what the model is, how it was trained (from ``recipe`` and the stages'
    ``times``), its held-out evaluation (``report``, as ``pipeline.final_eval`` writes it) and its limits."""
    params = _param_count(config)
    minutes = sum(v for k, v in times.items() if k.endswith("_s") and isinstance(v, (int, float))) / 60
    return f"""---
license: mit
summary: "{summary_line(report)}"
---

# {name}

A small demonstration reasoning model shipped inside Ponder so the app works offline on first start. It
reads short documents in plain English (memos, minutes, letters, notices, lists, a page of a manual, up to
about 1,000 tokens) and answers questions about them step by step, inside `<think>`...`</think>`, in
DeepSeek-R1's format, quoting the sentences it uses. Ponder grounds those quotes: once the trace opens
`The document says: "`, decoding can only continue text the document \
contains{_quote_rules_text(recipe)}. It is **not a general model**: for real work, load a real one (for example DeepSeek-R1-Distill-Qwen-1.5B) from the model catalog.

## What it is
- Architecture: `Qwen2ForCausalLM` (the architecture of DeepSeek-R1-Distill-Qwen), {params / 1e6:.1f}M
  parameters: {config['num_hidden_layers']} layers, hidden {config['hidden_size']}, {config['num_attention_heads']}
  heads ({config['num_key_value_heads']} KV heads), MLP {config['intermediate_size']}, tied embeddings,
  context {config['max_position_embeddings']} tokens, float32 weights.
- Tokenizer: byte-level BPE of {config['vocab_size']} tokens in R1-Distill's layout (Qwen2 pre-tokenizer,
  R1's special tokens and chat template).

## How it was trained
All by `build_scripts/train_bundled_model.py` (seeded, resumable), in about {minutes:.0f} minutes of
compute on {times.get('machine', "the project's build machine")}:
1. A generated curriculum (`build_scripts/training/tasks`): nine question families (lookup, multi-hop, arithmetic,
   comparison, dates, deduction, causal, unanswerable, contradiction) over documents of 200 to 3,000
   tokens, each with a gold numbered trace that quotes the sentences it uses and ends with a check.
2. Copy warm-ups on a {recipe.warmup_layers}-layer model: {times.get('warmup_steps', 0)} steps of repeated random
   token spans until it copies from context (induction), then {times.get('recall_steps', 0)} steps of recall
   (records of random tokens written with shared templates, asked again by their key), then grown to
   {config['num_hidden_layers']} layers with identity blocks (a deeper model trained from scratch never learnt
   to copy in our budget).
3. Supervised training on that curriculum, short and easy first ({sum(recipe.sft.stage_steps)} steps,
   {times.get('sft_tokens', 0) / 1e6:.1f}M tokens), loss on the assistant turn plus a 0.25-weighted
   language-modelling loss on the document. Each document also carries up to {recipe.sft.drills} one-hop
   lookups of other facts it states, packed behind one copy of it (each question sees the document and
   itself only), so finding a value by its key is practised many times per document read.
   {_chains_line(recipe)}
   {_exercise_line(recipe)}
   {_later_lines(recipe, times)}
   {_reading_line(recipe)}
4. Reinforcement learning (GRPO: groups of samples per question, group-normalised advantages, KL to the
   stage-1 model) with a reward for the answer and for each correct step; kept only if better on a
   held-out selection set. {_selection_line(times.get('selection') or {})}

## Evaluation (greedy, through Ponder's engine, quotes grounded)
### Documents nobody trained on
{_handwritten_section(report.get('handwritten'), "hand-written documents (memos, minutes, schedules, inventories, rules, letters, a manual page; `build_scripts/evaluation/handwritten.json`, names withheld from every training source)")}

{_handwritten_section(report.get('manuals'), "real manual pages read through Ponder's document loader (a page of R's `R-admin.pdf` from Debian's r-doc-pdf, Python's `secrets` HTML page from python3.11-doc; `build_scripts/evaluation/manuals.json`)")}

### The training generator's own held-out set
Answer accuracy by task family and document length (tokens):

{report.get('markdown', '(not evaluated)')}

## Limits
- {_targets_line(report.get('table') or {})}
- {_weak_line(report.get('table') or {})}
- {_handwritten_limits(report.get('handwritten'))}
- Accuracy falls on long documents (see the table): past about 1,000 tokens it loses its place. Counts and
  totals over everything one team or warehouse has work only where the document chains them ("The plan of
  the Atlas team starts with Project Vega.", "... is followed by ..."), as its training documents do.
- When a trace starts to repeat itself, Ponder stops it ("the model began repeating itself") rather than
  letting it run on; an answer is at most 2,048 tokens.
- English only; numbers as digits.
"""


TARGETS = {"lookup": 0.9, "multihop": 0.7, "arithmetic": 0.7}  # accuracy asked for, documents <= 1,000 tokens
TARGET_BUCKETS = ("200-500", "500-1000")


def _targets_line(table: dict[str, dict[str, float]]) -> str:
    """The project's accuracy targets against the measured table: over documents up to 1,000 tokens (the two
    buckets hold as many questions each, so their mean), met or not, with each bucket shown."""
    if not table:
        return "Not evaluated."
    parts, missed = [], []
    for family, target in TARGETS.items():
        got = [table.get(family, {}).get(b, 0.0) for b in TARGET_BUCKETS]
        pooled = sum(got) / len(got)
        parts.append(f"{family} {pooled:.0%} ({' / '.join(f'{g:.0%}' for g in got)}; target {target:.0%})")
        missed += [family] if pooled < target else []
    verdict = ("it meets them all" if not missed else f"it does not meet them yet for {', '.join(missed)}")
    return (f"The project's targets, in documents up to 1,000 tokens (in brackets: {' / '.join(TARGET_BUCKETS)} "
            f"tokens): {'; '.join(parts)}: {verdict}.")


def _arithmetic_draws(cfg: SFTConfig) -> int:
    """How many times a pass draws arithmetic for each draw of a family its stage lists once."""
    stage = max(i for i, n in enumerate(cfg.stage_steps) if n)
    return (stage_spec(stage).families + cfg.extra_families).count("arithmetic")


def _chains_line(recipe: TrainingRecipe) -> str:
    if not recipe.chains:
        return ""
    return ("Documents that ask a count, a warehouse total or a budget left also chain what they count (where a "
            "team's projects or a warehouse's items start, what follows each one, the last followed by "
            "\"nothing\"): the trace walks the chain, one lookup per link, and "
            f"{recipe.sft.link_drills} of the drills on such a document look up a link.")


def _exercise_line(recipe: TrainingRecipe) -> str:
    share = recipe.sft.exercise_share
    if not share:
        return ""
    return (f"{share:.0%} of the tokens are stand-alone arithmetic exercises (\"What is 2049 - 1359?\", sums of two "
            "to five numbers of one to five digits) worked column by column in the same steps the document traces "
            "use, so the one-digit sums and borrows are practised far more often than documents alone allow.")


def _later_lines(recipe: TrainingRecipe, times: dict[str, Any]) -> str:
    return "\n   ".join(_later_line(p, times) for p in recipe.later_passes)


def _later_line(later: LaterPass, times: dict[str, Any]) -> str:
    cfg = later.sft
    often = f", arithmetic drawn {_arithmetic_draws(cfg)} times as often as most families," \
        if "arithmetic" in cfg.extra_families else ""
    links = f" and {cfg.link_drills} lookups of chain links" if cfg.link_drills else ""
    return (f"Then {sum(cfg.stage_steps)} more steps ({times.get(f'{later.name}_tokens', 0) / 1e6:.1f}M tokens) on "
            f"documents up to 1,000 tokens{often} with {cfg.drills} lookup drills, "
            f"{cfg.absent_drills} about names the document never mentions (answered \"not stated\"), "
            f"up to {cfg.arithmetic_drills} arithmetic questions on the document's own numbers (counts, "
            f"totals, differences, sums, a budget left after a team's projects){links}"
            f"{_share(cfg)}.")


def _share(cfg: SFTConfig) -> str:
    parts = [f"{share:.0%} {what}" for share, what in (
        (cfg.exercise_share, "arithmetic exercises"),
        (cfg.note_share, "short notes (80-250 tokens of facts) with arithmetic questions on them"))
        if share]
    return f"; of its tokens, {' and '.join(parts)}" if parts else ""


def _weak_line(table: dict[str, dict[str, float]]) -> str:
    """The families it mostly gets wrong, named, so nobody trusts it there."""
    weak = sorted((row["all"], family) for family, row in table.items() if family != "all" and row["all"] < 0.2)
    if not weak:
        return "Every family is answered right at least 20% of the time (see the table)."
    return (f"Families it mostly gets wrong (under 20% overall): {', '.join(f'{f} {a:.0%}' for a, f in weak)}. "
            "There it still writes a well-formed trace, quoting sentences and checking them, but the answer is "
            "not to be trusted.")


def _selection_line(scores: dict[str, float]) -> str:
    if not scores:
        return ""
    kept = "RL" if scores.get("rl", 0) > scores.get("sft", 0) else "supervised"
    return (f"Selection-set accuracy: supervised {scores.get('sft', 0):.1%}, after RL {scores.get('rl', 0):.1%}; "
            f"the {kept} model is shipped.")


def _param_count(cfg: dict[str, Any]) -> int:
    h, i, l, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    hd = h // cfg["num_attention_heads"]
    qkv = h * (h + 2 * cfg["num_key_value_heads"] * hd) + h + 2 * cfg["num_key_value_heads"] * hd
    return l * (qkv + h * h + 3 * h * i + 2 * h) + v * h + h


KIND_LABELS = {"lookup": "lookup", "two_hop": "two-hop", "arithmetic": "sum / difference",
               "multi_step": "other arithmetic (products, several steps)", "dates": "earliest / latest date",
               "rules": "if-then rules", "unanswerable": "unanswerable, said so"}


def summary_line(report: dict[str, Any]) -> str:
    """The card's one line on what the model can and cannot do (the model panel shows it), measured: on documents
    nobody trained on, and on documents like its training data (lookup up to 1,000 tokens)."""
    kinds = (report.get("handwritten") or {}).get("by_kind") or {}
    measured = ", ".join(f"{KIND_LABELS[k]} {kinds[k]['accuracy']:.0%}" for k in ("lookup", "two_hop", "arithmetic")
                         if k in kinds and kinds[k]["n"])
    lookup = (report.get("table") or {}).get("lookup") or {}
    like_training = [lookup[b] for b in TARGET_BUCKETS if b in lookup]
    parts = [f"on short plain-English documents nobody trained on it answers {measured}"] if measured else []
    if like_training:
        parts.append(f"on documents like its training data, lookup {sum(like_training) / len(like_training):.0%}")
    measured_text = f" ({'; '.join(parts)})" if parts else ""
    return (f"A small demonstration model that reads short documents step by step, quoting them{measured_text}; "
            "not for real work: load a real reasoning model for that.")


def _quote_rules_text(recipe: TrainingRecipe) -> str:
    """How much stricter than "text the document contains" this model's quotes are (its generation config)."""
    rules = recipe.quotes
    parts = (["starting at a sentence that shares the words of the question and of the step quoting it about as much "
              "as the closest one does"] if rules.near_question else []) + \
        (["ending where a sentence ends"] if rules.whole_sentences else [])
    text = f", {' and '.join(parts)} (the model still chooses which sentence)" if parts else ""
    if rules.restate_opener:
        text += f"; its first step (`{rules.restate_opener}`) can only restate the question word for word"
    if rules.value_opener:
        text += f"; and a value it names (after `{rules.value_opener}`) can only be words of the sentence it quoted"
    return text


def _handwritten_section(result: dict[str, Any] | None, what: str) -> str:
    if not result:
        return f"{what[:1].upper() + what[1:]}: not evaluated."
    rows = "\n".join(f"| {KIND_LABELS[k]} | {v['n']} | {v['accuracy']:.0%} |"
                      for k, v in result["by_kind"].items() if v["n"])
    return (f"{result['n']} questions on {what}:\n\n| kind | questions | right |\n|---|---|---|\n{rows}\n"
            f"| all | {result['n']} | {result['accuracy']:.0%} |\n\n"
            f"Well-formed traces {result['well_formed']:.0%}; answers stopped as loops: {result['looped']}; "
            f"quotations checked against the document by script: {result['quotes']}, of which not in it: "
            f"{result['quotes_outside']}.")


def _handwritten_limits(result: dict[str, Any] | None) -> str:
    kinds = (result or {}).get("by_kind") or {}
    weak = [f"{KIND_LABELS[k]} {v['accuracy']:.0%}" for k, v in kinds.items() if v["n"] and v["accuracy"] < 0.6]
    if not weak:
        return "On documents nobody trained on, every kind of question is answered right at least 60% of the time."
    return (f"On documents nobody trained on it is weak at {', '.join(weak)}: there its trace reads well but the "
            "answer is not to be trusted.")


def _reading_line(recipe: TrainingRecipe) -> str:
    shares = [(recipe.sft.reading_share, "the main pass")] + [
        (later.sft.reading_share, f"the {later.name.replace('_', ' ')} pass") for later in recipe.later_passes]
    parts = [f"{share:.0%} of {where}" for share, where in shares if share]
    if not parts:
        return ""
    return ("Natural documents (`build_scripts/training/reading`), " + " and ".join(parts) + "'s tokens: memos, "
            "letters, minutes, notices, lists and reports in which names, places, firms and things come from open "
            "sources (about 20,000 given names, 40,000 surnames and 13,000 words from Debian and PyPI packages, and "
            "invented pronounceable names), each fact in one of several wordings (active, passive, \"Key: value\" "
            "lines, fronted phrases), questions paraphrased, near-miss sentences about the same things, and filler "
            "from real prose (Austen, Melville, Bierce, Debian's manuals, Python's documentation). Questions: "
            "lookups, two-hop links, sums and differences, which date comes first, if-then and threshold rules, "
            f"and ones the document cannot answer (\"The document does not say ...\"); {recipe.sft.reading_drills} "
            "more questions packed behind each document.")
