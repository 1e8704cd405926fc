"""Prompt-lookup speculative decoding: draft the next tokens from the document and the trace so far, verify
them in one forward pass.

A reasoning trace over a document quotes it, restates the question and repeats its own phrases, so the
tokens that followed the latest occurrence of the output's last few tokens are often the next ones
(``PromptLookup``). The model reads the last token and the draft in one pass; row j of its logits decides
token j exactly as a plain step would (the same grounding constraint, penalties and sampler, applied to
the real grounder, guard and history, which only ever advance by emitted tokens), and draft token j is
accepted when the decided token equals it. The first mismatch is emitted as the model's own token and the
rest is dropped: their keys and values stay in the slot past ``num_cached``, never read, overwritten by
the next pass (that is the rollback). Greedy output is therefore the plain output token for token.

Sampling: with a draft that puts all its mass on one token d, the standard rule (accept d with probability
min(1, p(d)/q(d)) = p(d), else draw from the residual max(0, p - q) renormalised, which is p without d) gives
the same distribution, and the same acceptance probability, as drawing x ~ p and accepting iff x == d. We
draw x with the request's own generator, one draw per emitted token as a plain step does, so a seeded
request gives the same tokens with or without speculation, in any batch.

Drafting costs a longer pass. ``DraftPolicy`` measures both sides while it runs (how often a draft token
is accepted, by the length of the match it came from; how much a token more costs in a pass) and drafts
only as many tokens as pay: none where nothing pays, which is how it stays off where it is slower.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence as Seq

from torch import Tensor

from core.engine.kv_cache import Segment
from core.engine.scheduler import ScheduledBatch
from core.engine.sequence import Sequence

MAX_MATCH_TOKENS = 32  # a longer match says no more about the continuation
MATCH_BUCKETS = 8  # acceptance is tracked for match lengths 1 .. 8+


@dataclass(frozen=True, slots=True)
class SpeculationConfig:
    enabled: bool = True
    max_draft_tokens: int = 8
    min_match_tokens: int = 2  # the output's last tokens that must have occurred before
    max_candidates: int = 16  # earlier occurrences compared per lookup, the most recent first
    adaptive: bool = True  # False: always draft the most (tests, measurements of the acceptance alone)

    def __post_init__(self) -> None:
        if self.max_draft_tokens < 1 or self.min_match_tokens < 1 or self.max_candidates < 1:
            raise ValueError(f"invalid speculation config {self}")


class PromptLookup:
    """One sequence's tokens (prompt, then output) and an index of where each ``min_match``-gram was followed."""

    def __init__(self, prompt: Seq[int], min_match: int, max_candidates: int) -> None:
        self.tokens = list(prompt)
        self.prompt_len = len(self.tokens)
        self.min_match, self.max_candidates = min_match, max_candidates
        self._follows: dict[tuple[int, ...], list[int]] = {}  # n-gram -> positions right after it, ascending
        self._indexed = min_match  # positions below this are in ``_follows``

    def sync(self, output_ids: Seq[int]) -> None:
        """Take the output tokens emitted since the last call."""
        self.tokens.extend(output_ids[len(self.tokens) - self.prompt_len:])

    def propose(self, max_tokens: int) -> tuple[list[int], int]:
        """(draft, match length): what followed the longest (then most recent) earlier occurrence of the
        tokens' end; no draft without a match of ``min_match`` tokens."""
        tokens, n = self.tokens, self.min_match
        end = len(tokens)
        self._index(end)
        found = self._follows.get(tuple(tokens[end - n:])) if end > n else None
        if not found or max_tokens < 1:
            return [], 0
        best_at, best_len = 0, 0
        for at in reversed(found[-self.max_candidates:]):
            length = n
            while length < MAX_MATCH_TOKENS and at - length > 0 and tokens[at - length - 1] == tokens[end - length - 1]:
                length += 1
            if length > best_len:
                best_at, best_len = at, length
        return tokens[best_at:best_at + max_tokens], best_len

    def _index(self, end: int) -> None:
        """Index the n-grams followed by a token before ``end - 1`` (the last one has no continuation yet)."""
        tokens, n, follows = self.tokens, self.min_match, self._follows
        for at in range(self._indexed, end):
            follows.setdefault(tuple(tokens[at - n:at]), []).append(at)
        self._indexed = max(self._indexed, end)


