"""Safetensors checkpoints on disk: find the files, validate every header, stream rows of a tensor.

Why not ``safetensors.safe_open``: it memory-maps the file, and every page it touches counts towards the
process's resident memory until the map is closed, so converting a bf16 checkpoint to fp32 would peak at
file + model. Reading rows with plain ``readinto`` into the final buffers keeps the peak near the model's
size. The format itself is simple (an 8-byte length, a JSON header, raw little-endian data) and we
validate all of it up front, as the reference implementation does, so a bad file fails with its name before
anything large is allocated: regular files only (a FIFO or a device named ``*.safetensors`` would block or
never end), a header of at most ``MAX_HEADER_BYTES``, no duplicate names (escaped duplicates decode to the
same name), and tensor data that tiles the data section exactly (no overlap, no hole, no trailing bytes).
Weight files may be symlinks that stay inside the model folder, or, in the Hugging Face cache layout
(``models--org--name/snapshots/<rev>/`` linking into ``../../blobs/``), inside the repository's cache folder.
Only safetensors is ever read: pickled checkpoints can execute code and are refused.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch

MAX_HEADER_BYTES = 16 * 1024 * 1024  # ~100,000 tensors; real headers are kilobytes (the format allows 100 MB)
MAX_DIMS = 16
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

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.torch_dtype.itemsize


def find_tensors(model_dir: str | Path) -> dict[str, TensorInfo]:
    """All tensors of the checkpoint in ``model_dir`` (single file or sharded), headers validated."""
    root = Path(model_dir).resolve()
    index = root / "model.safetensors.index.json"
    if index.is_file():
        files = _shards_from_index(index, root)
    elif (root / "model.safetensors").exists():
        files = [_inside(root / "model.safetensors", root, "model.safetensors")]
    else:
        files = [_inside(p, root, p.name) for p in sorted(root.glob("*.safetensors"))]
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
                raise CheckpointError(f"{path.name}: tensor {info.name!r} also appears in "
                                      f"{tensors[info.name].path.name}")
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
        if not isinstance(name, str) or os.path.isabs(name) or Path(name).name != name or name in (".", ".."):
            raise CheckpointError(f"{index.name}: shard path {name!r} leaves the model folder; refusing to read it")
        path = root / name
        if not path.exists():
            raise CheckpointError(f"{index.name}: shard {name} is missing from {root}; download it again")
        shards.append(_inside(path, root, f"{index.name}: shard path {name!r}"))
    return shards


def _cache_folder(root: Path) -> Path:
    """Where the model's files may really live: the repository folder of a Hugging Face cache snapshot
    (``models--org--name`` above ``snapshots/<rev>``, whose ``blobs/`` hold the data), else the folder itself."""
    if root.parent.name == "snapshots" and root.parent.parent.name.startswith(("models--", "datasets--")):
        return root.parent.parent
    return root


def _inside(path: Path, root: Path, what: str) -> Path:
    """``path`` (in ``root``) if it, or what its symlinks lead to, stays inside the model's folder."""
    target = path.resolve()
    allowed = _cache_folder(root)
    if target != allowed and allowed not in target.parents:
        raise CheckpointError(f"{what} leaves the model folder (it links to {target}); refusing to read it")
    return path


def _open_regular(path: Path) -> BinaryIO:
    """Open for reading only if it is a regular file: a FIFO would block the open itself (hence O_NONBLOCK,
    which regular files ignore), a device would never end."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else \
                "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise CheckpointError(f"{path.name}: is {kind}, not a weights file; replace it with the model's "
                                  ".safetensors file")
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's members, refusing a name given twice (also spelled differently: "a\\u0062" is "ab")."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def read_header(path: Path) -> list[TensorInfo]:
    """Parse and validate one file's header against its size; no tensor data is read."""
    try:
        with _open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path.name}: file is truncated ({size} bytes); download it again")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
                if head[:2] == b"PK" or head[:1] == b"\x80":
                    raise CheckpointError(f"{path.name}: this is a pickle/zip file, not safetensors; Ponder refuses "
                                          "to load pickles because they can run code")
                if 8 + header_len <= size:
                    raise CheckpointError(f"{path.name}: its header is {header_len:,} bytes, more than the "
                                          f"{MAX_HEADER_BYTES:,} Ponder reads (real headers are kilobytes); the file "
                                          "is damaged or was crafted, download it again")
                raise CheckpointError(f"{path.name}: corrupt header (declares {header_len} bytes in a {size}-byte "
                                      "file); the file is damaged or truncated, download it again")
            raw = _read_exactly(f, header_len)
    except OSError as exc:
        raise CheckpointError(f"{path.name}: cannot read ({exc})") from exc
    if len(raw) < header_len:
        raise CheckpointError(f"{path.name}: file is truncated inside its header; download it again")
    try:
        header = json.loads(raw, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise CheckpointError(f"{path.name}: corrupt header, the name {exc.key!r} appears twice; the file is damaged "
                              "or was crafted, download it again") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
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
        if (len(shape) > MAX_DIMS or any(d < 0 for d in shape) or not (type(begin) is int and type(end) is int)
                or not 0 <= begin <= end):
            raise CheckpointError(f"{path.name}: tensor {name!r} has a malformed shape or offsets")
        expected = math.prod(shape) * DTYPES[dtype].itemsize
        if end - begin != expected:
            raise CheckpointError(f"{path.name}: tensor {name!r} declares shape {list(shape)} ({expected} bytes) "
                                  f"but {end - begin} bytes of data; the file is corrupt")
        if end > data_size:
            raise CheckpointError(f"{path.name}: tensor {name!r} ends at byte {data_start + end} but the file has "
                                  f"only {size} bytes; the file is truncated, download it again")
        infos.append(TensorInfo(name, path, dtype, shape, data_start + begin))
    _check_tiling(path, infos, data_start, data_size)
    return infos


def _check_tiling(path: Path, infos: list[TensorInfo], data_start: int, data_size: int) -> None:
    """The tensors' bytes cover the data section exactly once: no two tensors share bytes (one write would
    change both), no hole, and nothing after the last tensor (a file with hidden extra content)."""
    position, previous = 0, None
    for info in sorted(infos, key=lambda i: (i.offset, i.offset + i.nbytes)):
        begin, end = info.offset - data_start, info.offset - data_start + info.nbytes
        if begin < position:
            raise CheckpointError(f"{path.name}: tensors {previous!r} and {info.name!r} overlap in the file (bytes "
                                  f"{begin} to {position}); the file is damaged or was crafted, download it again")
        if begin > position:
            raise CheckpointError(f"{path.name}: {begin - position} bytes before tensor {info.name!r} belong to no "
                                  "tensor; the file is damaged, download it again")
        position, previous = end, info.name
    if position != data_size:
        raise CheckpointError(f"{path.name}: {data_size - position} bytes after the last tensor belong to no tensor; "
                              "the file is damaged or was crafted, download it again")


def _read_exactly(f: BinaryIO, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


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
            f = self._files[info.path] = _open_regular(info.path)
        f.seek(info.offset + row_start * info.row_bytes)
        view = memoryview((ctypes.c_char * nbytes).from_address(dst.data_ptr())).cast("B")
        got = 0
        while got < nbytes:
            n = f.readinto(view[got:])
            if not n:
                raise CheckpointError(f"{info.path.name}: tensor {info.name!r} is truncated; download the file again")
            got += n
