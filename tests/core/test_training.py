"""Training: the induction warm-up and growth, a micro supervised run, and its checkpoint served by the engine.

The shipped model's own behaviour is tested in test_bundled_model.py.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import torch

from core.engine.engine import Engine, EngineConfig
from core.engine.sampler import SamplingParams
from core.tokenizer import Tokenizer
from core.model_config import ModelConfig
from core.models.export import save_hf_checkpoint
from core.models.loader import load_model
from core.models.transformer import Transformer
from build_scripts.training import pipeline
from build_scripts.training.recipe import default_recipe, quick_recipe, seeded
from build_scripts.training.data import IGNORE, chunk_batches, collate, encode, encode_group
from build_scripts.training.sft import SFTConfig, batch_loss, init_weights, train_sft
from build_scripts.training.tasks import Drills, generate_with_drills
from build_scripts.training.tokenizer_train import train_tokenizer
from build_scripts.training.warmup import WarmupConfig, grow, copy_warmup, recall_batch, warmup_batch

TINY = dict(architectures=["Qwen2ForCausalLM"], vocab_size=96, hidden_size=32, intermediate_size=64,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
            tie_word_embeddings=True)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> tuple[Tokenizer, object]:
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(out, vocab_size=1024, seed=0)
    return Tokenizer.from_dir(out), out


def test_warmup_batches_are_copies_of_the_source() -> None:
    cfg = WarmupConfig(batch=3, source_tokens=20, copies_tokens=30, span=(3, 5))
    tokens, targets = warmup_batch(cfg, (10, 90), torch.Generator().manual_seed(0))
    assert tokens.shape == targets.shape == (3, 49)
    for row_tokens, row_targets in zip(tokens, targets):
        source = row_tokens[:20].tolist()
        assert (row_targets[:19] == -100).all()  # nothing in the source can be known
        known = (row_targets != -100).nonzero().squeeze(1).tolist()
        assert len(known) > 15
        for i in known:  # each known target continues, in the source, the token it follows
            prev, nxt = int(row_tokens[i]), int(row_targets[i])
            assert any(source[j] == prev and source[j + 1] == nxt for j in range(19))


def test_recall_batches_ask_records_again_by_their_key() -> None:
    cfg = WarmupConfig(task="recall", batch=4, records=8, templates=2, queries=3)
    tokens, targets = recall_batch(cfg, (10, 900), torch.Generator().manual_seed(1))
    assert tokens.shape == targets.shape
    ambiguous = 0
    for row_tokens, row_targets in zip(tokens.tolist(), targets.tolist()):
        known = [i for i, t in enumerate(row_targets) if t != -100]
        first = [i for i in known if i - 1 not in known]  # where each asked value starts
        assert len(first) == 3
        for i in first:
            value = [row_targets[j] for j in range(i, len(row_targets)) if j in known and j - i < 3]
            # The value was written earlier, right after the same question tokens (key and template).
            written = [j for j in range(i - 2) if row_tokens[j - 1:j + 1] == row_tokens[i - 1:i + 1]
                       and row_tokens[j + 1:j + 1 + len(value)] == value]
            assert written
            # The previous token alone (a shared template token) also precedes other records' values.
            ambiguous += any(row_tokens[j] == row_tokens[i] and row_tokens[j + 1] != value[0] for j in range(i))
    assert ambiguous >= 6  # most questions cannot be answered by plain induction


def test_grown_model_computes_what_the_shallow_one_did() -> None:
    torch.manual_seed(0)
    shallow = Transformer(ModelConfig.from_hf(TINY))
    init_weights(shallow)
    deep = Transformer(ModelConfig.from_hf({**TINY, "num_hidden_layers": 4}))
    init_weights(deep)
    grow(shallow, deep)
    tokens = torch.randint(0, 96, (2, 24))
    positions = torch.arange(24).expand(2, 24)
    torch.testing.assert_close(deep(tokens, positions), shallow(tokens, positions), rtol=0, atol=0)
    with pytest.raises(ValueError):
        grow(deep, shallow)


def test_warmup_lowers_the_copy_loss() -> None:
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_hf(TINY))
    init_weights(model)
    history = copy_warmup(model, WarmupConfig(steps=50, batch=8, source_tokens=16, copies_tokens=32,
                                                   bf16=False, stop_below=0.0), (10, 90))
    assert history[-1]["loss"] < history[0]["loss"]


def test_a_recipe_is_seeded_stage_by_stage() -> None:
    """One seed per run, each stage drawing from its own offset of it; RL's documents chain as the supervised
    passes' do."""
    for recipe in (default_recipe(), quick_recipe()):
        stages = seeded(recipe, 5)
        assert stages.warmup == replace(recipe.warmup, seed=5) and stages.sft == replace(recipe.sft, seed=5)
        assert stages.recall is not None and stages.recall.task == "recall" and stages.recall.seed == 7
        assert [(p.name, p.sft.seed) for p in stages.later_passes] == [("sft_tail", 16)]
        assert stages.rl.seed == 5 and stages.rl.chains is recipe.chains is True
    assert seeded(replace(quick_recipe(), recall=None), 0).recall is None


