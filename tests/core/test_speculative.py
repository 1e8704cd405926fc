"""Prompt-lookup speculative decoding: the output is plain decoding's, token for token, and drafts are accepted.

Exactness runs where drafts really are accepted and rejected: the bundled model on held-out questions (its
traces quote the document: real prompt-lookup drafts, with grounded quotes and the repetition guard on),
and tiny random checkpoints of all three architectures, alone and batched, with drafts from an oracle that
knows the plain output and spoils some of its tokens (a random model rarely repeats its prompt). Sampled
requests keep their seeded tokens: the acceptance rule draws with the request's own generator.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core.engine.engine import Completion, Engine, EngineConfig
from core.engine.grounding import grounder_for, quotable
from core.engine.sampler import SamplingParams
from core.engine.speculative import DraftPolicy, PromptLookup, SpeculationConfig
from core.models.loader import load_model
from core.tokenizer import Tokenizer
from core.bench.heldout import load_heldout
from tests.checkpoints import R1_TOKENIZER, random_checkpoint

BUNDLED = Path(__file__).resolve().parents[2] / "resources" / "models" / "ponder-reasoner-mini"
VOCAB = 152064
OFF = SpeculationConfig(enabled=False)
ALWAYS = SpeculationConfig(adaptive=False)  # every match drafts the most: exactness under many drafts


def engine_for(loaded, tokenizer: Tokenizer, speculation: SpeculationConfig, slots: int = 4) -> Engine:
    return Engine(loaded, tokenizer, EngineConfig(max_sequences=slots, context_tokens=1024, speculation=speculation))


def outcome(c: Completion) -> tuple:
    m = c.metrics
    return (c.token_ids, c.reasoning, c.answer, c.finish_reason, m.stop_reason, m.grounded_quotes,
            m.grounding_overrides)


# --- the lookup and the policy -----------------------------------------------------------------------------
def test_lookup_drafts_what_followed_the_longest_then_latest_match():
    lookup = PromptLookup([1, 2, 3, 4, 5, 9, 2, 3, 7, 8, 2, 3], min_match=2, max_candidates=16)
    assert lookup.propose(3) == ([7, 8, 2], 2)  # "2 3" twice before the end: the latest wins a tie
    lookup.sync([1, 2, 3])  # output so far: "... 2 3 1 2 3"
    assert lookup.propose(3) == ([4, 5, 9], 3)  # "1 2 3" matches longer than the later "2 3"s
    lookup.sync([1, 2, 3, 4, 5])
    assert lookup.propose(2) == ([9, 2], 5)
    assert PromptLookup([1, 2, 3, 4], 2, 16).propose(4) == ([], 0)  # "3 4" never occurred before the end


def test_policy_drafts_what_pays_and_stops_where_nothing_does():
    policy = DraftPolicy(max_draft=8)
    for _ in range(40):  # cheap passes, drafts accepted whole
        policy.record_pass(1, 0, 0.010)
        policy.record_pass(1, 8, 0.011)
        policy.observe(4, 8, 8)
    assert policy.draft_len(4, room=8, seqs=1) == 8
    assert policy.draft_len(4, room=3, seqs=1) == 3
    slow = DraftPolicy(max_draft=8)
    for k in (1, 4, 8) * 20:  # each draft token costs half a pass, and drafts are rejected at once
        slow.record_pass(1, 0, 0.010)
        slow.record_pass(1, k, 0.010 * (1 + 0.5 * k))
        slow.observe(2, 3, 0)
    drafts = [slow.draft_len(2, room=8, seqs=1) for _ in range(64)]
    assert drafts.count(0) == 62 and set(drafts) == {0, 4}  # off, but tried now and then at half the most


def test_drafts_of_a_batch_are_chosen_together_against_the_cost_of_the_whole_pass():
    def policy_with(fixed: float, per_token: float) -> DraftPolicy:
        policy = DraftPolicy(max_draft=8)
        for total in (1, 2, 4, 8, 16) * 10:  # passes of 4 sequences; drafts accepted half the time
            policy.record_pass(4, 0, 0.100)
            policy.record_pass(4, total, 0.100 * (1 + fixed + per_token * total))
            policy.observe(3, 2, 1)
        return policy

    shared = policy_with(0.2, 0.05)  # the fixed cost is paid once per pass, whoever drafts
    assert shared.draft_len(3, room=8, seqs=4) == 0  # one sequence alone would not pay for it
    assert shared.draft_lens([(3, 8)] * 4, seqs=4) == [2, 2, 2, 2]  # four together do: 7 tokens for 1.6 passes
    dear = policy_with(0.6, 0.05)
    assert dear.draft_lens([(3, 8)] * 4, seqs=4) == [0, 0, 0, 0]
    assert shared.draft_lens([(3, 8), (0, 8)], seqs=4)[1] == 0  # no match, no draft


# --- exactness ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundled():
    return load_model(BUNDLED, "fp32", "cpu"), Tokenizer.from_dir(BUNDLED)


def heldout_requests(tokenizer: Tokenizer, n: int) -> tuple[list[list[int]], list]:
    questions = load_heldout(BUNDLED)[:n]
    messages = [q.user_message() for q in questions]
    prompts = [tokenizer.prompt_ids([{"role": "user", "content": m}]) for m in messages]
    return prompts, [grounder_for(tokenizer, quotable(m)) for m in messages]


@pytest.mark.parametrize("speculation", [ALWAYS, SpeculationConfig()], ids=["always", "adaptive"])
def test_bundled_model_traces_are_plain_decodings_alone_and_batched(bundled, speculation):
    loaded, tokenizer = bundled
    prompts, _ = heldout_requests(tokenizer, 3)
    params = SamplingParams(max_tokens=400)
    plain = [outcome(c) for c in engine_for(loaded, tokenizer, OFF).generate_batch(prompts, params)]
    fast = engine_for(loaded, tokenizer, speculation, slots=1)
    alone = [fast.generate_batch([p], params)[0] for p in prompts]
    batched = engine_for(loaded, tokenizer, speculation).generate_batch(prompts, params)
    assert [outcome(c) for c in alone] == plain and [outcome(c) for c in batched] == plain
    drafted = sum(c.metrics.draft_tokens for c in alone + batched)
    accepted = sum(c.metrics.accepted_draft_tokens for c in alone + batched)
    assert 0 < accepted < drafted  # drafts were accepted, and rejected: both paths ran
    assert all(c.metrics.draft_acceptance == c.metrics.accepted_draft_tokens / c.metrics.draft_tokens
               for c in alone if c.metrics.draft_tokens)


def test_grounded_quotes_stay_exact_under_speculation(bundled):
    """The grounder constrains every verified row as a plain step would, and advances by emitted tokens only."""
    loaded, tokenizer = bundled
    prompts, grounders = heldout_requests(tokenizer, 3)
    assert all(g is not None for g in grounders)
    params = SamplingParams(max_tokens=400)
    plain = engine_for(loaded, tokenizer, OFF).generate_batch(prompts, params, grounders=grounders)
    _, grounders = heldout_requests(tokenizer, 3)  # fresh state
    fast = engine_for(loaded, tokenizer, ALWAYS).generate_batch(prompts, params, grounders=grounders)
    assert [outcome(c) for c in fast] == [outcome(c) for c in plain]
    assert sum(c.metrics.grounded_quotes for c in fast) >= 3
    assert sum(c.metrics.accepted_draft_tokens for c in fast) > 0


@pytest.fixture(scope="module", params=["qwen2", "llama", "qwen3"])
def tiny(request, tmp_path_factory):
    """In float64: a random model's flat logits put near-ties everywhere, and a pass of several rows rounds
    differently from a pass of one in float32, enough to flip such a tie; in float64 both round to the same
    float32 logits the sampler sees, so any difference left is speculation's."""
    folder = random_checkpoint(tmp_path_factory.mktemp(request.param), request.param, seed=5, vocab_size=VOCAB,
                               tokenizer=R1_TOKENIZER)
    loaded = load_model(folder, "fp32")
    return replace(loaded, model=loaded.model.double(), compute_dtype=torch.float64), Tokenizer.from_dir(folder)


