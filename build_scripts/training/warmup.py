"""Stage 0: copy warm-ups, a few minutes of "repeat what you saw" before the curriculum.

Reading a document is mostly copying: the name in the question, the sentence that holds the fact, the
number in that sentence. A small model trained only on the task data picks this up slowly, because the
copied tokens are a small share of each response: it can read millions of task tokens and still copy
nothing, not even a name from its own previous step. Random token sequences repeated after a random
gap make copying the *only* way to lower the loss, so the copy-from-context (induction) circuits form
in a couple of hundred steps; the curriculum then only has to learn what to copy. A second warm-up,
recall (``recall_batch``), then teaches finding *which* record to copy from by its key.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.models.transformer import Transformer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WarmupConfig:
    steps: int = 900  # at most; stops once the copy loss is below ``stop_below``
    stop_below: float = 0.8  # nats; ln(vocab) ~ 8.3 before the circuits form, ~0.5 after
    batch: int = 32
    source_tokens: int = 64  # the random "document" each sequence starts with
    copies_tokens: int = 128  # followed by copies of random spans of it
    span: tuple[int, int] = (3, 10)  # length of each copied span
    lr: float = 3e-3
    bf16: bool = True
    seed: int = 0
    task: str = "induction"  # or "recall": see recall_batch
    records: int = 12  # recall: records per sequence ...
    templates: int = 3  # ... written with this many shared templates
    queries: int = 6  # ... then this many of them asked again


def warmup_batch(cfg: WarmupConfig, vocab: tuple[int, int], gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens [B, T] and targets [B, T] (-100 where nothing can be known: the source, each span's start).

    A random source followed by copies of random spans of it: every token of a span after its first is
    predictable only by finding the previous token in the source and copying what followed it, so most
    positions carry a copy signal.
    """
    lo, hi = vocab
    rows_tokens, rows_targets = [], []
    for _ in range(cfg.batch):
        source = torch.randint(lo, hi, (cfg.source_tokens,), generator=gen)
        tokens, targets = [source], [torch.full((cfg.source_tokens,), -100)]
        n = 0
        while n < cfg.copies_tokens:
            length = int(torch.randint(cfg.span[0], cfg.span[1] + 1, (), generator=gen))
            start = int(torch.randint(0, cfg.source_tokens - length + 1, (), generator=gen))
            span = source[start:start + length]
            tokens.append(span)
            targets.append(torch.cat([torch.tensor([-100]), span[1:]]))  # label = the token itself ...
            n += length
        rows_tokens.append(torch.cat(tokens)[:cfg.source_tokens + cfg.copies_tokens])
        rows_targets.append(torch.cat(targets)[:cfg.source_tokens + cfg.copies_tokens])
    seq, lab = torch.stack(rows_tokens), torch.stack(rows_targets)
    return seq[:, :-1], lab[:, 1:]  # ... shifted: position i predicts token i+1


