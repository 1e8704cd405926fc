"""The llama.cpp comparison's preparation (``core.bench.llama_cpp``): what llama.cpp's converter is given.

The converter refuses a checkpoint whose tokenizer has ids past the config's vocab_size (R1-Distill's tokenizer
does: the benchmark's 1.5B checkpoint has 151,936 rows); it gets a copy whose embedding and output rows are
padded with zeros, every other tensor the same bytes, so both engines run the same weights.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from core.bench.llama_cpp import GGUF_TYPES, _convertible, find_converter
from tests.checkpoints import R1_TOKENIZER, random_checkpoint

pytest.importorskip("transformers")


def test_the_converter_gets_rows_for_every_token_id_and_the_same_weights(tmp_path):
    folder = random_checkpoint(tmp_path / "m", "qwen2", seed=1, vocab_size=151936, tokenizer=R1_TOKENIZER,
                               tie_word_embeddings=False)
    source = _convertible(folder)
    assert source != folder and _convertible(folder) == source  # made once
    rows = json.loads((source / "config.json").read_text())["vocab_size"]
    assert rows > 151936
    before, after = load_file(str(folder / "model.safetensors")), load_file(str(source / "model.safetensors"))
    assert before.keys() == after.keys()
    for name, tensor in before.items():
        if name in ("model.embed_tokens.weight", "lm_head.weight"):
            assert after[name].shape == (rows, tensor.shape[1]) and torch.equal(after[name][:151936], tensor)
            assert not after[name][151936:].any()
        else:
            assert torch.equal(after[name], tensor)


def test_widths_and_the_converter_beside_the_binary(tmp_path):
    assert GGUF_TYPES == {"bf16": "bf16", "fp16": "f16", "int8": "q8_0", "int4": "q4_0"}
    (tmp_path / "convert_hf_to_gguf.py").write_text("")
    binary = tmp_path / "build" / "bin" / "llama-bench"
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    assert find_converter(binary) == tmp_path / "convert_hf_to_gguf.py"
