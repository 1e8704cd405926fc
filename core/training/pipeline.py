"""The bundled model's training plan and the stages after supervised training (RL, selection, eval, card).

``build_scripts/train_bundled_model.py`` drives these; they live here so the stages stay testable and
the script stays a thin, readable driver.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.engine.engine import Engine, EngineConfig
from core.tokenizer import Tokenizer
from core.model_config import ModelConfig
from core.models.loader import load_model
from core.models.transformer import Transformer
from core.training.evaluate import EvalReport, evaluate
from core.training.tasks import heldout_set, stage_spec
from core.training.tokenizer_train import CONTROL_TOKENS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Plan:
    vocab_size: int = 4096
    hidden_size: int = 256
    intermediate_size: int = 768
    num_hidden_layers: int = 4
    num_attention_heads: int = 8
    num_key_value_heads: int = 8
    max_position_embeddings: int = 4096
    warmup_layers: int = 2  # the induction warm-up runs on this many layers, then the model is grown
    warmup: dict[str, Any] = field(default_factory=dict)
    recall: dict[str, Any] = field(default_factory=lambda: {"steps": 1200, "lr": 2e-3, "stop_below": 0.4})
    # from stage 2 on, documents that ask a count, a warehouse total or a budget left also chain what they
    # count (``tasks.World.chains``: "The plan of the Atlas team starts with Project Vega.", "In the plan of
    # the Atlas team, Project Vega is followed by ...", the last "followed by nothing."), walked one keyed
    # lookup per link; 2 of the drills on such a document look up a link. Scanning for "another" sentence
    # like one already quoted never worked (neither reading direction), nor copying a list of names out of
    # one sentence; a separate pass that added chains to a model trained without them needed four passes
    # (1,600 steps) where this run has chains from the start
    # 15% of the tokens are stand-alone column-arithmetic exercises (``tasks.exercises``): without them (build/v17,
    # 125 minutes from scratch) lookup was 100/100% and multi-hop 90/85% but arithmetic 30/20% up to 1,000
    # tokens, the chain walks learnt and the column arithmetic not (30 of 73 sums and differences right)
    # With them (build/v18, from scratch in one go, 148 minutes on a slower day for the same machine): 63 of 72 column
    # results right, but arithmetic still 50/50% (operands copied from the wrong earlier step: "128 + 665" for the
    # cost quoted as 998; subtraction borrows), lookup 90/90%, multi-hop 100/95%; see the session 22 note.
    # With the second pass below (build/v19, shipped: 142 minutes from scratch): arithmetic 95/70%, lookup 100/85%,
    # multi-hop 95/80%, 72 of 74 column results right
    sft: dict[str, Any] = field(default_factory=lambda: {"stage_steps": (150, 300, 1600, 150), "drills": 6,
                                                         "link_drills": 2, "chains": True, "exercise_share": 0.15})
    # then a second pass on the acceptance range, arithmetic drawn 5 times as often as most families, where some
    # drills ask about names the document never mentions (lookup drills alone taught the model that every
    # question has a sentence to quote), some practise arithmetic on the document's numbers and 4 look up links;
    # 15% of its tokens are exercises and 20% arithmetic notes (``tasks.arithmetic_note``: the arithmetic family
    # on documents of 80-250 tokens, three arithmetic drills behind each), which practise taking each operand from
    # the step that quoted it (build/v18's second pass, 400 steps with 25% exercises: see above)
    sft_tail: dict[str, Any] = field(default_factory=lambda: {
        "stage_steps": (0, 0, 800), "drills": 4, "absent_drills": 2, "arithmetic_drills": 3, "link_drills": 4,
        "lr": 4e-4, "min_lr_ratio": 0.5, "warmup_steps": 10, "chains": True, "extra_families": ("arithmetic",) * 3,
        "exercise_share": 0.15, "note_share": 0.2})
    rl: dict[str, Any] = field(default_factory=lambda: {"iterations": 20, "questions": 8, "group": 4,
                                                        "max_tokens": 512})
    eval_per_family_per_bucket: int = 20
    select_per_family: int = 3  # held-out questions per family and bucket <= 1,000 tokens, for keeping RL or not
    eval_max_tokens: int = 1536

    @property
    def chains(self) -> bool:
        """Whether RL, selection and evaluation documents carry chains, as the supervised passes' do."""
        return bool(self.sft.get("chains"))


