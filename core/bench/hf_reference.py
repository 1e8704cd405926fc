"""HF transformers on the same checkpoint and dtype, timed the same way, for side-by-side numbers.

Its best case is measured: a hand-written greedy loop over ``model(...)`` with the KV cache (no
``generate`` overhead), SDPA attention, and logits only for the last prompt token in prefill.
transformers is a development dependency only; without it these numbers are simply absent.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch


class HFReference:
    def __init__(self, model_dir: Path, dtype: torch.dtype) -> None:
        from transformers import AutoModelForCausalLM

        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, attn_implementation="sdpa").eval()

    @torch.inference_mode()
    def prefill_s(self, tokens: list[int]) -> float:
        ids = torch.tensor([tokens])
        start = time.perf_counter()
        out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        int(out.logits[0, -1].argmax())
        return time.perf_counter() - start

    @torch.inference_mode()
    def decode_tokens_per_s(self, prompt: list[int], n_tokens: int) -> float:
        out = self.model(input_ids=torch.tensor([prompt]), use_cache=True, logits_to_keep=1)
        past, token = out.past_key_values, int(out.logits[0, -1].argmax())
        start = time.perf_counter()
        for _ in range(n_tokens):
            out = self.model(input_ids=torch.tensor([[token]]), past_key_values=past, use_cache=True)
            past, token = out.past_key_values, int(out.logits[0, -1].argmax())
        return n_tokens / (time.perf_counter() - start)
