"""Which cache slot a new request gets, and how much of its prompt is already cached there.

A slot remembers the tokens whose keys/values it holds, also after its sequence finished. A new request
takes the slot whose tokens share the longest prefix with its prompt (the same document, a follow-up
question): a free one is resumed in place; a busy one (another request reading the same document right
now) is copied into a free slot. Free slots are reused least-recently-used first, which is the eviction
policy: the number of slots times the context is the KV budget the precision plan sized.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

MIN_REUSE_TOKENS = 16  # shorter matches (a chat template's first tokens) are not worth tracking


@dataclass(frozen=True, slots=True)
class SlotGrant:
    slot: int
    cached_tokens: int  # prompt tokens whose KV is valid in ``slot`` once ``copy_from`` (if any) is copied
    copy_from: int | None = None  # a busy slot holding the prefix, to copy into ``slot``


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix (binary search over C-speed slice comparisons)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class SlotPool:
    def __init__(self, num_slots: int, min_reuse: int = MIN_REUSE_TOKENS) -> None:
        self.num_slots, self.min_reuse = num_slots, min_reuse
        self._free: OrderedDict[int, list[int]] = OrderedDict((s, []) for s in range(num_slots))  # LRU first

    @property
    def free_count(self) -> int:
        return len(self._free)

    def cached_tokens(self) -> int:
        """Tokens held by free slots (kept for reuse)."""
        return sum(len(t) for t in self._free.values())

    def acquire(self, prompt: list[int], busy: dict[int, list[int]]) -> SlotGrant | None:
        """A slot for ``prompt`` (None if all are busy). ``busy`` maps running slots to their cached tokens."""
        if not self._free:
            return None
        limit = len(prompt) - 1  # at least one prompt token is always computed, to produce logits
        free = {slot: min(common_prefix(tokens, prompt), limit) for slot, tokens in self._free.items()}
        best_free = max(free, key=free.__getitem__)
        free_match = free[best_free]
        best_busy, busy_match = None, 0
        for slot, tokens in busy.items():
            m = min(common_prefix(tokens, prompt), limit)
            if m > busy_match:
                best_busy, busy_match = slot, m
        if free_match >= self.min_reuse and free_match >= busy_match:
            del self._free[best_free]
            return SlotGrant(best_free, free_match)
        slot, _ = self._free.popitem(last=False)  # least recently used
        if busy_match >= self.min_reuse:
            return SlotGrant(slot, busy_match, copy_from=best_busy)
        return SlotGrant(slot, 0)

    def release(self, slot: int, tokens: list[int]) -> None:
        """Return a slot, remembering the tokens whose KV it holds (most recently used last)."""
        self._free[slot] = list(tokens)
        self._free.move_to_end(slot)
