"""Safetensors checkpoints on disk: find the files, validate every header, stream rows of a tensor.

Why not ``safetensors.safe_open``: it memory-maps the file, and every page it touches counts towards the
process's resident memory until the map is closed, so converting a bf16 checkpoint to fp32 would peak at
file + model. Reading rows with plain ``readinto`` into the final buffers keeps the peak near the model's
size. The format itself is simple (an 8-byte length, a JSON header, raw little-endian data) and we
validate all of it up front, so a bad file fails with its name before anything large is allocated.
Only safetensors is ever read: pickled checkpoints can execute code and are refused.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

MAX_HEADER_BYTES = 100 * 1024 * 1024
DTYPES: dict[str, torch.dtype] = {
    "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
FLOAT_DTYPES = ("F32", "F16", "BF16")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


class CheckpointError(ValueError):
    """The checkpoint cannot be loaded; the message names the file (and tensor) and what to do."""


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    path: Path
    dtype: str  # safetensors dtype code, e.g. "BF16"
    shape: tuple[int, ...]
    offset: int  # absolute byte offset of the data in the file

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def row_bytes(self) -> int:
        return math.prod(self.shape[1:]) * self.torch_dtype.itemsize


def find_tensors(model_dir: str | Path) -> dict[str, TensorInfo]:
    """All tensors of the checkpoint in ``model_dir`` (single file or sharded), headers validated."""
    root = Path(model_dir).resolve()
    index = root / "model.safetensors.index.json"
    if index.is_file():
        files = _shards_from_index(index, root)
    elif (root / "model.safetensors").is_file():
        files = [root / "model.safetensors"]
    else:
        files = sorted(root.glob("*.safetensors"))
    if not files:
        pickles = sorted(p.name for p in root.iterdir() if p.suffix in PICKLE_SUFFIXES) if root.is_dir() else []
        if pickles:
            raise CheckpointError(
                f"{root}: only pickle checkpoints found ({', '.join(pickles[:3])}); Ponder loads safetensors only, "
                "because pickle files can run arbitrary code. Download the model's .safetensors files, or convert "
                "them with a tool you trust.")
        raise CheckpointError(f"{root}: no model.safetensors or model.safetensors.index.json found")
    tensors: dict[str, TensorInfo] = {}
    for path in files:
        for info in read_header(path):
            if info.name in tensors:
                raise CheckpointError(f"{path.name}: tensor {info.name!r} also appears in {tensors[info.name].path.name}")
            tensors[info.name] = info
    return tensors


def _shards_from_index(index: Path, root: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        names = sorted(set(weight_map.values()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{index.name}: not a valid safetensors index ({exc})") from exc
    shards = []
    for name in names:
        if not isinstance(name, str) or os.path.isabs(name) or Path(name).name != name:
            raise CheckpointError(f"{index.name}: shard path {name!r} leaves the model folder; refusing to read it")
        path = (root / name).resolve()
        if path.parent != root:
            raise CheckpointError(f"{index.name}: shard path {name!r} leaves the model folder; refusing to read it")
        if not path.is_file():
            raise CheckpointError(f"{index.name}: shard {name} is missing from {root}; download it again")
        shards.append(path)
    return shards


def read_header(path: Path) -> list[TensorInfo]:
    """Parse and validate one file's header against its size; no tensor data is read."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path.name}: file is truncated ({size} bytes); download it again")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
                if head[:2] == b"PK" or head[:1] == b"\x80":
                    raise CheckpointError(f"{path.name}: this is a pickle/zip file, not safetensors; Ponder refuses "
                                          "to load pickles because they can run code")
                raise CheckpointError(f"{path.name}: corrupt header (declares {header_len} bytes in a {size}-byte "
                                      "file); the file is damaged or truncated, download it again")
            raw = f.read(header_len)
    except OSError as exc:
        raise CheckpointError(f"{path.name}: cannot read ({exc})") from exc
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path.name}: corrupt header, not valid JSON ({exc}); download the file again") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name}: corrupt header (not a JSON object)")
    data_start, data_size = 8 + header_len, size - 8 - header_len
    infos = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            shape = tuple(int(d) for d in shape)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path.name}: tensor {name!r} has a malformed header entry") from exc
        if dtype not in DTYPES:
            raise CheckpointError(f"{path.name}: tensor {name!r} has unsupported dtype {dtype!r}")
        if any(d < 0 for d in shape) or not (isinstance(begin, int) and isinstance(end, int)) or not 0 <= begin <= end:
            raise CheckpointError(f"{path.name}: tensor {name!r} has a malformed shape or offsets")
        expected = math.prod(shape) * DTYPES[dtype].itemsize
        if end - begin != expected:
            raise CheckpointError(f"{path.name}: tensor {name!r} declares shape {list(shape)} ({expected} bytes) "
                                  f"but {end - begin} bytes of data; the file is corrupt")
        if end > data_size:
            raise CheckpointError(f"{path.name}: tensor {name!r} ends at byte {data_start + end} but the file has "
                                  f"only {size} bytes; the file is truncated, download it again")
        infos.append(TensorInfo(name, path, dtype, shape, data_start + begin))
    return infos


class RowReader:
    """Reads row ranges of tensors straight into torch buffers with ``readinto`` (no mmap, no copies)."""

    def __init__(self) -> None:
        self._files: dict[Path, object] = {}

    def __enter__(self) -> "RowReader":
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def read_into(self, info: TensorInfo, dst: torch.Tensor, row_start: int = 0) -> None:
        """Fill the contiguous CPU tensor ``dst`` (same dtype as the file) with rows from ``row_start``."""
        if dst.dtype != info.torch_dtype or not dst.is_contiguous() or dst.device.type != "cpu":
            raise ValueError("read_into needs a contiguous CPU tensor of the file's dtype")
        nbytes = dst.numel() * dst.element_size()
        if nbytes == 0:
            return
        f = self._files.get(info.path)
        if f is None:
            f = self._files[info.path] = open(info.path, "rb", buffering=0)
        f.seek(info.offset + row_start * info.row_bytes)
        view = memoryview((ctypes.c_char * nbytes).from_address(dst.data_ptr())).cast("B")
        got = 0
        while got < nbytes:
            n = f.readinto(view[got:])
            if not n:
                raise CheckpointError(f"{info.path.name}: tensor {info.name!r} is truncated; download the file again")
            got += n
