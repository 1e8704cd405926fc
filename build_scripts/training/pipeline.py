"""The stages of the bundled model's training around the main supervised pass: warm-up, later passes, RL,
selection and evaluation, each resumable from what it wrote in the work folder.

``build_scripts/train_bundled_model.py`` drives these; they live here so the stages stay testable and
the script stays a thin, readable driver.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from build_scripts.evaluation import handwritten
from core.engine.engine import Engine, EngineConfig
from core.tokenizer import Tokenizer
from core.model_config import ModelConfig
from core.models.export import save_hf_checkpoint
from core.models.loader import load_model
from core.models.transformer import Transformer
from build_scripts.training.evaluate import EvalReport, evaluate
from build_scripts.training.recipe import TrainingRecipe, seeded
from build_scripts.training.rl import train_rl
from build_scripts.training.sft import init_weights, train_sft
from build_scripts.training.tasks import heldout_set
from build_scripts.training.tokenizer_train import CONTROL_TOKENS
from build_scripts.training.warmup import copy_warmup, grow

log = logging.getLogger(__name__)


def hf_config(recipe: TrainingRecipe, tokenizer: Tokenizer) -> dict[str, Any]:
    """config.json of the bundled model: a Qwen2ForCausalLM like DeepSeek-R1-Distill-Qwen, only smaller."""
    eos = tokenizer.token_to_id(tokenizer.eos_token)
    return {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": tokenizer.vocab_size,
        "hidden_size": recipe.hidden_size, "intermediate_size": recipe.intermediate_size,
        "num_hidden_layers": recipe.num_hidden_layers, "num_attention_heads": recipe.num_attention_heads,
        "num_key_value_heads": recipe.num_key_value_heads, "max_position_embeddings": recipe.max_position_embeddings,
        "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": True,
        "use_sliding_window": False, "attention_dropout": 0.0, "initializer_range": 0.02,
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": eos, "torch_dtype": "float32",
    }


def warmed_model(work: Path, hf: dict[str, Any], recipe: TrainingRecipe, seed: int,
                 times: dict[str, Any]) -> Transformer:
    """Stage 0: the copy warm-ups on ``recipe.warmup_layers`` layers, grown to the full depth (see warmup.py).

    First induction (copy what followed the previous token), then recall (find a record by a key several
    tokens back, past template tokens that every record shares), each resumable from its own checkpoint.
    """
    config = ModelConfig.from_hf(hf)
    shallow_config = ModelConfig.from_hf({**hf, "num_hidden_layers": recipe.warmup_layers})
    torch.manual_seed(seed)
    shallow = Transformer(shallow_config)
    init_weights(shallow)
    specials = len(CONTROL_TOKENS) + 2  # + <think>, </think>: the last ids of the vocabulary
    token_range = (10, hf["vocab_size"] - specials)
    configs = seeded(recipe, seed)
    stages = [("warmup", "warmup_model.pt", configs.warmup)]
    if configs.recall is not None:
        stages.append(("recall", "recall_model.pt", configs.recall))
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


def later_sft(work: Path, hf: dict[str, Any], tokenizer: Tokenizer, recipe: TrainingRecipe, seed: int,
              times: dict[str, Any]) -> Path:
    """The supervised passes after stage 1 (``recipe.later_passes``, in order); returns the model folder that
    goes on to RL (the last pass's)."""
    model_dir = work / "sft_model"
    for later in seeded(recipe, seed).later_passes:
        name = later.name
        out = work / f"{name}_model"
        if not (out / "model.safetensors").exists():
            model = load_model(model_dir, "fp32").model.requires_grad_(True)
            state = train_sft(model, tokenizer, later.sft, work / name)
            save_hf_checkpoint(model, hf, out)
            times[f"{name}_s"], times[f"{name}_tokens"] = state.seconds, state.tokens_seen
            (work / "times.json").write_text(json.dumps(times, indent=2))
        model_dir = out
    return model_dir


def engine_for(model_dir: Path, tok_dir: Path, max_sequences: int = 16, context: int = 4096) -> Engine:
    loaded = load_model(model_dir, "fp32", "cuda" if torch.cuda.is_available() else "cpu")
    return Engine(loaded, Tokenizer.from_dir(tok_dir), EngineConfig(max_sequences=max_sequences,
                                                                    context_tokens=context))


def run_rl_and_select(work: Path, sft_dir: Path, tokenizer: Tokenizer, recipe: TrainingRecipe, seed: int,
                      times: dict[str, Any]) -> Path:
    """Stage 2 (when configured) and the choice of the better model; returns the chosen model folder."""
    chosen = work / "chosen.txt"
    if chosen.exists():
        return Path(chosen.read_text().strip())
    rl_dir = work / "rl_model"
    if recipe.rl.iterations == 0:
        chosen.write_text(str(sft_dir))
        return sft_dir
    if not (rl_dir / "model.safetensors").exists():
        started = time.perf_counter()
        train_rl(sft_dir, work / "tokenizer", rl_dir, seeded(recipe, seed).rl, work / "rl")
        times["rl_s"] = time.perf_counter() - started
        (work / "times.json").write_text(json.dumps(times, indent=2))
    started = time.perf_counter()
    examples = [e for e in heldout_set(recipe.select_per_family, seed=seed + 1, chains=recipe.chains)
                if e.doc_tokens <= 1000]
    scores = {}
    for name, path in (("sft", sft_dir), ("rl", rl_dir)):
        report = evaluate(engine_for(path, work / "tokenizer"), examples, recipe.eval_max_tokens,
                          quotes=recipe.quotes)
        scores[name] = report.accuracy()
        log.info("selection set: %s accuracy %.3f, reward %.3f", name, scores[name], report.mean_reward)
    best = rl_dir if scores["rl"] > scores["sft"] else sft_dir
    (work / "selection.json").write_text(json.dumps(scores, indent=2))
    times["selection_s"] = time.perf_counter() - started
    (work / "times.json").write_text(json.dumps(times, indent=2))
    chosen.write_text(str(best))
    return best


def final_eval(work: Path, model_dir: Path, tok_dir: Path, recipe: TrainingRecipe,
               times: dict[str, Any]) -> dict[str, Any]:
    """The evaluations the model card reports, greedy, through the engine, quotes grounded: the generator's
    held-out set (all families and length buckets), then documents nobody trained on: the hand-written set
    and real manual pages (``build_scripts.evaluation.handwritten``)."""
    path = work / "eval.json"
    if path.exists():
        return json.loads(path.read_text())
    started = time.perf_counter()
    tokenizer = Tokenizer.from_dir(tok_dir)
    examples = heldout_set(recipe.eval_per_family_per_bucket, seed=0,
                           count_tokens=lambda s: len(tokenizer.encode(s)), chains=recipe.chains)
    engine = engine_for(model_dir, tok_dir)
    report: EvalReport = evaluate(engine, examples, recipe.eval_max_tokens, quotes=recipe.quotes,
                                  on_progress=lambda i, n: log.info("eval %d/%d", i, n))
    result = {**report.to_dict(), "markdown": report.markdown()}
    (work / "eval_responses.jsonl").write_text("\n".join(json.dumps(asdict(r)) for r in report.results))
    for name, items in (("handwritten", handwritten.load()), ("manuals", handwritten.load_manuals())):
        graded = handwritten.evaluate(engine, items, recipe.quotes, max_tokens=recipe.eval_max_tokens)
        result[name] = handwritten.summary(graded)
        log.info("%s set: accuracy %.3f", name, result[name]["accuracy"])
        (work / f"eval_{name}.jsonl").write_text("\n".join(json.dumps(
            {**asdict(g.item), "response": g.response, "correct": g.correct}, ensure_ascii=False) for g in graded))
    path.write_text(json.dumps(result, indent=2))
    times["eval_s"] = time.perf_counter() - started
    (work / "times.json").write_text(json.dumps(times, indent=2))
    return result
