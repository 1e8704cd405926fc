"""Stage 2: GRPO with per-step rewards, starting from (and held close to) the stage-1 model.

Each iteration samples a group of answers per question with the engine (the same batched inference path
the app uses), scores every answer with ``score_steps`` (answer correctness, plus partial credit for
each gold quote and intermediate value reached, minus a penalty for a malformed trace), normalises the
rewards within each group (the advantage), and takes one policy-gradient step on the sampled tokens with
a KL penalty to the frozen stage-1 model (the k3 estimator, as in GRPO).
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core.engine.engine import Engine, EngineConfig
from core.engine.sampler import SamplingParams
from core.tokenizer import Tokenizer
from core.models.export import save_hf_checkpoint
from core.models.loader import load_model
from core.models.transformer import Transformer
from build_scripts.training.tasks import Example, curriculum, score_steps

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RLConfig:
    iterations: int = 60
    questions: int = 8  # per iteration
    group: int = 4  # samples per question
    max_tokens: int = 1024
    temperature: float = 0.8
    lr: float = 2e-5
    kl_coef: float = 0.04
    malformed_penalty: float = 0.2
    stage: int = 2  # curriculum stage the questions come from
    chains: bool = False  # as in ``tasks.generate``
    micro_batch: int = 4  # sequences per backward pass
    seed: int = 0
    bf16: bool = True


def reward(example: Example, text: str, penalty: float) -> float:
    score = score_steps(example, text)
    return score.reward - (0.0 if score.well_formed else penalty)


def group_advantages(rewards: list[float], group: int) -> list[float]:
    """(r - mean) / std within each consecutive group; 0 where a group's answers all scored alike."""
    out = []
    for i in range(0, len(rewards), group):
        g = torch.tensor(rewards[i:i + group])
        std = g.std(unbiased=False)
        out += ((g - g.mean()) / std).tolist() if std > 1e-6 else [0.0] * len(g)
    return out


def sequence_logprobs(model: Transformer, prompt: list[int], completion: list[int], bf16: bool) -> torch.Tensor:
    """Log-probabilities [len(completion)] of the completion tokens given the prompt."""
    ids = torch.tensor([prompt + completion])
    n = len(completion)
    rows = torch.arange(len(prompt) - 1, len(prompt) - 1 + n)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(ids[:, :-1], torch.arange(ids.shape[1] - 1)[None], logits_at=rows)
    return torch.log_softmax(logits.float(), dim=-1).gather(1, torch.tensor(completion)[:, None]).squeeze(1)


def train_rl(sft_dir: Path, tok_dir: Path, out_dir: Path, cfg: RLConfig, work_dir: Path) -> list[dict]:
    """Run stage 2 from the stage-1 model in ``sft_dir``; writes the new model to ``out_dir``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer.from_dir(tok_dir)
    policy_loaded = load_model(sft_dir, "fp32")
    policy = policy_loaded.model.requires_grad_(True)
    reference = load_model(sft_dir, "fp32").model
    engine = Engine(policy_loaded, tokenizer, EngineConfig(max_sequences=cfg.questions * cfg.group,
                                                           context_tokens=policy_loaded.config.max_position_embeddings))
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.0)
    questions = curriculum(cfg.stage, cfg.seed + 7919, count_tokens=lambda s: len(tokenizer.encode(s)),
                           chains=cfg.chains)
    rng = random.Random(cfg.seed)
    history: list[dict] = []
    for it in range(cfg.iterations):
        started = time.perf_counter()
        examples = [next(questions) for _ in range(cfg.questions)]
        prompts = [tokenizer.prompt_ids([{"role": "user", "content": e.user_message()}]) for e in examples]
        expanded = [(e, p) for e, p in zip(examples, prompts) for _ in range(cfg.group)]
        params = [SamplingParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=rng.randrange(1 << 31))
                  for _ in expanded]
        policy.eval()
        completions = engine.generate_batch([p for _, p in expanded], params)
        texts = [tokenizer.decode(c.token_ids, skip_special_tokens=True) for c in completions]
        rewards = [reward(e, t, cfg.malformed_penalty) for (e, _), t in zip(expanded, texts)]
        advantages = group_advantages(rewards, cfg.group)
        policy.train()
        stats = _policy_step(policy, reference, opt, expanded, completions, advantages, cfg)
        entry = {"iteration": it + 1, "reward": sum(rewards) / len(rewards),
                 "correct": sum(score_steps(e, t).answer_correct for (e, _), t in zip(expanded, texts)) / len(texts),
                 "mean_tokens": sum(len(c.token_ids) for c in completions) / len(completions),
                 "seconds": time.perf_counter() - started, **stats}
        history.append(entry)
        log.info("rl %d/%d reward %.3f correct %.2f kl %.4f (%.0f s)", it + 1, cfg.iterations, entry["reward"],
                 entry["correct"], entry["kl"], entry["seconds"])
        with (work_dir / "rl_log.jsonl").open("a") as f:
            f.write(json.dumps(entry) + "\n")
    policy.eval().requires_grad_(False)
    config = json.loads((sft_dir / "config.json").read_text())
    save_hf_checkpoint(policy, config, out_dir)
    (work_dir / "rl_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    return history


def _policy_step(policy: Transformer, reference: Transformer, opt: torch.optim.Optimizer, expanded: list,
                 completions: list, advantages: list[float], cfg: RLConfig) -> dict:
    """One GRPO update: -A * log p(token) averaged per sequence, plus kl_coef * KL(policy || reference)."""
    items = [(p, c.token_ids, a) for (_, p), c, a in zip(expanded, completions, advantages) if c.token_ids and a != 0.0]
    if not items:
        return {"kl": 0.0, "loss": 0.0, "updated_sequences": 0}
    kl_total, loss_total = 0.0, 0.0
    for i in range(0, len(items), cfg.micro_batch):
        loss = torch.zeros(())
        for prompt, completion, advantage in items[i:i + cfg.micro_batch]:
            logp = sequence_logprobs(policy, prompt, completion, cfg.bf16)
            with torch.no_grad():
                ref_logp = sequence_logprobs(reference, prompt, completion, cfg.bf16)
            log_ratio = ref_logp - logp
            kl = (log_ratio.exp() - log_ratio - 1).mean()  # k3: unbiased, always >= 0
            seq_loss = -(advantage * logp).mean() + cfg.kl_coef * kl
            loss = loss + seq_loss / len(items)
            kl_total += kl.item()
            loss_total += seq_loss.item()
        loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return {"kl": kl_total / len(items), "loss": loss_total / len(items), "updated_sequences": len(items)}
