"""Exactness against the reference implementation (transformers) on checkpoints it saved itself."""

from __future__ import annotations

import pytest
import torch

from core.engine.kv_cache import KVCache, Segment
from core.model_config import ModelConfig, ModelConfigError
from core.kernels.build import kernel_status
from core.models.decode import TokenDecoder
from core.models.loader import load_model
from tests.checkpoints import hf_checkpoint, hf_model, tiny_config

ARCHS = ["qwen2", "llama", "qwen3"]


@pytest.fixture(scope="module", params=ARCHS)
def pair(request, tmp_path_factory):
    path = hf_checkpoint(tmp_path_factory.mktemp(request.param), request.param, seed=1)
    return request.param, hf_model(path), load_model(path, "fp32"), path


def test_fp32_logits_match_reference(pair):
    arch, ref, ours, _ = pair
    tokens = torch.randint(0, 1000, (1, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = ref(tokens).logits
        got = ours.model(tokens, torch.arange(64)[None])
    assert expected.abs().max() > 1.0  # logits with a real spread, not near-zero noise
    assert (expected - got).abs().max().item() <= 1e-4, arch


def test_cached_decode_and_chunked_prefill_match_full_forward(pair):
    """Prefill in chunks of 16, then one token at a time through the KV cache: same logits as one pass."""
    arch, ref, ours, _ = pair
    cfg = ours.config
    tokens = torch.randint(0, 1000, (1, 64), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref(tokens).logits[0]
    cache = KVCache(cfg.num_hidden_layers, 2, 128, cfg.num_key_value_heads, cfg.head_dim, torch.float32)
    rows = []
    with torch.inference_mode():
        for start in range(0, 48, 16):
            chunk = tokens[:, start:start + 16]
            step = cache.step([Segment(1, start, 16)])
            rows.append(ours.model(chunk, torch.arange(start, start + 16)[None], step, torch.arange(16)))
        for pos in range(48, 64):
            step = cache.step([Segment(1, pos, 1)])
            rows.append(ours.model(tokens[:, pos:pos + 1], torch.tensor([[pos]]), step, torch.tensor([0])))
    got = torch.cat(rows)
    assert (expected - got).abs().max().item() <= 1e-4, arch


def test_greedy_generation_matches_reference(pair):
    arch, ref, ours, _ = pair
    prompt = torch.randint(3, 1000, (1, 64), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = ref.generate(prompt, max_new_tokens=32, min_new_tokens=32, do_sample=False,
                                pad_token_id=0)[0, 64:].tolist()
    got = _greedy(ours, prompt[0].tolist(), 32)
    assert got == expected, arch


def _greedy(loaded, prompt: list[int], n: int) -> list[int]:
    cfg = loaded.config
    cache = KVCache(cfg.num_hidden_layers, 1, len(prompt) + n, cfg.num_key_value_heads, cfg.head_dim,
                    loaded.compute_dtype)
    out: list[int] = []
    with torch.inference_mode():
        logits = loaded.model(torch.tensor([prompt]), torch.arange(len(prompt))[None],
                              cache.step([Segment(0, 0, len(prompt))]), torch.tensor([len(prompt) - 1]))
        for i in range(n):
            out.append(int(logits[0].argmax()))
            pos = len(prompt) + i
            logits = loaded.model(torch.tensor([[out[-1]]]), torch.tensor([[pos]]),
                                  cache.step([Segment(0, pos, 1)]), torch.tensor([0]))
    return out


def prefilled_caches(loaded, prompt: torch.Tensor, slot: int) -> list[KVCache]:
    """Two caches (2 slots, 32 tokens) with ``prompt`` [1, T] read into ``slot`` of each by the model's forward."""
    cfg = loaded.config
    caches = [KVCache(cfg.num_hidden_layers, 2, 32, cfg.num_key_value_heads, cfg.head_dim, loaded.compute_dtype)
              for _ in range(2)]
    with torch.inference_mode():
        for cache in caches:
            n = prompt.shape[1]
            loaded.model(prompt, torch.arange(n)[None], cache.step([Segment(slot, 0, n)]))
    return caches


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16", "int8", "int4"])
def test_token_decoder_computes_exactly_what_forward_does(pair, precision):
    """The batch-1 decode path (TokenDecoder: same primitives, less Python) against the model's forward
    through the KV cache: the same logits bit for bit, and the same keys and values cached."""
    arch, _, _, path = pair
    loaded = load_model(path, precision)
    tokens = torch.randint(3, 1000, (1, 24), generator=torch.Generator().manual_seed(4))
    caches = prefilled_caches(loaded, tokens[:, :16], slot=1)
    decoder = TokenDecoder(loaded.model)
    # on CPU with Ponder's kernels, 16-bit and integer weights take every layer in one kernel call
    assert (decoder.native is not None) == (kernel_status().kernels is not None and precision != "fp32")
    with torch.inference_mode():
        for pos in range(16, 24):
            expected = loaded.model(tokens[:, pos:pos + 1], torch.tensor([[pos]]),
                                    caches[0].step([Segment(1, pos, 1)]), torch.tensor([0]))
            got = decoder([int(tokens[0, pos])], pos, caches[1].kv, 1)
            assert torch.equal(got, expected), (arch, precision, pos)
    for a, b in zip(caches[0].kv, caches[1].kv):
        assert torch.equal(a[1, :, :24], b[1, :, :24])


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8", "int4"])
def test_token_decoder_rows_decode_several_sequences_as_forward_does(pair, precision):
    """One token of each of three sequences at different depths in one pass (batched decode): the same logits
    bit for bit as the forward over the same batch, and the same keys and values cached."""
    arch, _, _, path = pair
    loaded = load_model(path, precision)
    cfg = loaded.config
    tokens = torch.randint(3, 1000, (3, 24), generator=torch.Generator().manual_seed(6))
    lengths, slots = [5, 16, 11], [2, 0, 1]
    caches = [KVCache(cfg.num_hidden_layers, 3, 32, cfg.num_key_value_heads, cfg.head_dim, loaded.compute_dtype)
              for _ in range(2)]
    decoder = TokenDecoder(loaded.model)
    with torch.inference_mode():
        for cache in caches:
            for row, (n, slot) in enumerate(zip(lengths, slots)):
                loaded.model(tokens[row:row + 1, :n], torch.arange(n)[None], cache.step([Segment(slot, 0, n)]))
        for step in range(4):
            positions = [n + step for n in lengths]
            new = [int(tokens[row, p]) for row, p in enumerate(positions)]
            expected = loaded.model(torch.tensor([new]), torch.tensor([positions]),
                                    caches[0].step([Segment(s, p, 1) for s, p in zip(slots, positions)]),
                                    torch.arange(3))
            got = decoder.rows(new, [(slot, p, 1) for slot, p in zip(slots, positions)], caches[1].kv)
            assert torch.equal(got, expected), (arch, precision, step)
    for a, b in zip(caches[0].kv, caches[1].kv):
        for n, slot in zip(lengths, slots):
            assert torch.equal(a[slot, :, :n + 4], b[slot, :, :n + 4])


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int4"])
def test_token_decoder_runs_a_token_and_its_draft_as_forward_does(pair, precision):
    """Several tokens of one sequence in one pass (a token and its speculative draft): each row sees the cache up
    to its own position, as the forward's causal mask lets it; the same logits and cached keys and values up to
    rounding (the attention is another kernel), and the same greedy choice on every row."""
    arch, _, _, path = pair
    loaded = load_model(path, precision)
    cfg = loaded.config
    tokens = torch.randint(3, 1000, (1, 25), generator=torch.Generator().manual_seed(5))
    caches = prefilled_caches(loaded, tokens[:, :16], slot=0)
    with torch.inference_mode():
        expected = loaded.model(tokens[:, 16:25], torch.arange(16, 25)[None], caches[0].step([Segment(0, 16, 9)]),
                                torch.arange(9))
        got = TokenDecoder(loaded.model)(tokens[0, 16:25].tolist(), 16, caches[1].kv, 0)
    tol = 1e-4 if precision == "fp32" else 3e-2
    assert got.shape == expected.shape == (9, cfg.vocab_size)
    assert (got - expected).abs().max() <= tol * expected.abs().max(), (arch, precision)
    assert torch.equal(got.argmax(-1), expected.argmax(-1))
    for a, b in zip(caches[0].kv, caches[1].kv):
        a, b = a[0, :, :25].float(), b[0, :, :25].float()
        assert torch.allclose(a, b, atol=tol * a.abs().max().item())


def test_reduced_precisions_are_close_and_ordered(pair):
    """Not exact by nature: error vs fp32 is bounded relative to the logit spread, and grows with fewer bits."""
    arch, _, ours, path = pair
    tokens = torch.randint(0, 1000, (1, 32), generator=torch.Generator().manual_seed(3))
    positions = torch.arange(32)[None]
    with torch.inference_mode():
        base = ours.model(tokens, positions)
        spread = base.std().item()
        errors = {}
        for precision in ("bf16", "int8", "int4"):
            logits = load_model(path, precision).model(tokens, positions).float()
            errors[precision] = (logits - base).abs().mean().item() / spread
            agreement = (logits.argmax(-1) == base.argmax(-1)).float().mean().item()
            assert agreement >= {"bf16": 0.9, "int8": 0.8, "int4": 0.5}[precision], (arch, precision, agreement)
    assert errors["bf16"] < errors["int8"] < errors["int4"] < 0.5, (arch, errors)
    assert errors["bf16"] < 0.02, (arch, errors)


def test_unsupported_architecture_lists_supported():
    raw = tiny_config("qwen2", architectures=["MistralForCausalLM"])
    with pytest.raises(ModelConfigError, match="MistralForCausalLM.*supported: Qwen2ForCausalLM, LlamaForCausalLM"):
        ModelConfig.from_hf(raw)


def test_unsupported_rope_type_is_named():
    raw = tiny_config("llama", rope_scaling={"rope_type": "longrope", "factor": 4.0})
    with pytest.raises(ModelConfigError, match="'longrope'.*supported: default, linear, llama3"):
        ModelConfig.from_hf(raw)


def test_classic_and_v5_rope_fields_parse_alike():
    classic = ModelConfig.from_hf(tiny_config("llama"))
    v5 = ModelConfig.from_hf({**tiny_config("llama"), "rope_scaling": None, "rope_theta": None,
                              "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                                  "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                  "original_max_position_embeddings": 64}})
    assert classic.rope == v5.rope and classic.rope.type == "llama3"


def test_the_one_call_decoder_refuses_a_position_outside_the_cache(pair):
    """The kernel writes the token's keys and values where it is told: a position past the cache is an error
    raised before it runs, as the per-step path's indexing raises, never a write outside the cache."""
    _, _, _, path = pair
    loaded = load_model(path, "bf16")
    decoder = TokenDecoder(loaded.model)
    if decoder.native is None:
        pytest.skip("Ponder's kernels are not loaded here")
    cfg = loaded.config
    cache = KVCache(cfg.num_hidden_layers, 1, 8, cfg.num_key_value_heads, cfg.head_dim, loaded.compute_dtype)
    for c in cache.kv:
        c.zero_()
    before = [c.clone() for c in cache.kv]
    with torch.inference_mode(), pytest.raises(IndexError):
        decoder([5], 8, cache.kv, 0)
    assert all(torch.equal(a, b) for a, b in zip(before, cache.kv))