def recall_batch(cfg: WarmupConfig, vocab: tuple[int, int], gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens [B, T] and targets [B, T]: records written with shared templates, then some asked again.

    The skill a lookup needs after plain copying. "If the Brno warehouse closes, its items move to the
    Seville warehouse": the value (Seville) follows a key (Brno) and several template tokens that every
    record of that kind shares, so copying what followed the previous token ("the") picks a random
    record; only a match on the key, several tokens back, finds the right one. Each record here is
    prefix + key + middle + value + end, with random tokens: a few templates (prefix, middle, end)
    shared by all records, keys of one or two tokens (two-token keys share their first token, as
    "Aiko Reyes" and "Aiko Tanaka" do), values of one to three tokens. Then records are asked again
    as prefix + key + middle, and the loss is on their values only.
    """
    lo, hi = vocab

    def rand(n: int) -> list[int]:
        return torch.randint(lo, hi, (n,), generator=gen).tolist()

    def pick(a: int, b: int) -> int:
        return int(torch.randint(a, b + 1, (), generator=gen))

    rows_tokens, rows_targets, length = [], [], 0
    for _ in range(cfg.batch):
        templates = [(rand(pick(1, 3)), rand(pick(1, 6)), rand(pick(1, 2))) for _ in range(cfg.templates)]
        first = rand(cfg.templates)  # the shared first token of two-token keys, one per template
        records, used = [], set()
        while len(records) < cfg.records:
            t = pick(0, cfg.templates - 1)
            key = tuple([first[t], *rand(1)] if pick(0, 1) else rand(1))
            if key in used:
                continue
            used.add(key)
            records.append((t, list(key), rand(pick(1, 3))))
        tokens, targets = [], []
        for t, key, value in records:
            prefix, middle, end = templates[t]
            record = prefix + key + middle + value + end
            tokens += record
            targets += [-100] * len(record)
        for i in torch.randperm(len(records), generator=gen)[:cfg.queries].tolist():
            t, key, value = records[i]
            prefix, middle, end = templates[t]
            asked = prefix + key + middle
            tokens += asked + value + end
            targets += [-100] * len(asked) + value + [-100] * len(end)
        rows_tokens.append(tokens)
        rows_targets.append(targets)
        length = max(length, len(tokens))
    pad = lo  # padding at the end: never a target, never attended to by a target (causal)
    seq = torch.tensor([r + [pad] * (length - len(r)) for r in rows_tokens])
    lab = torch.tensor([r + [-100] * (length - len(r)) for r in rows_targets])
    return seq[:, :-1], lab[:, 1:]  # position i predicts token i+1


def copy_warmup(model: Transformer, cfg: WarmupConfig, token_range: tuple[int, int]) -> list[dict]:
    """Train ``model`` in place on repeated random sequences (``cfg.task``); returns the loss history."""
    make_batch = recall_batch if cfg.task == "recall" else warmup_batch
    gen = torch.Generator().manual_seed(cfg.seed)
    device = model.norm.weight.device
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.1)
    model.train()
    history, started = [], time.perf_counter()
    for step in range(1, cfg.steps + 1):
        tokens, targets = make_batch(cfg, token_range, gen)
        b, t = tokens.shape
        rows = (targets.reshape(-1) != -100).nonzero().squeeze(1).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            logits = model(tokens.to(device), torch.arange(t, device=device).expand(b, t), logits_at=rows)
        loss = F.cross_entropy(logits.float(), targets.reshape(-1).to(device)[rows])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, step / 50)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % 25 == 0 or step == cfg.steps:
            history.append({"step": step, "loss": loss.item(), "elapsed_s": time.perf_counter() - started})
            log.info("%s warm-up step %d/%d loss %.3f", cfg.task, step, cfg.steps, loss.item())
            if loss.item() < cfg.stop_below:
                break
    model.eval()
    return history


def grow(shallow: Transformer, deep: Transformer) -> Transformer:
    """Copy ``shallow`` into the first layers of ``deep``; the added layers start as the identity.

    Deep models sit on the copying plateau far longer than shallow ones (a 2-layer model of this width forms
    induction heads within a few hundred warm-up steps, where 4- and 8-layer ones have not), so the circuits
    are grown shallow and the depth added afterwards. Zero output projections make each new block add
    nothing to the residual stream at first, so the grown model computes exactly what the shallow one did
    and training starts from the formed circuits.
    """
    n = len(shallow.layers)
    if len(deep.layers) < n:
        raise ValueError(f"cannot grow {n} layers into {len(deep.layers)}")
    with torch.no_grad():
        deep.embed_tokens.weight.copy_(shallow.embed_tokens.weight)
        deep.norm.weight.copy_(shallow.norm.weight)
        if not deep.config.tie_word_embeddings:
            deep.lm_head.weight.copy_(shallow.lm_head.weight)
        for i, layer in enumerate(shallow.layers):
            deep.layers[i].load_state_dict(layer.state_dict())
        for layer in deep.layers[n:]:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    return deep
