"""Download a model folder from the Hugging Face hub: safetensors weights, JSON configs, tokenizer, model card.

``download_model("owner/name[@revision]")`` is a generator of ``DownloadProgress`` (bytes, speed, time left);
the last item carries the folder. It fetches only top-level files Ponder reads (never pickle weights, never
code): ``*.safetensors``, ``*.json`` (config, generation config, tokenizer, tokenizer config, shard index) and
``README.md`` (the model card, shown as text).

- Before any byte: the repository's file list (one call, with sizes and hashes), then the disk: the bytes still
  missing must fit in the free space (``free_disk_bytes``), else a clear error with both sizes.
- Cancel: close the generator (or stop iterating); the file being fetched keeps its partial bytes.
- Resume: the next try continues each partial file where it stopped (``core.hub_transfer``) and skips files
  already verified.
- Verify: every file against the hub's sha256 (LFS) or git blob id; a damaged one is fetched once more.
- Errors are ``HubError`` with one line saying what went wrong and one saying what to do: ``kind`` is offline,
  not_found, gated, invalid, no_safetensors, disk, corrupt or error. Offline fails at the first call, in
  seconds (no retries).

Through huggingface_hub (its API client, its session, its error types); the endpoint is ``$HF_ENDPOINT`` read
at call time (huggingface_hub reads it once, at import), the token the caller's, else ``$HF_TOKEN`` or the
``hf auth login`` one. No torch and no Qt.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from core.hub_transfer import (CorruptFileError, FileTarget, Manifest, fetch_file, part_bytes, same_origin,
                               verify_in_place)
from core.paths import downloads_dir

ALLOWED_PATTERNS = ("*.safetensors", "*.json", "README.md")
DEFAULT_ENDPOINT = "https://huggingface.co"
LISTING_TIMEOUT_S = 8.0  # the first call: offline is known within this, not after a timeout per file
TRANSFER_TIMEOUT_S = 20.0  # no byte for this long: the connection is dead
PROGRESS_INTERVAL_S = 0.2  # at most this often a progress item while bytes stream
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}/[\w.\-]{1,96}$")
_REVISION = re.compile(r"^[\w.\-/]{1,128}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
GiB, MiB = 1024**3, 1024**2


class HubError(Exception):
    """A download that cannot go on; ``next_step`` says what the user can do, ``kind`` what went wrong."""

    def __init__(self, message: str, next_step: str = "", kind: str = "error") -> None:
        super().__init__(message)
        self.message, self.next_step, self.kind = message, next_step, kind

    def one_line(self) -> str:
        return f"{self.message}. {self.next_step}".strip() if self.next_step else self.message


@dataclass(frozen=True, slots=True)
class RepoRef:
    repo_id: str
    revision: str | None = None  # None: the default branch

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id


@dataclass(frozen=True, slots=True)
class RemoteFile:
    name: str
    size_bytes: int
    sha256: str | None = None  # LFS files (weights)
    blob_id: str | None = None  # the git blob sha1 (every file)


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    repo_id: str
    file: str  # the file being fetched ("" on the last item)
    files_done: int
    files_total: int
    bytes_done: int  # on disk, partial files included
    bytes_total: int
    path: Path | None = None  # set on the last item: the model folder
    bytes_per_s: float = 0.0  # over the last few seconds
    eta_s: float | None = None
    note: str = ""  # e.g. "resuming at 1.2 GiB", "damaged, fetching again"

    @property
    def fraction(self) -> float:
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        return self.files_done / self.files_total if self.files_total else 0.0

    def text(self) -> str:
        """One line: "model.safetensors (7 of 8 files): 1.20 of 3.55 GiB · 42 MiB/s · about 1 min left"."""
        if self.path is not None:
            return f"Downloaded {self.repo_id} ({format_size(self.bytes_total)}) to {self.path}"
        parts = [f"{format_size(self.bytes_done)} of {format_size(self.bytes_total)}"]
        if self.bytes_per_s > 0:
            parts.append(f"{format_size(self.bytes_per_s)}/s")
        if self.eta_s is not None:
            parts.append(f"about {format_duration(self.eta_s)} left")
        head = f"{self.file} ({min(self.files_done + 1, self.files_total)} of {self.files_total} files)"
        return f"{head}: {' · '.join(parts)}" + (f" · {self.note}" if self.note else "")


def format_size(n: float) -> str:
    if n >= GiB:
        return f"{n / GiB:.2f} GiB"
    if n >= MiB:
        return f"{n / MiB:.0f} MiB"
    return f"{n / 1024:.0f} KiB"


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def check_repo_id(repo_id: str) -> str:
    repo_id = repo_id.strip().removeprefix("https://huggingface.co/").strip("/")
    if not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise HubError(f"{repo_id!r} is not a Hugging Face repository id",
                       "Type it as owner/name, e.g. deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B.", "invalid")
    return repo_id


def parse_repo_ref(text: str) -> RepoRef:
    """``owner/name`` or ``owner/name@revision`` (a branch, tag or commit)."""
    repo, _, revision = text.strip().partition("@")
    if revision and (not _REVISION.match(revision) or ".." in revision):
        raise HubError(f"{revision!r} is not a revision (a branch, tag or commit)",
                       "Write it as owner/name@main, owner/name@v1.0 or owner/name@<commit>.", "invalid")
    return RepoRef(check_repo_id(repo), revision or None)


def default_download_dir(repo_id: str) -> Path:
    """``<cache>/models/<owner>--<name>`` (the hub's own naming, so two repos never share a folder)."""
    return downloads_dir() / check_repo_id(repo_id).replace("/", "--")


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def free_disk_bytes(path: Path) -> int:
    """Free bytes on the disk that holds ``path`` (or its nearest existing parent)."""
    probe = Path(path)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def select_files(files: list[RemoteFile]) -> list[RemoteFile]:
    """The files Ponder needs: top level only, matching ``ALLOWED_PATTERNS``; configs first, weights last."""
    keep = [f for f in files if "/" not in f.name and any(fnmatch.fnmatch(f.name, p) for p in ALLOWED_PATTERNS)]
    return sorted(keep, key=lambda f: (f.name.endswith(".safetensors"), f.name))


@dataclass(frozen=True, slots=True)
class RepoListing:
    commit: str | None  # the revision resolved to a commit, so every file comes from one snapshot
    gated: bool
    files: list[RemoteFile]


def list_repo(ref: RepoRef, *, token: str | None = None, endpoint: str | None = None, api: Any = None) -> RepoListing:
    """Every file of the repository with its size and hashes (one API call, no retries)."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(endpoint=endpoint or hub_endpoint(), token=token)
    try:
        info = api.model_info(ref.repo_id, revision=ref.revision, files_metadata=True, timeout=LISTING_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - translated into a HubError with a next step
        raise translate_error(exc, ref.repo_id, endpoint=endpoint) from exc
    files = [RemoteFile(s.rfilename, int(getattr(s, "size", 0) or 0),
                        getattr(getattr(s, "lfs", None), "sha256", None), getattr(s, "blob_id", None))
             for s in (getattr(info, "siblings", None) or [])]
    return RepoListing(getattr(info, "sha", None), bool(getattr(info, "gated", False)), files)


def download_model(ref: str | RepoRef, dest_dir: Path | None = None, *, token: str | None = None,
                   endpoint: str | None = None, api: Any = None) -> Iterator[DownloadProgress]:
    """Download the model folder, yielding progress; the last item's ``path`` is the folder (module docstring)."""
    ref = parse_repo_ref(ref) if isinstance(ref, str) else ref
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    listing = list_repo(ref, token=token, endpoint=endpoint, api=api)
    files = select_files(listing.files)
    _check_listing(ref.repo_id, files)
    if listing.gated and not _have_token(token):
        raise _gated(ref.repo_id, endpoint)
    dest = Path(dest_dir) if dest_dir is not None else default_download_dir(ref.repo_id)
    dest.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(dest)
    targets = [FileTarget(f.name, f.size_bytes, f.sha256, f.blob_id) for f in files]
    done = {t.name for t in targets if verify_in_place(dest, t, manifest)}
    total = sum(t.size_bytes for t in targets)
    have = sum(t.size_bytes if t.name in done else part_bytes(dest, t.name) for t in targets)
    _check_disk(dest, total - have, total)
    meter = TransferMeter()
    finished = sum(t.size_bytes for t in targets if t.name in done)
    for i, target in enumerate(targets):
        if target.name in done:
            continue
        already = part_bytes(dest, target.name)
        note = f"resuming at {format_size(already)}" if already else ""
        yield _progress(ref, target, i, targets, finished + already, total, meter, note)
        for attempt in range(2):
            try:
                yield from _fetch_one(ref, target, i, targets, dest, manifest, finished, total, meter, token,
                                      endpoint, listing.commit)
                break
            except CorruptFileError as exc:
                if attempt:
                    raise HubError(f"{ref.repo_id}/{target.name} arrived damaged twice ({exc})",
                                   "Try again later; if it keeps failing, the hub's copy or a proxy is at fault.",
                                   "corrupt") from exc
                yield _progress(ref, target, i, targets, finished, total, meter, "damaged, fetching it again")
        finished += target.size_bytes
    yield DownloadProgress(ref.repo_id, "", len(targets), len(targets), total, total, dest)


def _fetch_one(ref: RepoRef, target: FileTarget, index: int, targets: list[FileTarget], dest: Path, manifest: Manifest,
               finished: int, total: int, meter: TransferMeter, token: str | None, endpoint: str,
               commit: str | None) -> Iterator[DownloadProgress]:
    try:
        url, headers, target = _resolve(ref, target, token, endpoint, commit)
        last_yield, last_position = 0.0, part_bytes(dest, target.name)
        for position in fetch_file(url, headers, dest, target, manifest, TRANSFER_TIMEOUT_S):
            meter.add(max(0, position - last_position))
            last_position = position
            now = time.monotonic()
            if now - last_yield >= PROGRESS_INTERVAL_S:
                last_yield = now
                yield _progress(ref, target, index, targets, finished + position, total, meter)
    except (HubError, CorruptFileError):
        raise
    except Exception as exc:  # noqa: BLE001 - translated into a HubError with a next step
        raise translate_error(exc, ref.repo_id, target.name, endpoint) from exc


def _resolve(ref: RepoRef, target: FileTarget, token: str | None, endpoint: str,
             commit: str | None) -> tuple[str, dict[str, str], FileTarget]:
    """HEAD the file's resolve URL: where its bytes are (a CDN for LFS files), its etag and size."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(ref.repo_id, target.name, revision=commit or ref.revision, endpoint=endpoint)
    meta = get_hf_file_metadata(url, token=token, endpoint=endpoint, timeout=LISTING_TIMEOUT_S)
    etag = (meta.etag or "").lower()
    sha256 = target.sha256 or (etag if _HEX64.match(etag) else None)
    git_sha1 = target.git_sha1 or (etag if _HEX40.match(etag) else None)
    size = meta.size if meta.size is not None else target.size_bytes
    headers = build_hf_headers(token=token)
    location = meta.location or url
    if not same_origin(location, endpoint):
        headers.pop("authorization", None)  # the token never leaves the hub
        headers.pop("Authorization", None)
    return location, headers, FileTarget(target.name, size, sha256, git_sha1)


class TransferMeter:
    """Bytes per second over the last few seconds of transfer (resumed bytes on disk do not count)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, n: int) -> None:
        now = time.monotonic()
        self.samples.append((now, n))
        while self.samples and now - self.samples[0][0] > self.window_s:
            self.samples.popleft()

    def rate(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        span = self.samples[-1][0] - self.samples[0][0]
        return sum(n for _, n in list(self.samples)[1:]) / span if span > 0 else 0.0


def _progress(ref: RepoRef, target: FileTarget, index: int, targets: list[FileTarget], done: int, total: int,
              meter: TransferMeter, note: str = "") -> DownloadProgress:
    rate = meter.rate()
    eta = (total - done) / rate if rate > 0 else None
    return DownloadProgress(ref.repo_id, target.name, index, len(targets), done, total, None, rate, eta, note)


def _check_listing(repo_id: str, files: list[RemoteFile]) -> None:
    if not any(f.name.endswith(".safetensors") for f in files):
        raise HubError(f"{repo_id} has no safetensors weights at its top level, and Ponder loads nothing else "
                       "(never pickle .bin/.pt files)", "Pick a repository that ships model.safetensors "
                       "(most do; look for a 'safetensors' tag), or convert the weights first", "no_safetensors")
    if not any(f.name == "config.json" for f in files):
        raise HubError(f"{repo_id} has no config.json, so it is not a Hugging Face model folder",
                       "Pick the repository of the model itself (not a dataset or an adapter)", "invalid")


def _check_disk(dest: Path, missing_bytes: int, total_bytes: int) -> None:
    free = free_disk_bytes(dest)
    if missing_bytes > free:
        raise HubError(f"not enough disk space: the model needs {format_size(missing_bytes)} more "
                       f"(of {format_size(total_bytes)} in all) and only {format_size(free)} are free on the disk "
                       f"of {dest}", "Free some space or choose a smaller model; nothing was downloaded", "disk")


def _have_token(token: str | None) -> bool:
    if token:
        return True
    from huggingface_hub import get_token

    return bool(get_token())


def _gated(repo_id: str, endpoint: str) -> HubError:
    return HubError(f"{repo_id} is gated: its authors ask each user to accept their terms, and the hub needs to "
                    "know who you are", f"Accept the terms on {endpoint}/{repo_id} while logged in, then give Ponder "
                    "an access token (Model catalog ▸ Hugging Face token, or the HF_TOKEN environment variable)",
                    "gated")


def translate_error(exc: BaseException, repo_id: str, file: str | None = None,
                    endpoint: str | None = None) -> HubError:
    """An exception from huggingface_hub (or the network under it) as a HubError, by class name so it holds
    across huggingface_hub versions and their HTTP clients."""
    if isinstance(exc, HubError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    what = f"{repo_id}/{file}" if file else repo_id
    if "GatedRepoError" in names:
        return _gated(repo_id, endpoint or hub_endpoint())
    if names & {"RepositoryNotFoundError", "RevisionNotFoundError"}:
        which = "that revision of " if "RevisionNotFoundError" in names else ""
        return HubError(f"there is no {which}repository {repo_id} on the Hugging Face hub, or it is private",
                        "Check the spelling (owner/name[@revision]); for a private model give Ponder an access token "
                        "(Model catalog ▸ Hugging Face token, or HF_TOKEN)", "not_found")
    if names & {"EntryNotFoundError", "RemoteEntryNotFoundError"} and "LocalEntryNotFoundError" not in names:
        return HubError(f"{what} is listed but could not be found on the hub", "Try again later", "not_found")
    offline = {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError", "ConnectionError",
               "ConnectTimeout", "ReadTimeout", "TimeoutException", "Timeout", "NetworkError", "ProxyError",
               "SSLError", "gaierror", "RemoteProtocolError", "ReadError"}
    if names & offline or isinstance(exc, (ConnectionError, TimeoutError)):
        return HubError(f"offline: the Hugging Face hub cannot be reached ({type(exc).__name__}), so {what} was not "
                        "downloaded", "Check the internet connection (or proxy) and try again: finished files are "
                        "kept and a partial file continues; offline, open a model folder instead", "offline")
    if isinstance(exc, OSError):
        return HubError(f"writing {what} failed: {_first_line(exc)}",
                        "Check the disk space and the folder's permissions", "disk")
    return HubError(f"downloading {what} failed: {_first_line(exc)}", "Try again; finished files are kept", "error")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