# the supervised passes after stage 1, in order: each starts from the one before (the first from stage 1's
# model) with a fresh optimizer, and draws its data with the run's seed plus its offset
LATER_PASSES = (("sft_tail", 11),)


def default_plan() -> Plan:
    return Plan()


def quick_plan() -> Plan:
    return Plan(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=1024, warmup_layers=1,
                warmup={"steps": 3, "batch": 4, "source_tokens": 16, "copies_tokens": 16},
                recall={"steps": 2, "batch": 2, "records": 4, "queries": 2},
                sft={"stage_steps": (4, 4, 4, 2), "tokens_per_batch": 2048, "steps_per_chunk": 2, "warmup_steps": 2,
                     "log_every": 1, "drills": 2, "link_drills": 1, "chains": True, "exercise_share": 0.2},
                sft_tail={"stage_steps": (0, 0, 2), "tokens_per_batch": 2048, "steps_per_chunk": 2, "warmup_steps": 1,
                          "log_every": 1, "drills": 1, "absent_drills": 1, "arithmetic_drills": 1, "chains": True,
                          "exercise_share": 0.1, "note_share": 0.3},
                rl={"iterations": 2, "questions": 2, "group": 2, "max_tokens": 64},
                eval_per_family_per_bucket=1, select_per_family=1, eval_max_tokens=64)


def hf_config(plan: Plan, tokenizer: Tokenizer) -> dict[str, Any]:
    """config.json of the bundled model: a Qwen2ForCausalLM like DeepSeek-R1-Distill-Qwen, only smaller."""
    eos = tokenizer.token_to_id(tokenizer.eos_token)
    return {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": tokenizer.vocab_size,
        "hidden_size": plan.hidden_size, "intermediate_size": plan.intermediate_size,
        "num_hidden_layers": plan.num_hidden_layers, "num_attention_heads": plan.num_attention_heads,
        "num_key_value_heads": plan.num_key_value_heads, "max_position_embeddings": plan.max_position_embeddings,
        "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": True,
        "use_sliding_window": False, "attention_dropout": 0.0, "initializer_range": 0.02,
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": eos, "torch_dtype": "float32",
    }


def warmed_model(work: Path, hf: dict[str, Any], plan: Plan, seed: int, times: dict) -> Transformer:
    """Stage 0: the copy warm-ups on ``plan.warmup_layers`` layers, grown to the full depth (see warmup.py).

    First induction (copy what followed the previous token), then recall (find a record by a key several
    tokens back, past template tokens that every record shares), each resumable from its own checkpoint.
    """
    from core.training.sft import init_weights
    from core.training.warmup import WarmupConfig, grow, copy_warmup

    config = ModelConfig.from_hf(hf)
    shallow_config = ModelConfig.from_hf({**hf, "num_hidden_layers": plan.warmup_layers})
    torch.manual_seed(seed)
    shallow = Transformer(shallow_config)
    init_weights(shallow)
    specials = len(CONTROL_TOKENS) + 2  # + <think>, </think>: the last ids of the vocabulary
    token_range = (10, hf["vocab_size"] - specials)
    stages = [("warmup", "warmup_model.pt", WarmupConfig(**plan.warmup, seed=seed))]
    if plan.recall:
        stages.append(("recall", "recall_model.pt", WarmupConfig(**plan.recall, task="recall", seed=seed + 2)))
    for name, file, cfg in stages:
        path = work / file
        if path.exists():
            shallow.load_state_dict(torch.load(path, weights_only=True))
            continue
        started = time.perf_counter()
        history = copy_warmup(shallow, cfg, token_range)
        torch.save(shallow.state_dict(), path)
        times[f"{name}_s"] = time.perf_counter() - started
        times[f"{name}_steps"] = history[-1]["step"] if history else 0
        times[f"{name}_loss"] = history[-1]["loss"] if history else None
        (work / "times.json").write_text(json.dumps(times, indent=2))
    torch.manual_seed(seed + 1)
    deep = Transformer(config)
    init_weights(deep)
    return grow(shallow, deep)


