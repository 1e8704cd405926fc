"""A document's KV cache kept on disk: the second time a document is asked about, even after a restart, its
prompt is read back instead of computed.

After a long prompt's prefill (``min_tokens`` or more), the keys and values of its tokens are written to one
safetensors file: the prompt's token ids and, per layer, ``[2*KVH, n, D]``. A new request whose prompt shares
a longer prefix with a saved prompt than with any cache slot gets that prefix copied into its slot
(``restore``): the same document with another question, or a follow-up, skips its prefill.

Files live in a folder per model and precision (``model_key``: the model's config, the sizes of its weight
files and samples of their bytes, the precision, the KV dtype and layout), named by the hash of their token
ids. Their total size is capped: the least recently used go first (a restore touches its file). A file that
does not read back as written (truncated, edited, another layout) is skipped with a log line and removed; it
is never loaded (a checksum of its bytes is kept with it). Writes go to a temporary name first and are renamed into place, on a thread of their own,
from a copy taken on the engine thread, so a pass never waits for the disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from core.engine.kv_cache import KVCache
from core.engine.prefix_cache import common_prefix

log = logging.getLogger(__name__)

FORMAT = "ponder-kv-1"
_SAMPLES = 8  # byte samples per weight file in the model key
_SAMPLE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class DiskCacheConfig:
    folder: Path  # the cache's root; each model and precision has a folder inside
    model_key: str  # ``model_key(model_dir, precision)``
    max_bytes: int = 4 * 2**30
    min_tokens: int = 1024  # prompts (or the part of one not already cached) shorter than this are not saved

    def __post_init__(self) -> None:
        if self.max_bytes < 0 or self.min_tokens < 2:
            raise ValueError(f"invalid disk cache config {self}")


def model_key(model_dir: Path, precision: str) -> str:
    """What the saved keys and values depend on: the model (config, weight files' sizes and sampled bytes, so a
    fine-tune of the same shape differs) and the precision; cheap for a model of any size."""
    h = hashlib.sha256(f"{FORMAT}|{precision}".encode())
    model_dir = Path(model_dir)
    config = model_dir / "config.json"
    h.update(config.read_bytes() if config.is_file() else b"")
    for path in sorted(model_dir.glob("*.safetensors")):
        size = path.stat().st_size
        h.update(f"|{path.name}:{size}".encode())
        with path.open("rb") as f:
            for i in range(_SAMPLES):
                f.seek(size * i // _SAMPLES)
                h.update(f.read(_SAMPLE_BYTES))
    return h.hexdigest()[:24]


@dataclass(slots=True)
class _Entry:
    path: Path
    tokens: list[int]
    size: int


class DiskPrefixCache:
    """Saved prompts of one model and precision, and their keys and values."""

    def __init__(self, config: DiskCacheConfig, cache: KVCache) -> None:
        self.config, self.cache = config, cache
        self.folder = Path(config.folder) / config.model_key
        self.layout = {"format": FORMAT, "layers": str(len(cache.kv)), "kv_heads": str(cache.num_kv_heads),
                       "head_dim": str(cache.head_dim), "dtype": str(cache.dtype).removeprefix("torch.")}
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()  # the writer thread adds entries
        self._writers: list[threading.Thread] = []
        self.restored_tokens = 0  # since start, for the stats
        self._scan()

    # --- lookup and restore (engine thread) -----------------------------------------------------------------
    def restore(self, slot: int, prompt: list[int], cached: int) -> int:
        """Copy into ``slot`` the longest saved prefix of ``prompt`` if it beats the ``cached`` tokens the slot
        already holds; the prompt tokens now cached there (at least one is always left to compute)."""
        limit = len(prompt) - 1
        with self._lock:
            entries = list(self._entries.values())
        best, best_len = None, cached
        for entry in entries:
            n = min(common_prefix(entry.tokens, prompt), limit)
            if n > best_len:
                best, best_len = entry, n
        if best is None:
            return cached
        try:
            self._read_into(best, slot, best_len)
        except Exception as exc:  # noqa: BLE001 - a bad file must never cost the request
            log.warning("ignoring the saved KV cache %s: %s", best.path.name, exc)
            self._drop(best)
            return cached
        os.utime(best.path)  # most recently used
        self.restored_tokens += best_len
        log.info("read %d prompt tokens' keys and values from %s", best_len, best.path.name)
        return best_len

    def _read_into(self, entry: _Entry, slot: int, n: int) -> None:
        with safe_open(entry.path, framework="pt") as f:
            meta = f.metadata() or {}
            layers = [f.get_tensor(f"kv.{i}") for i in range(len(self.cache.kv))]
            tokens = f.get_tensor("tokens")
        if {k: meta.get(k) for k in self.layout} != self.layout:
            raise ValueError("saved for another layout")
        if meta.get("digest") != _digest([*layers, tokens]) or tokens.tolist() != entry.tokens:
            raise ValueError("its contents changed since it was written")
        for kv, saved in zip(self.cache.kv, layers):  # all checked before any is copied into the slot
            if tuple(saved.shape) != (kv.shape[1], len(entry.tokens), kv.shape[3]) or saved.dtype != kv.dtype:
                raise ValueError(f"a layer of shape {tuple(saved.shape)}, {saved.dtype}")
        for kv, saved in zip(self.cache.kv, layers):
            kv[slot, :, :n] = saved[:, :n]

    # --- save (a copy on the engine thread, the write on another) ---------------------------------------------
    def save(self, slot: int, tokens: list[int]) -> None:
        """Keep the keys and values of ``tokens`` (the first ``len(tokens)`` positions of ``slot``)."""
        n = len(tokens)
        if n < self.config.min_tokens or self.config.max_bytes == 0:
            return
        name = hashlib.sha256(json.dumps(tokens).encode()).hexdigest()[:32] + ".safetensors"
        with self._lock:
            if name in self._entries:
                return
        tensors = {f"kv.{i}": kv[slot, :, :n].clone() for i, kv in enumerate(self.cache.kv)}
        tensors["tokens"] = torch.tensor(tokens, dtype=torch.int64)
        writer = threading.Thread(target=self._write, args=(name, tokens, tensors), name="kv-disk-writer", daemon=True)
        self._writers = [w for w in self._writers if w.is_alive()] + [writer]
        writer.start()

    def flush(self) -> None:
        """Wait for the writes started so far (tests, shutdown)."""
        for w in self._writers:
            w.join()

    def _write(self, name: str, tokens: list[int], tensors: dict[str, torch.Tensor]) -> None:
        path = self.folder / name
        tmp = path.with_suffix(".tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            digest = _digest([*(tensors[f"kv.{i}"] for i in range(len(self.cache.kv))), tensors["tokens"]])
            save_file(tensors, str(tmp), metadata={**self.layout, "tokens": str(len(tokens)), "digest": digest})
            os.replace(tmp, path)
        except Exception as exc:  # noqa: BLE001 - a full disk or an odd folder costs the saving, nothing else
            log.warning("could not save a prompt's KV cache to %s: %s", self.folder, exc)
            tmp.unlink(missing_ok=True)
            return
        with self._lock:
            self._entries[name] = _Entry(path, tokens, path.stat().st_size)
        self._evict()

    # --- the folder -----------------------------------------------------------------------------------------
    def _scan(self) -> None:
        if not self.folder.is_dir():
            return
        for path in self.folder.glob("*.safetensors"):
            try:
                with safe_open(path, framework="pt") as f:
                    meta = f.metadata() or {}
                    tokens = f.get_tensor("tokens").tolist()
                if {k: meta.get(k) for k in self.layout} != self.layout or meta.get("tokens") != str(len(tokens)):
                    raise ValueError("saved for another layout")
            except Exception as exc:  # noqa: BLE001 - corrupt or foreign: skipped, never loaded
                log.warning("ignoring the saved KV cache %s: %s", path.name, exc)
                path.unlink(missing_ok=True)
                continue
            self._entries[path.name] = _Entry(path, tokens, path.stat().st_size)
        for tmp in self.folder.glob("*.tmp"):  # a write cut short
            tmp.unlink(missing_ok=True)
        self._evict()

    def _evict(self) -> None:
        """Remove the least recently used files until the folder is within its cap."""
        with self._lock:
            entries = sorted(self._entries.values(), key=lambda e: _mtime(e.path))
            total = sum(e.size for e in entries)
            while entries and total > self.config.max_bytes:
                oldest = entries.pop(0)
                total -= oldest.size
                del self._entries[oldest.path.name]
                oldest.path.unlink(missing_ok=True)

    def _drop(self, entry: _Entry) -> None:
        with self._lock:
            self._entries.pop(entry.path.name, None)
        entry.path.unlink(missing_ok=True)

    @property
    def bytes_used(self) -> int:
        with self._lock:
            return sum(e.size for e in self._entries.values())


def _digest(tensors: list[torch.Tensor]) -> str:
    """A checksum of the tensors' bytes: a file changed after it was written is never loaded."""
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        h.update(t.contiguous().view(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