class _Recent:
    """The median of the latest samples: a pass that warmed up a new shape, or ran while another program
    took the CPU, moves it little."""

    def __init__(self, size: int = 31) -> None:
        self.samples: deque[float] = deque(maxlen=size)
        self._median: float | None = None

    def add(self, sample: float) -> None:
        self.samples.append(sample)
        self._median = None

    @property
    def value(self) -> float:
        if self._median is None:
            self._median = statistics.median(self.samples)
        return self._median


class PassCost:
    """What k draft tokens add to a pass, relative to the pass without them: ``fixed + per_token * k`` (a
    pass with drafts may leave a faster one-token path, and then each token costs its share), fitted to the
    median extra time measured at each k, with the prior as one more point at each end."""

    def __init__(self, max_k: int, prior_fixed: float, prior_per_token: float) -> None:
        self.max_k, self.prior = max_k, (prior_fixed, prior_per_token)
        self.base_s: _Recent | None = None  # a pass without drafts
        self._extra: dict[int, _Recent] = {}  # k -> relative extra time of passes with k draft tokens
        self._fit: tuple[float, float] | None = self.prior

    def add(self, draft_tokens: int, seconds: float) -> None:
        if draft_tokens == 0:
            self.base_s = self.base_s or _Recent()
            self.base_s.add(seconds)
        elif self.base_s is not None:
            self._extra.setdefault(draft_tokens, _Recent()).add(seconds / self.base_s.value - 1.0)
            self._fit = None

    def extra(self, k: int) -> float:
        if self._fit is None:
            self._fit = self._solve()
        fixed, per_token = self._fit
        return fixed + per_token * k

    def _solve(self) -> tuple[float, float]:
        """Weighted least squares of extra = fixed + per_token * k (weights: samples per k)."""
        fixed, per_token = self.prior
        points = [(1, fixed + per_token, 1.0), (self.max_k, fixed + per_token * self.max_k, 1.0)]
        points += [(k, r.value, float(len(r.samples))) for k, r in self._extra.items()]
        w = sum(p[2] for p in points)
        mk, mr = sum(p[0] * p[2] for p in points) / w, sum(p[1] * p[2] for p in points) / w
        var = sum(p[2] * (p[0] - mk) ** 2 for p in points)
        slope = sum(p[2] * (p[0] - mk) * (p[1] - mr) for p in points) / var if var else per_token
        slope = max(slope, 0.0)
        return max(mr - slope * mk, 0.0), slope