def tail_sft(work: Path, hf: dict[str, Any], tokenizer: Tokenizer, plan: Plan, seed: int, times: dict) -> Path:
    """The supervised passes after stage 1 (``LATER_PASSES``, those configured); returns the model folder that
    goes on to RL (the last pass's)."""
    from core.models.export import save_hf_checkpoint
    from core.training.sft import SFTConfig, train_sft

    model_dir = work / "sft_model"
    for name, offset in LATER_PASSES:
        if not (cfg := getattr(plan, name)):
            continue
        out = work / f"{name}_model"
        if not (out / "model.safetensors").exists():
            model = load_model(model_dir, "fp32").model.requires_grad_(True)
            state = train_sft(model, tokenizer, SFTConfig(**cfg, seed=seed + offset), work / name)
            save_hf_checkpoint(model, hf, out)
            times[f"{name}_s"], times[f"{name}_tokens"] = state.seconds, state.tokens_seen
            (work / "times.json").write_text(json.dumps(times, indent=2))
        model_dir = out
    return model_dir


def engine_for(model_dir: Path, tok_dir: Path, max_sequences: int = 16, context: int = 4096) -> Engine:
    loaded = load_model(model_dir, "fp32", "cuda" if torch.cuda.is_available() else "cpu")
    return Engine(loaded, Tokenizer.from_dir(tok_dir), EngineConfig(max_sequences=max_sequences,
                                                                    context_tokens=context))


def run_rl_and_select(work: Path, sft_dir: Path, tokenizer: Tokenizer, plan: Plan, seed: int,
                      times: dict) -> Path:
    """Stage 2 (when configured) and the choice of the better model; returns the chosen model folder."""
    chosen = work / "chosen.txt"
    if chosen.exists():
        return Path(chosen.read_text().strip())
    rl_dir = work / "rl_model"
    if plan.rl.get("iterations", 0) == 0:
        chosen.write_text(str(sft_dir))
        return sft_dir
    from core.training.rl import RLConfig, train_rl

    if not (rl_dir / "model.safetensors").exists():
        started = time.perf_counter()
        train_rl(sft_dir, work / "tokenizer", rl_dir, RLConfig(**plan.rl, seed=seed, chains=plan.chains),
                 work / "rl")
        times["rl_s"] = time.perf_counter() - started
        (work / "times.json").write_text(json.dumps(times, indent=2))
    started = time.perf_counter()
    examples = [e for e in heldout_set(plan.select_per_family, seed=seed + 1, chains=plan.chains)
                if e.doc_tokens <= 1000]
    scores = {}
    for name, path in (("sft", sft_dir), ("rl", rl_dir)):
        report = evaluate(engine_for(path, work / "tokenizer"), examples, plan.eval_max_tokens)
        scores[name] = report.accuracy()
        log.info("selection set: %s accuracy %.3f, reward %.3f", name, scores[name], report.mean_reward)
    best = rl_dir if scores["rl"] > scores["sft"] else sft_dir
    (work / "selection.json").write_text(json.dumps(scores, indent=2))
    times["selection_s"] = time.perf_counter() - started
    (work / "times.json").write_text(json.dumps(times, indent=2))
    chosen.write_text(str(best))
    return best


