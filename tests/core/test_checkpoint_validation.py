"""Weights that would load silently before (issue 27, points 6 and 7): NaN/Inf values, duplicate names,
overlapping or hidden bytes, a huge header, a FIFO named ``*.safetensors``; and the Hugging Face cache
layout, whose shards are symlinks into ``blobs/``, accepted when its links stay inside the cache folder."""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from core.bench.random_checkpoint import write_random_checkpoint
from core.models.checkpoint import MAX_HEADER_BYTES, CheckpointError, find_tensors
from core.models.loader import load_model
from tests.checkpoints import random_checkpoint, tiny_config

pytestmark = pytest.mark.timeout(60)
NAME = "model.layers.1.mlp.down_proj.weight"


@pytest.fixture
def ckpt(tmp_path) -> Path:
    return random_checkpoint(tmp_path / "m", "qwen2", seed=3)


def split(path: Path) -> tuple[bytes, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return raw[8:8 + n], raw[8 + n:]


def write(path: Path, header: bytes, data: bytes) -> None:
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)


# --- point 6: NaN and infinite weights ---------------------------------------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8", "int4"])
def test_non_finite_weights_are_refused_naming_the_tensor(ckpt, value, precision):
    path = ckpt / "model.safetensors"
    tensors = load_file(path)
    tensors[NAME][37, 11] = value  # one value among 10,240: a sample would miss it, the sum does not
    save_file(tensors, path)
    with pytest.raises(CheckpointError, match=rf"tensor '{NAME}' holds NaN or infinite values \(row 37\)"):
        load_model(ckpt, precision)


def test_a_non_finite_bias_of_a_stacked_projection_names_its_own_tensor(tmp_path):
    folder = random_checkpoint(tmp_path / "b", "qwen2", seed=1, attention_bias=True)
    tensors = load_file(folder / "model.safetensors")
    tensors["model.layers.0.self_attn.v_proj.bias"][3] = float("nan")
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"'model\.layers\.0\.self_attn\.v_proj\.bias' holds NaN .*row 3\)"):
        load_model(folder)


def test_finite_weights_still_load(ckpt):
    assert load_model(ckpt, "bf16").weights_bytes > 0


# --- point 7: the header, checked before anything is allocated ----------------------------------------------
def test_a_name_given_twice_is_refused(ckpt):
    path = ckpt / "model.safetensors"
    header, data = split(path)
    entries = json.loads(header)
    duplicate = json.dumps({"model.norm.weight": entries["model.norm.weight"]})[1:-1]
    write(path, header.rstrip()[:-1] + b", " + duplicate.encode() + b"}", data)  # JSON keeps the last one silently
    with pytest.raises(CheckpointError, match="'model.norm.weight' appears twice"):
        find_tensors(ckpt)


def test_an_escaped_duplicate_is_the_same_name(ckpt):
    path = ckpt / "model.safetensors"
    header, data = split(path)
    entries = json.loads(header)
    duplicate = json.dumps({"model.norm.weight": entries["model.norm.weight"]})[1:-1].replace("norm", "n\\u006frm")
    write(path, header.rstrip()[:-1] + b", " + duplicate.encode() + b"}", data)
    with pytest.raises(CheckpointError, match="'model.norm.weight' appears twice"):
        find_tensors(ckpt)


def test_tensors_sharing_bytes_are_refused(ckpt):
    path = ckpt / "model.safetensors"
    header, data = split(path)
    entries = json.loads(header)
    a, b = "model.layers.0.input_layernorm.weight", "model.layers.1.input_layernorm.weight"
    entries[b]["data_offsets"] = entries[a]["data_offsets"]  # one write would change both
    write(path, json.dumps(entries).encode(), data)
    with pytest.raises(CheckpointError, match="overlap in the file"):
        find_tensors(ckpt)


def test_trailing_bytes_are_refused(ckpt):
    path = ckpt / "model.safetensors"
    with path.open("ab") as f:
        f.write(b"#!/bin/sh\necho hidden payload\n")
    with pytest.raises(CheckpointError, match=r"30 bytes after the last tensor belong to no tensor"):
        find_tensors(ckpt)


