"""One file from the hub into a model folder: continued from its partial file, streamed, verified, moved in place.

A file downloads into ``<folder>/.cache/ponder/<name>.part``; a later try sends ``Range: bytes=<part size>-``
and appends, so bytes already on disk are never fetched again (a server that ignores the range sends the
whole file, and the part starts over). Once complete, the part is hashed and compared with what the hub
states: the sha256 of an LFS file (weights), else the git blob sha1 (configs, tokenizer). A mismatch deletes
the part: the caller fetches it once more from the start. ``<folder>/.cache/ponder/download.json`` records
each verified file with its size and modification time, so a finished file is not hashed again on the next
pull unless it changed on disk.

No torch and no Qt. The HTTP client is huggingface_hub's own session (its proxy settings, user agent and
offline mode) and its error mapping (``hf_raise_for_status``: gated, not found, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

PARTIAL_DIR = Path(".cache") / "ponder"
MANIFEST_FILE = "download.json"
CHUNK_BYTES = 256 * 1024  # a cancel takes effect between chunks
HASH_BLOCK_BYTES = 8 << 20


class CorruptFileError(OSError):
    """A downloaded file's hash is not the one the hub states (the part was deleted)."""


@dataclass(frozen=True, slots=True)
class FileTarget:
    """What a file must be: its size, and the hash the hub states (sha256 for LFS files, git sha1 otherwise)."""

    name: str
    size_bytes: int
    sha256: str | None = None
    git_sha1: str | None = None

    @property
    def expected_hash(self) -> str | None:
        if self.sha256:
            return f"sha256:{self.sha256.lower()}"
        return f"sha1:{self.git_sha1.lower()}" if self.git_sha1 else None


def part_path(folder: Path, name: str) -> Path:
    return folder / PARTIAL_DIR / f"{name}.part"


def part_bytes(folder: Path, name: str) -> int:
    try:
        return part_path(folder, name).stat().st_size
    except OSError:
        return 0


def file_hash(path: Path, target: FileTarget) -> str:
    """``sha256:<hex>`` of the file for an LFS target, else its git blob id ``sha1:<hex>``."""
    if target.sha256:
        digest = hashlib.sha256()
        prefix = "sha256"
    else:
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(f"blob {path.stat().st_size}\0".encode())
        prefix = "sha1"
    with path.open("rb") as f:
        while block := f.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return f"{prefix}:{digest.hexdigest()}"


class Manifest:
    """The files of one folder verified so far (name -> size, mtime, hash)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / PARTIAL_DIR / MANIFEST_FILE
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.files: dict[str, dict[str, Any]] = dict(data.get("files") or {})
        except (OSError, ValueError, AttributeError):
            self.files = {}

    def is_verified(self, path: Path, target: FileTarget) -> bool:
        entry = self.files.get(target.name)
        try:
            stat = path.stat()
        except OSError:
            return False
        return (entry is not None and target.expected_hash is not None and entry.get("hash") == target.expected_hash
                and entry.get("size") == stat.st_size == target.size_bytes
                and entry.get("mtime_ns") == stat.st_mtime_ns)

    def record(self, path: Path, target: FileTarget, digest: str) -> None:
        stat = path.stat()
        self.files[target.name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "hash": digest}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"files": self.files}, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)


def verify_in_place(folder: Path, target: FileTarget, manifest: Manifest) -> bool:
    """Whether ``folder/<name>`` is already the right file (recorded, or hashed now and recorded); a wrong one
    is deleted, so it is fetched again."""
    path = folder / target.name
    if not path.is_file():
        return False
    if manifest.is_verified(path, target):
        return True
    if path.stat().st_size == target.size_bytes:
        digest = file_hash(path, target)
        if target.expected_hash is None or digest == target.expected_hash:
            manifest.record(path, target, digest)
            return True
    path.unlink()
    return False


def fetch_file(url: str, headers: dict[str, str], folder: Path, target: FileTarget, manifest: Manifest,
               timeout_s: float) -> Iterator[int]:
    """Stream the missing bytes of ``target`` into its part file, yielding the bytes of it on disk after each chunk;
    then verify it and move it into ``folder``. Closing the iterator mid-file keeps the part for next time.
    Raises ``CorruptFileError`` on a hash mismatch (the part is gone) and huggingface_hub's errors for HTTP."""
    part = part_path(folder, target.name)
    part.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):  # a second pass only after a 416: the part was not a prefix of this file
        offset = part_bytes(folder, target.name)
        if offset > target.size_bytes:
            part.unlink()
            offset = 0
        if offset == target.size_bytes and offset:
            break
        status = yield from _stream(url, headers, part, offset, timeout_s)
        if status != 416:
            break
        part.unlink(missing_ok=True)
    if not part.is_file():
        raise CorruptFileError(f"{target.name} could not be fetched: the server refused every byte range")
    size = part.stat().st_size
    digest = file_hash(part, target)
    if size != target.size_bytes or (target.expected_hash is not None and digest != target.expected_hash):
        part.unlink()
        raise CorruptFileError(f"{target.name} arrived damaged ({size:,} bytes, {digest}; the hub states "
                               f"{target.size_bytes:,} bytes, {target.expected_hash})")
    final = folder / target.name
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, final)
    manifest.record(final, target, digest)


def _stream(url: str, headers: dict[str, str], part: Path, offset: int, timeout_s: float) -> Iterator[int]:
    """GET the file from ``offset`` on and append it to ``part``; returns the HTTP status."""
    from huggingface_hub.utils import get_session, hf_raise_for_status

    request_headers = {**headers, "Accept-Encoding": "identity"}
    if offset:
        request_headers["Range"] = f"bytes={offset}-"
    with get_session().stream("GET", url, headers=request_headers, timeout=timeout_s) as response:
        if response.status_code == 416:
            return 416
        hf_raise_for_status(response)
        if offset and response.status_code != 206:
            offset = 0  # the server ignored the range and sends the whole file
        with part.open("r+b" if offset else "wb") as out:
            out.seek(offset)
            out.truncate()
            position = offset
            for chunk in response.iter_bytes(CHUNK_BYTES):
                out.write(chunk)
                position += len(chunk)
                yield position
        return response.status_code


def same_origin(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