def final_eval(work: Path, model_dir: Path, tok_dir: Path, plan: Plan, times: dict) -> dict:
    path = work / "eval.json"
    if path.exists():
        return json.loads(path.read_text())
    started = time.perf_counter()
    tokenizer = Tokenizer.from_dir(tok_dir)
    examples = heldout_set(plan.eval_per_family_per_bucket, seed=0,
                           count_tokens=lambda s: len(tokenizer.encode(s)), chains=plan.chains)
    report: EvalReport = evaluate(engine_for(model_dir, tok_dir), examples, plan.eval_max_tokens,
                                  on_progress=lambda i, n: log.info("eval %d/%d", i, n))
    result = {**report.to_dict(), "markdown": report.markdown()}
    path.write_text(json.dumps(result, indent=2))
    (work / "eval_responses.jsonl").write_text("\n".join(json.dumps(asdict(r)) for r in report.results))
    times["eval_s"] = time.perf_counter() - started
    (work / "times.json").write_text(json.dumps(times, indent=2))
    return result


def model_card(name: str, config: dict, report: dict, times: dict, plan: Plan) -> str:
    params = _param_count(config)
    minutes = sum(v for k, v in times.items() if k.endswith("_s") and isinstance(v, (int, float))) / 60
    return f"""# {name}

A small demonstration reasoning model shipped inside Ponder so the app works offline on first start.
It is **not a general model**: it reads the kind of synthetic documents it was trained on (company
reports, inventories, org charts, timelines, rule books) and answers questions about them step by step,
inside `<think>`...`</think>`, in DeepSeek-R1's format. For real work, load a real model (for example
DeepSeek-R1-Distill-Qwen-1.5B) from the model panel.

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
1. A generated curriculum (`core/training/tasks`): nine question families (lookup, multi-hop, arithmetic,
   comparison, dates, deduction, causal, unanswerable, contradiction) over documents of 200 to 3,000
   tokens, each with a gold numbered trace that quotes the sentences it uses and ends with a check.
2. Copy warm-ups on a {plan.warmup_layers}-layer model: {times.get('warmup_steps', 0)} steps of repeated random
   token spans until it copies from context (induction), then {times.get('recall_steps', 0)} steps of recall
   (records of random tokens written with shared templates, asked again by their key), then grown to
   {config['num_hidden_layers']} layers with identity blocks (a deeper model trained from scratch never learnt
   to copy in our budget).
3. Supervised training on that curriculum, short and easy first ({sum(plan.sft['stage_steps'])} steps,
   {times.get('sft_tokens', 0) / 1e6:.1f}M tokens), loss on the assistant turn plus a 0.25-weighted
   language-modelling loss on the document. Each document also carries up to {plan.sft.get('drills', 0)} one-hop
   lookups of other facts it states, packed behind one copy of it (each question sees the document and
   itself only), so finding a value by its key is practised many times per document read.
   {_chains_line(plan)}
   {_exercise_line(plan)}
   {_tail_line(plan, times)}
4. Reinforcement learning (GRPO: groups of samples per question, group-normalised advantages, KL to the
   stage-1 model) with a reward for the answer and for each correct step; kept only if better on a
   held-out selection set. {_selection_line(times.get('selection') or {})}

## Evaluation (held-out, greedy, through Ponder's engine)
Answer accuracy by task family and document length (tokens):

{report.get('markdown', '(not evaluated)')}

## Limits
- {_targets_line(report.get('table') or {})}
- {_weak_line(report.get('table') or {})}
- Synthetic documents only; on other text it produces plausible-looking but unreliable traces, or repeats
  a phrase until the token limit.
- Accuracy falls on long documents (see the table). In arithmetic, sums and differences of named facts
  mostly work. Counts and totals over everything one team or warehouse has (how many projects a team owns,
  everything a warehouse holds, the budget a team has left after all its projects) follow a chain of
  sentences ("The plan of the Atlas team starts with Project Vega.", "In the plan of the Atlas team, Project
  Vega is followed by ...", "... followed by nothing."), as its training documents give one; where the facts
  are only scattered over the document, it cannot gather them all (finding "another" sentence like one
  already quoted was never learnt).
- English only; numbers as plain digits; dates as YYYY-MM-DD.
"""