@dataclass(slots=True)
class DraftPolicy:
    """How many draft tokens pay, from measurements: per match length, the chance that a draft token is
    accepted (a run-length estimate: accepted / (accepted + first rejections)); per number of sequences in a
    pass, what draft tokens add to its time (``PassCost``).

    A draft of k tokens accepted token by token with chance a yields (1 - a^(k+1)) / (1 - a) tokens for its
    sequence; beside n - 1 other sequences the pass then yields n - 1 + that, for 1 + extra(k) of the time.
    The policy takes the k that maximises the ratio, and 0 when none beats plain decoding; a match length it
    stopped drafting for is still tried now and then, so a change of content or of load is noticed.
    """

    max_draft: int
    adaptive: bool = True
    prior_fixed: float = 0.05  # optimistic, so drafting starts and gets measured
    prior_per_token: float = 0.1
    explore_every: int = 32
    _accepted: list[float] = field(default_factory=lambda: [1.0] * (MATCH_BUCKETS + 1))
    _checked: list[float] = field(default_factory=lambda: [2.0] * (MATCH_BUCKETS + 1))
    _skipped: list[int] = field(default_factory=lambda: [0] * (MATCH_BUCKETS + 1))
    _costs: dict[int, PassCost] = field(default_factory=dict)  # sequences in the pass -> its cost

    def acceptance(self, match_len: int) -> float:
        b = min(match_len, MATCH_BUCKETS)
        return self._accepted[b] / self._checked[b]

    def cost(self, seqs: int) -> PassCost:
        found = self._costs.get(seqs)
        if found is None:
            found = self._costs[seqs] = PassCost(self.max_draft, self.prior_fixed, self.prior_per_token)
        return found

    def draft_len(self, match_len: int, room: int, seqs: int) -> int:
        """Draft tokens to take from a match of ``match_len`` tokens, at most ``room``, in a pass of ``seqs``."""
        return self.draft_lens([(match_len, room)], seqs)[0]

    def draft_lens(self, offers: list[tuple[int, int]], seqs: int) -> list[int]:
        """Draft tokens for each ``(match length, room)`` offered in a pass of ``seqs`` sequences, chosen
        together: the pass's cost grows with all its draft tokens, so four sequences that each find one worth
        drafting alone may together make a pass that no longer pays (a batch past the kernels' rows falls to
        a slower product). Tokens are added where the next one is likeliest accepted (its chance: a^(k+1));
        the count kept is the one with the best tokens per unit of time, 0 when none beats plain decoding."""
        limits = [min(self.max_draft, room) if match_len >= 1 else 0 for match_len, room in offers]
        if not self.adaptive:
            return [max(0, limit) for limit in limits]
        chance = [min(self.acceptance(match_len), 0.999) for match_len, _ in offers]
        cost = self.cost(seqs)
        counts, best_counts, best = [0] * len(offers), [0] * len(offers), 1.0
        tokens, total = float(seqs), 0  # expected tokens of the pass; draft tokens in it
        while True:
            open_ = [i for i in range(len(offers)) if counts[i] < limits[i]]
            if not open_:
                break
            i = max(open_, key=lambda j: chance[j] ** (counts[j] + 1))
            tokens += chance[i] ** (counts[i] + 1)
            counts[i] += 1
            total += 1
            gain = tokens / (seqs * (1 + cost.extra(total)))
            if gain > best:
                best, best_counts = gain, list(counts)
        if not any(best_counts):
            for i, (match_len, _) in enumerate(offers):
                if limits[i] < 1:
                    continue
                b = min(match_len, MATCH_BUCKETS)
                self._skipped[b] += 1
                if self._skipped[b] % self.explore_every == 0:
                    best_counts[i] = max(1, limits[i] // 2)
        return best_counts

    def observe(self, match_len: int, drafted: int, accepted: int) -> None:
        """A draft of ``drafted`` tokens from a match of ``match_len`` had its first ``accepted`` accepted."""
        if drafted < 1:
            return
        b = min(match_len, MATCH_BUCKETS)
        decay = 0.95 ** drafted  # recent drafts count most: content changes along a trace
        self._accepted[b] = self._accepted[b] * decay + accepted
        self._checked[b] = self._checked[b] * decay + accepted + (accepted < drafted)

    def record_pass(self, seqs: int, draft_tokens: int, seconds: float) -> None:
        """A decode pass (no prefill) over ``seqs`` sequences with ``draft_tokens`` drafted took ``seconds``."""
        if seconds > 0 and seqs >= 1:
            self.cost(seqs).add(draft_tokens, seconds)


@dataclass(slots=True)
class _Draft:
    tokens: list[int]
    match_len: int


class Speculator:
    """The engine's side of speculation: drafts for the decoding sequences of a batch, and their verification."""

    def __init__(self, config: SpeculationConfig, context_tokens: int) -> None:
        self.config, self.context_tokens = config, context_tokens
        self.policy = DraftPolicy(config.max_draft_tokens, config.adaptive)
        self._lookups: dict[str, PromptLookup] = {}
        self._drafts: dict[str, _Draft] = {}

    def draft(self, batch: ScheduledBatch) -> None:
        """Append drafts to the batch's decode segments (in place; ``batch.drafts`` says how many per segment)."""
        decoding = [i for i, (seq, seg, flag) in enumerate(zip(batch.seqs, batch.segments, batch.sample))
                    if flag and seg.length == 1 and not seq.prefilling]
        live = {batch.seqs[i].id for i in decoding}
        for rid in [rid for rid in self._lookups if rid not in live]:  # finished or aborted since
            del self._lookups[rid]
        self._drafts.clear()
        counts = [0] * len(batch.segments)
        prefill = len(decoding) < len(batch.segments)
        offers: list[tuple[int, list[int], int, int]] = []  # segment, proposed tokens, match length, room
        for i in decoding:
            seq = batch.seqs[i]
            room = min(seq.params.max_tokens - len(seq.output_ids), self.context_tokens - seq.total_tokens) - 1
            if room < 1 or prefill:  # a pass with prefill is long anyway: no measurement, no drafts
                continue
            lookup = self._lookups.get(seq.id)
            if lookup is None:
                lookup = self._lookups[seq.id] = PromptLookup(seq.prompt_ids, self.config.min_match_tokens,
                                                              self.config.max_candidates)
            lookup.sync(seq.output_ids)
            tokens, match_len = lookup.propose(self.config.max_draft_tokens)
            if tokens:
                offers.append((i, tokens, match_len, min(room, len(tokens))))
        chosen = self.policy.draft_lens([(match_len, room) for _, _, match_len, room in offers], len(decoding))
        for (i, tokens, match_len, _), k in zip(offers, chosen):
            if k:
                self._drafts[batch.seqs[i].id] = _Draft(tokens[:k], match_len)
                counts[i] = k
        if any(counts):
            _insert(batch, counts, [self._drafts[s.id].tokens if counts[i] else [] for i, s in enumerate(batch.seqs)])

    def timed(self, batch: ScheduledBatch, seconds: float) -> None:
        """The step over ``batch`` took ``seconds``, from drafting to its tokens emitted (measures what a draft
        token costs)."""
        if all(flag and not seq.prefilling for seq, flag in zip(batch.seqs, batch.sample)):
            self.policy.record_pass(len(batch.seqs), sum(batch.drafts or ()), seconds)

    def verify(self, seq: Sequence, rows: Tensor, choose: Callable[[Sequence, Tensor], int | Exception],
               emit: Callable[[Sequence, int | Exception], object]) -> list:
        """Emit ``seq``'s tokens from its logits ``rows`` [1 + draft, V]: row j decides token j (``choose``: the
        plain step's constraint and sampler on one row), and the next row counts only while the decided
        tokens equal the draft. ``emit`` is the plain step's per-token handling (it returns the event).
        ``seq.num_cached`` must count the token fed before the draft; it grows by each accepted draft token."""
        draft = self._drafts.get(seq.id)
        tokens = draft.tokens if draft is not None else []
        events, accepted = [], 0
        for j in range(len(tokens) + 1):
            token = choose(seq, rows[j:j + 1])
            event = emit(seq, token)
            events.append(event)
            if getattr(event, "finish_reason", None) or j == len(tokens) or token != tokens[j]:
                break
            accepted += 1
            seq.num_cached += 1  # the draft token's keys and values, computed in this pass, are valid
        if draft is not None:
            self.policy.observe(draft.match_len, len(tokens), accepted)
            seq.metrics.draft_tokens += len(tokens)
            seq.metrics.accepted_draft_tokens += accepted
        return events


def _insert(batch: ScheduledBatch, counts: list[int], drafts: list[list[int]]) -> None:
    """Rebuild ``batch``'s segments and flat tokens with ``drafts[i]`` after segment i's tokens."""
    tokens, offset = [], 0
    for i, seg in enumerate(batch.segments):
        tokens.extend(batch.tokens[offset:offset + seg.length])
        offset += seg.length
        if counts[i]:
            tokens.extend(drafts[i])
            batch.segments[i] = Segment(seg.slot, seg.start, seg.length + counts[i])
    batch.tokens[:] = tokens
    batch.drafts = counts
