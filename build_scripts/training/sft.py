"""Stage 1: supervised curriculum on generated traces, with the one Transformer the engine runs.

Short documents and easy families first, then longer and harder (``tasks.curriculum`` stages), loss on
the assistant turn only, AdamW with warmup and cosine decay, bf16 autocast on CPUs that do bf16 well.
Checkpoints (model, optimizer, position in the curriculum) are written every few minutes and at every
chunk boundary on request, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from core.tokenizer import Tokenizer
from core.models.transformer import Transformer
from build_scripts.training.data import IGNORE, Batch, chunk_batches
from build_scripts.training.tasks import Drills

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SFTConfig:
    stage_steps: tuple[int, ...] = (250, 500, 2500, 500)  # optimizer steps per curriculum stage 0..3
    tokens_per_batch: int = 8192
    steps_per_chunk: int = 25  # data is drawn (and resumable) per chunk of steps
    max_len: int = 4096
    prompt_loss_weight: float = 0.25  # language modelling of the document as an auxiliary loss
    # extra questions packed behind each example's document (``tasks.Drills``): lookups of its facts,
    # names it never mentions, arithmetic over its numbers
    drills: int = 0
    absent_drills: int = 0
    arithmetic_drills: int = 0
    link_drills: int = 0
    chains: bool = False  # documents chain a team's projects / a warehouse's items (``tasks.generate``)
    extra_families: tuple[str, ...] = ()  # drawn this many more times than the curriculum stage says
    exercise_share: float = 0.0  # of the tokens: stand-alone column-arithmetic exercises (``tasks.exercises``)
    note_share: float = 0.0  # of the tokens: short arithmetic documents with their questions (``tasks.exercises``)
    reading_share: float = 0.0  # of the tokens: natural documents in open vocabulary (``training.reading``)
    reading_drills: int = 0  # more questions packed behind each natural document
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    bf16: bool = True
    seed: int = 0
    checkpoint_every_s: float = 600.0
    log_every: int = 25

    @property
    def total_steps(self) -> int:
        return sum(self.stage_steps)

    def stage_at(self, step: int) -> int:
        edge = 0
        for stage, n in enumerate(self.stage_steps):
            edge += n
            if step < edge:
                return stage
        return len(self.stage_steps) - 1

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass(slots=True)
class TrainState:
    step: int = 0
    chunk: int = 0  # data chunk in progress (batches are regenerated from it on resume)
    batch_in_chunk: int = 0
    tokens_seen: int = 0
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)  # one entry per logged interval


def init_weights(model: Transformer, std: float = 0.02) -> None:
    """GPT-2 style: normal(0, std), residual output projections scaled by 1/sqrt(2 * layers)."""
    residual_std = std / math.sqrt(2 * len(model.layers))
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            torch.nn.init.ones_(p)
        elif name.endswith(".bias"):
            torch.nn.init.zeros_(p)
        elif name.endswith(("o_proj.weight", "down_proj.weight")):
            torch.nn.init.normal_(p, 0.0, residual_std)
        else:
            torch.nn.init.normal_(p, 0.0, std)


def batch_loss(model: Transformer, batch: Batch, bf16: bool,
               prompt_weight: float = 0.0) -> tuple[torch.Tensor, float]:
    """(Loss to minimise, response-only cross-entropy for the log): the mean cross-entropy over response
    tokens, plus ``prompt_weight`` x the mean over prompt tokens.

    The prompt term is plain language modelling of the document: names and numbers recur in a document,
    so predicting them teaches the copy-from-context (induction) circuits that reading needs, on many
    more tokens than the responses alone. The LM head runs only on the positions that are scored.
    """
    device = model.norm.weight.device
    flat_targets = batch.targets.reshape(-1).to(device)
    rows = (flat_targets != IGNORE).nonzero().squeeze(1)
    if prompt_weight > 0:
        flat_prompt = batch.prompt_targets.reshape(-1).to(device)
        prompt_rows = (flat_prompt != IGNORE).nonzero().squeeze(1)
        rows = torch.cat((rows, prompt_rows))
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(batch.tokens.to(device), batch.positions.to(device), logits_at=rows,
                       mask=None if batch.mask is None else batch.mask.to(device)).float()
    n = batch.n_target_tokens
    response_loss = F.cross_entropy(logits[:n], flat_targets[rows[:n]])
    loss = response_loss
    if prompt_weight > 0 and len(rows) > n:
        loss = loss + prompt_weight * F.cross_entropy(logits[n:], flat_prompt[rows[n:]])
    return loss, response_loss.item()


def train_sft(model: Transformer, tokenizer: Tokenizer, cfg: SFTConfig, work_dir: Path,
              on_progress: Callable[[dict], None] | None = None) -> TrainState:
    """Run (or resume) stage 1 in ``work_dir``; returns the final state. The model is trained in place."""
    work_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = work_dir / "sft_checkpoint.pt"
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)
    state = TrainState()
    if ckpt_path.exists():
        saved = torch.load(ckpt_path, weights_only=False)  # our own file, written below
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        state = TrainState(**saved["state"])
        log.info("resuming stage 1 at step %d", state.step)
    model.train()
    last_save = time.perf_counter()
    window = {"loss": 0.0, "n": 0, "t": time.perf_counter(), "tokens": 0}
    while state.step < cfg.total_steps:
        stage = cfg.stage_at(state.step)
        drawn = time.perf_counter()
        batches = chunk_batches(tokenizer, stage, state.chunk, cfg.steps_per_chunk, cfg.tokens_per_batch, cfg.seed,
                                cfg.max_len, Drills(lookups=cfg.drills, absent=cfg.absent_drills,
                                                   arithmetic=cfg.arithmetic_drills, links=cfg.link_drills),
                                cfg.chains, cfg.extra_families, cfg.exercise_share, cfg.note_share,
                                cfg.reading_share, cfg.reading_drills)
        state.seconds += time.perf_counter() - drawn  # drawing the data is part of the training time
        for batch in batches[state.batch_in_chunk:]:
            if state.step >= cfg.total_steps:
                break
            started = time.perf_counter()
            for group in opt.param_groups:
                group["lr"] = cfg.lr_at(state.step)
            loss, response_loss = batch_loss(model, batch, cfg.bf16, cfg.prompt_loss_weight)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            state.step += 1
            state.batch_in_chunk += 1
            state.tokens_seen += batch.n_tokens
            state.seconds += time.perf_counter() - started
            window["loss"] += response_loss
            window["n"] += 1
            window["tokens"] += batch.n_tokens
            if state.step % cfg.log_every == 0 or state.step == cfg.total_steps:
                elapsed = time.perf_counter() - window["t"]
                entry = {"step": state.step, "stage": stage, "loss": window["loss"] / window["n"],
                         "lr": cfg.lr_at(state.step), "tokens_per_s": window["tokens"] / elapsed,
                         "tokens_seen": state.tokens_seen, "elapsed_s": state.seconds}
                state.history.append(entry)
                log.info("sft step %d/%d stage %d loss %.4f %.0f tok/s", state.step, cfg.total_steps, stage,
                         entry["loss"], entry["tokens_per_s"])
                if on_progress:
                    on_progress(entry)
                window = {"loss": 0.0, "n": 0, "t": time.perf_counter(), "tokens": 0}
        if state.step < cfg.total_steps:
            state.chunk, state.batch_in_chunk = state.chunk + 1, 0
            if time.perf_counter() - last_save > cfg.checkpoint_every_s:  # at a chunk boundary: resumable
                _save(ckpt_path, model, opt, state)
                last_save = time.perf_counter()
    _save(ckpt_path, model, opt, state)
    model.eval()
    return state


def _save(path: Path, model: Transformer, opt: torch.optim.Optimizer, state: TrainState) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": asdict(state)}, tmp)
    tmp.replace(path)