TARGETS = {"lookup": 0.9, "multihop": 0.7, "arithmetic": 0.7}  # accuracy asked for, documents <= 1,000 tokens
TARGET_BUCKETS = ("200-500", "500-1000")


def _targets_line(table: dict) -> str:
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


def _arithmetic_draws(cfg: dict[str, Any]) -> int:
    """How many times a pass draws arithmetic for each draw of a family its stage lists once."""
    stage = max(i for i, n in enumerate(cfg["stage_steps"]) if n)
    return (stage_spec(stage).families + tuple(cfg.get("extra_families", ()))).count("arithmetic")


def _chains_line(plan: Plan) -> str:
    if not plan.chains:
        return ""
    return ("Documents that ask a count, a warehouse total or a budget left also chain what they count (where a "
            "team's projects or a warehouse's items start, what follows each one, the last followed by "
            "\"nothing\"): the trace walks the chain, one lookup per link, and "
            f"{plan.sft.get('link_drills', 0)} of the drills on such a document look up a link.")


def _exercise_line(plan: Plan) -> str:
    share = plan.sft.get("exercise_share", 0)
    if not share:
        return ""
    return (f"{share:.0%} of the tokens are stand-alone arithmetic exercises (\"What is 2049 - 1359?\", sums of two "
            "to five numbers of one to five digits) worked column by column in the same steps the document traces "
            "use, so the one-digit sums and borrows are practised far more often than documents alone allow.")


def _tail_line(plan: Plan, times: dict) -> str:
    if not plan.sft_tail:
        return ""
    tail = plan.sft_tail
    often = f", arithmetic drawn {_arithmetic_draws(tail)} times as often as most families," \
        if "arithmetic" in tail.get("extra_families", ()) else ""
    links = f" and {tail['link_drills']} lookups of chain links" if tail.get("link_drills") else ""
    return (f"Then {sum(tail['stage_steps'])} more steps ({times.get('sft_tail_tokens', 0) / 1e6:.1f}M tokens) on "
            f"documents up to 1,000 tokens{often} with {tail.get('drills', 0)} lookup drills, "
            f"{tail.get('absent_drills', 0)} about names the document never mentions (answered \"not stated\"), "
            f"up to {tail.get('arithmetic_drills', 0)} arithmetic questions on the document's own numbers (counts, "
            f"totals, differences, sums, a budget left after a team's projects){links}"
            f"{_share(tail)}.")


def _share(cfg: dict[str, Any]) -> str:
    parts = [f"{cfg[key]:.0%} {what}" for key, what in (
        ("exercise_share", "arithmetic exercises"),
        ("note_share", "short notes (80-250 tokens of facts) with arithmetic questions on them"))
        if cfg.get(key)]
    return f"; of its tokens, {' and '.join(parts)}" if parts else ""


def _weak_line(table: dict) -> str:
    """The families it mostly gets wrong, named, so nobody trusts it there."""
    weak = sorted((row["all"], family) for family, row in table.items() if family != "all" and row["all"] < 0.2)
    if not weak:
        return "Every family is answered right at least 20% of the time (see the table)."
    return (f"Families it mostly gets wrong (under 20% overall): {', '.join(f'{f} {a:.0%}' for a, f in weak)}. "
            "There it still writes a well-formed trace, quoting sentences and checking them, but the answer is "
            "not to be trusted.")


def _selection_line(scores: dict) -> str:
    if not scores:
        return ""
    kept = "RL" if scores.get("rl", 0) > scores.get("sft", 0) else "supervised"
    return (f"Selection-set accuracy: supervised {scores.get('sft', 0):.1%}, after RL {scores.get('rl', 0):.1%}; "
            f"the {kept} model is shipped.")


def _param_count(cfg: dict) -> int:
    h, i, l, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    hd = h // cfg["num_attention_heads"]
    qkv = h * (h + 2 * cfg["num_key_value_heads"] * hd) + h + 2 * cfg["num_key_value_heads"] * hd
    return l * (qkv + h * h + 3 * h * i + 2 * h) + v * h + h