def test_questions_packed_on_one_document_train_exactly_as_separate_examples(tokenizer) -> None:
    """Documents with their drills packed as trees, batched with a plain (shorter, padded) example, give every
    response token the logit it gets alone: the causal prefix and the masked branches attend as one mask would."""
    tok, _ = tokenizer
    count = lambda s: len(tok.encode(s))  # noqa: E731
    group = generate_with_drills(7, "multihop", 2, 300, count, drills=Drills(lookups=3))
    other = generate_with_drills(8, "lookup", 1, 250, count, drills=Drills(lookups=2))
    plain = generate_with_drills(9, "lookup", 1, 200, count)[0]
    assert len(group) == 4 and len({e.document for e in group}) == 1
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_hf({**TINY, "vocab_size": tok.vocab_size, "max_position_embeddings": 1024}))
    init_weights(model)
    packed = collate([encode_group(tok, group), encode(tok, plain), encode_group(tok, other)], pad_id=0)
    alone = [collate([encode(tok, e)], pad_id=0) for e in (*group, plain, *other)]
    assert packed.n_target_tokens == sum(b.n_target_tokens for b in alone)
    assert packed.tokens.shape[1] < sum(b.tokens.shape[1] for b in alone[:4]) * 0.6  # the document once, not 4 times
    assert 0 < packed.mask.causal < packed.tokens.shape[1]  # the shared prefix takes the causal kernel

    def response_logits(batch):
        targets = batch.targets.reshape(-1)
        rows = (targets != IGNORE).nonzero().squeeze(1)
        with torch.no_grad():
            return model(batch.tokens, batch.positions, logits_at=rows, mask=batch.mask), targets[rows]

    logits, targets = response_logits(packed)
    separate = [response_logits(b) for b in alone]
    torch.testing.assert_close(logits, torch.cat([l for l, _ in separate]), atol=1e-4, rtol=1e-4)
    assert torch.equal(targets, torch.cat([t for _, t in separate]))
    loss, _ = batch_loss(model, packed, bf16=False)
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, targets).item(), rel=1e-5)


def test_shares_of_each_chunk_are_arithmetic_exercises_and_notes(tokenizer) -> None:
    tok, _ = tokenizer
    arithmetic = re.compile(r"carry \d|borrow \d|Count the projects|Project 1 is")

    def draw(exercises: float, notes: float = 0.0) -> list:  # stage 0: lookups only, nothing to add up
        return chunk_batches(tok, 0, 0, 4, 2048, seed=3, max_len=2048, exercise_share=exercises, note_share=notes)

    def shares(batches: list) -> tuple[float, float]:
        """Of the scored tokens: in rows that are one exercise, and in rows of a note (a document with sums)."""
        exercise = note = total = 0
        for b in batches:
            scored = ((b.targets != IGNORE) | (b.prompt_targets != IGNORE)).sum(1).tolist()
            for row, n in zip(b.tokens.tolist(), scored):
                total += n
                text = tok.decode(row)
                if text.find("Question: What is", 0, 100) >= 0:
                    exercise += n
                elif arithmetic.search(text):
                    note += n
        return exercise / total, note / total

    batches = draw(0.25)
    assert 0.2 < shares(batches)[0] < 0.3
    assert shares(draw(0.0)) == (0, 0)
    assert [b.tokens.tolist() for b in batches] == [b.tokens.tolist() for b in draw(0.25)]  # reproducible
    exercises, notes = shares(draw(0.15, 0.3))
    assert 0.1 < exercises < 0.2 and 0.25 < notes < 0.4
    assert [b.tokens.tolist() for b in draw(0.15)] == [b.tokens.tolist() for b in draw(0.15, 0.0)]


def test_micro_sft_lowers_loss_and_its_checkpoint_serves(tokenizer, tmp_path) -> None:
    tok, tok_dir = tokenizer
    recipe = replace(quick_recipe(), vocab_size=tok.vocab_size)
    hf = pipeline.hf_config(recipe, tok)
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_hf(hf))
    init_weights(model)
    cfg = SFTConfig(stage_steps=(12,), tokens_per_batch=2048, steps_per_chunk=4, warmup_steps=2, log_every=4,
                    lr=3e-3, bf16=False)
    state = train_sft(model, tok, cfg, tmp_path / "sft")
    losses = [entry["loss"] for entry in state.history]
    assert state.step == 12 and losses[-1] < losses[0] - 0.5  # 6.7 -> 5.7 nats measured
    assert (tmp_path / "sft" / "sft_checkpoint.pt").exists()

    out = save_hf_checkpoint(model, hf, tmp_path / "model")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (out / name).write_bytes((tok_dir / name).read_bytes())
    loaded = load_model(out, "fp32", "cpu")
    tokens = torch.randint(0, tok.vocab_size, (1, 16))
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(tokens, torch.arange(16)[None]), model(tokens, torch.arange(16)[None]))
    engine = Engine(loaded, Tokenizer.from_dir(out), EngineConfig(max_sequences=2, context_tokens=512))
    prompt = engine.tokenizer.prompt_ids([{"role": "user", "content": "How much does parcel 12 weigh?"}])
    [done] = engine.generate_batch([prompt], SamplingParams(max_tokens=8))
    assert 1 <= len(done.token_ids) <= 8