def oracle(monkeypatch, expected: dict[tuple[int, ...], list[int]]) -> None:
    """Drafts from the plain output of each prompt: the next tokens, with every third draft's third token
    spoilt, so verification accepts whole drafts, a prefix, or nothing."""
    calls = [0]

    def propose(self: PromptLookup, max_tokens: int) -> tuple[list[int], int]:
        done = len(self.tokens) - self.prompt_len
        draft = list(expected[tuple(self.tokens[:self.prompt_len])][done:done + max_tokens])
        calls[0] += 1
        if calls[0] % 3 == 0 and len(draft) > 2:
            draft[2] = (draft[2] + 1) % VOCAB
        elif calls[0] % 7 == 0 and draft:
            draft[0] = (draft[0] + 1) % VOCAB
        return draft, 4

    monkeypatch.setattr(PromptLookup, "propose", propose)


def tiny_requests() -> list[tuple[list[int], SamplingParams]]:
    gen = torch.Generator().manual_seed(0)
    prompt = lambda n: torch.randint(3, 150000, (n,), generator=gen).tolist()  # noqa: E731
    return [(prompt(7), SamplingParams(max_tokens=40, ignore_eos=True)),
            (prompt(30), SamplingParams(max_tokens=40, ignore_eos=True, repetition_penalty=0.5,
                                        frequency_penalty=0.5)),
            (prompt(12), SamplingParams(max_tokens=40, ignore_eos=True, temperature=0.8, top_p=0.9, seed=3)),
            (prompt(3), SamplingParams(max_tokens=25, ignore_eos=True, temperature=0.05, seed=4))]