def test_a_hole_between_tensors_is_refused(ckpt):
    path = ckpt / "model.safetensors"
    header, data = split(path)
    entries = json.loads(header)
    last = max((k for k in entries if k != "__metadata__"), key=lambda k: entries[k]["data_offsets"][1])
    begin, end = entries[last]["data_offsets"]
    entries[last]["data_offsets"] = [begin + 4, end + 4]
    write(path, json.dumps(entries).encode(), data + b"\0" * 4)
    with pytest.raises(CheckpointError, match=rf"4 bytes before tensor '{last}' belong to no tensor"):
        find_tensors(ckpt)


def test_a_huge_header_is_refused_without_reading_it(ckpt):
    path = ckpt / "model.safetensors"
    declared = 95 * 10**6
    with path.open("wb") as f:  # sparse: 95 MB of header the loader must not parse
        f.write(struct.pack("<Q", declared) + b"{")
        f.truncate(8 + declared + 1024)
    started = time.monotonic()
    with pytest.raises(CheckpointError, match=rf"its header is {declared:,} bytes, more than the "
                                              rf"{MAX_HEADER_BYTES:,}"):
        find_tensors(ckpt)
    assert time.monotonic() - started < 5


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
@pytest.mark.parametrize("name", ["model.safetensors", "weights.safetensors"])
def test_a_fifo_named_safetensors_is_refused_not_waited_on(ckpt, name):
    (ckpt / "model.safetensors").unlink()
    os.mkfifo(ckpt / name)
    with pytest.raises(CheckpointError, match=rf"{name}: is a FIFO, not a weights file"):
        find_tensors(ckpt)


# --- point 7: the Hugging Face cache layout -----------------------------------------------------------------
def hf_cache(tmp_path: Path) -> Path:
    """``models--org--tiny/snapshots/<rev>/`` whose files are symlinks into ``../../blobs/`` (as the hub writes)."""
    source = write_random_checkpoint(tmp_path / "src", tiny_config("qwen2"), seed=3, max_shard_bytes=200_000)
    repo = tmp_path / "hub" / "models--org--tiny"
    snapshot, blobs = repo / "snapshots" / "0123abc", repo / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    for index, file in enumerate(sorted(source.iterdir())):
        blob = blobs / f"{index:040x}"
        shutil.copy(file, blob)
        (snapshot / file.name).symlink_to(Path("..", "..", "blobs", blob.name))
    return snapshot


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_a_sharded_model_in_the_hf_cache_layout_loads(tmp_path):
    snapshot = hf_cache(tmp_path)
    assert len(list(snapshot.glob("model-*-of-*.safetensors"))) >= 3
    loaded = load_model(snapshot)
    reference = load_model(write_random_checkpoint(tmp_path / "plain", tiny_config("qwen2"), seed=3))
    assert torch.equal(loaded.model.embed_tokens.weight, reference.model.embed_tokens.weight)


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_a_cache_link_out_of_the_cache_folder_is_refused(tmp_path):
    snapshot = hf_cache(tmp_path)
    shard = sorted(snapshot.glob("model-*.safetensors"))[0]
    outside = tmp_path / "elsewhere.safetensors"
    shutil.copy(shard.resolve(), outside)
    shard.unlink()
    shard.symlink_to(outside)
    with pytest.raises(CheckpointError, match=f"shard path '{shard.name}' leaves the model folder"):
        load_model(snapshot)


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_outside_a_cache_a_link_may_not_leave_the_model_folder(ckpt, tmp_path):
    weights = ckpt / "model.safetensors"
    moved = tmp_path / "blobs" / "model.safetensors"
    moved.parent.mkdir()
    shutil.move(weights, moved)
    weights.symlink_to(moved)
    with pytest.raises(CheckpointError, match="model.safetensors leaves the model folder"):
        find_tensors(ckpt)