def test_every_architecture_decodes_the_plain_tokens_alone_and_batched(tiny, monkeypatch):
    """Greedy, penalised greedy and seeded sampling: the same tokens with drafts as without, alone and 4 at a time."""
    loaded, tokenizer = tiny
    requests = tiny_requests()
    plain_engine = engine_for(loaded, tokenizer, OFF)
    plain = [plain_engine.generate_batch([p], sp)[0].token_ids for p, sp in requests]
    oracle(monkeypatch, {tuple(p): out for (p, _), out in zip(requests, plain)})
    fast = engine_for(loaded, tokenizer, ALWAYS)
    alone = [fast.generate_batch([p], sp)[0] for p, sp in requests]
    batched = engine_for(loaded, tokenizer, ALWAYS).generate_batch([p for p, _ in requests],
                                                                   [sp for _, sp in requests])
    assert [c.token_ids for c in alone] == plain and [c.token_ids for c in batched] == plain
    for c in alone + batched:  # every request had drafts accepted and drafts rejected
        assert 0 < c.metrics.accepted_draft_tokens < c.metrics.draft_tokens


def test_rejected_drafts_leave_no_trace_in_a_reused_prefix(tiny, monkeypatch):
    """The slot a speculative request leaves holds only its accepted tokens' keys: a follow-up that continues
    its conversation reuses them and decodes what a fresh engine decodes."""
    loaded, tokenizer = tiny
    prompt, params = tiny_requests()[0]
    first = engine_for(loaded, tokenizer, OFF).generate_batch([prompt], params)[0].token_ids
    follow_up = prompt + first + [11, 12, 13]
    expected = engine_for(loaded, tokenizer, OFF).generate_batch([follow_up], params)[0].token_ids
    oracle(monkeypatch, {tuple(prompt): first, tuple(follow_up): expected})
    fast = engine_for(loaded, tokenizer, ALWAYS, slots=1)
    assert fast.generate_batch([prompt], params)[0].token_ids == first
    again = fast.generate_batch([follow_up], params)[0]
    assert again.metrics.cached_prompt_tokens == len(prompt) + len(first) - 1  # the last output token had no pass
    assert again.token_ids == expected and again.metrics.draft_tokens > again.metrics.accepted_draft_tokens


def test_repetition_guard_stops_at_the_same_token(tiny):
    """A looping output is stopped where plain decoding stops it, although drafts run ahead of the guard."""
    loaded, tokenizer = tiny
    looping = [[40, 41, 42, 43] * 12 + [40, 41]]
    params = SamplingParams(max_tokens=300, repetition_penalty=0.2)  # a penalty under 1 pulls it into the loop
    plain = engine_for(loaded, tokenizer, OFF).generate_batch(looping, params)[0]
    fast = engine_for(loaded, tokenizer, ALWAYS).generate_batch(looping, params)[0]
    assert plain.metrics.stop_reason == "repetition"
    assert outcome(fast) == outcome(plain) and fast.metrics.accepted_draft_tokens > 10
