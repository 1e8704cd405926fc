"""Download a model folder from the Hugging Face hub: safetensors weights, JSON configs, tokenizer, model card.

``download_model(repo_id)`` is a generator of ``DownloadProgress``: one item as each file starts and one as
it ends; the last item carries the folder. It fetches only top-level files that Ponder reads (never
pickle weights, never code): ``*.safetensors``, ``*.json`` (config, generation config, tokenizer,
tokenizer config, shard index) and ``README.md`` (the model card, shown as text).

- Cancel: stop iterating (or ``close()`` the generator). The granularity is one file: a file being
  downloaded finishes (or fails) before the generator notices; nothing is deleted.
- Resume: ``huggingface_hub`` keeps a partial file as ``.incomplete`` under ``<folder>/.cache/huggingface``
  and continues it on the next try; files already complete are checked and skipped.
- Errors are ``HubError`` with a sentence and a next step: offline or unreachable, no such repository,
  gated, no safetensors in the repository, not enough disk space.

No torch and no Qt here; ``huggingface_hub`` is imported when first used. Tests pass ``api`` (anything with
``model_info``) and ``fetch`` (``hf_hub_download``'s signature) instead of the network.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from core.paths import downloads_dir

ALLOWED_PATTERNS = ("*.safetensors", "*.json", "README.md")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}/[\w.\-]{1,96}$")
Fetch = Callable[..., str]


class HubError(Exception):
    """A download that cannot go on; ``next_step`` says what the user can do, ``kind`` what went wrong."""

    def __init__(self, message: str, next_step: str = "", kind: str = "error") -> None:
        super().__init__(message)
        self.message, self.next_step, self.kind = message, next_step, kind


@dataclass(frozen=True, slots=True)
class RemoteFile:
    name: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    repo_id: str
    file: str  # the file starting or just finished ("" on the last item)
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    path: Path | None = None  # set on the last item: the model folder

    @property
    def fraction(self) -> float:
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        return self.files_done / self.files_total if self.files_total else 0.0


def check_repo_id(repo_id: str) -> str:
    repo_id = repo_id.strip().removeprefix("https://huggingface.co/").strip("/")
    if not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise HubError(f"{repo_id!r} is not a Hugging Face repository id",
                       "Type it as owner/name, e.g. deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B.", "invalid")
    return repo_id


def default_download_dir(repo_id: str) -> Path:
    """``<cache>/models/<owner>--<name>`` (the hub's own naming, so two repos never share a folder)."""
    return downloads_dir() / check_repo_id(repo_id).replace("/", "--")


def select_files(files: list[RemoteFile]) -> list[RemoteFile]:
    """The files Ponder needs: top level only, matching ``ALLOWED_PATTERNS``; configs first, weights last."""
    keep = [f for f in files if "/" not in f.name and any(fnmatch.fnmatch(f.name, p) for p in ALLOWED_PATTERNS)]
    return sorted(keep, key=lambda f: (f.name.endswith(".safetensors"), f.name))


def list_model_files(repo_id: str, revision: str | None = None, api: Any = None) -> list[RemoteFile]:
    """Every file of the repository with its size (one API call)."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
    except Exception as exc:  # noqa: BLE001 - translated into a HubError with a next step
        raise translate_error(exc, repo_id) from exc
    return [RemoteFile(s.rfilename, int(getattr(s, "size", 0) or 0)) for s in (info.siblings or [])]


def download_model(repo_id: str, dest_dir: Path | None = None, *, revision: str | None = None, api: Any = None,
                   fetch: Fetch | None = None) -> Iterator[DownloadProgress]:
    """Download the model folder file by file, yielding progress; the last item's ``path`` is the folder."""
    repo_id = check_repo_id(repo_id)
    dest = Path(dest_dir) if dest_dir is not None else default_download_dir(repo_id)
    files = select_files(list_model_files(repo_id, revision, api))
    if not any(f.name.endswith(".safetensors") for f in files):
        raise HubError(f"{repo_id} has no safetensors weights at its top level, and Ponder loads nothing else "
                       "(never pickle .bin/.pt files)", "Pick a repository that ships model.safetensors "
                       "(most do; look for a 'safetensors' tag), or convert the weights first.", "no_safetensors")
    if not any(f.name == "config.json" for f in files):
        raise HubError(f"{repo_id} has no config.json, so it is not a Hugging Face model folder",
                       "Pick the repository of the model itself (not a dataset or an adapter).", "invalid")
    total = sum(f.size_bytes for f in files)
    _check_disk(dest, total)
    if fetch is None:
        from huggingface_hub import hf_hub_download as fetch
    done_bytes = 0
    for i, f in enumerate(files):
        yield DownloadProgress(repo_id, f.name, i, len(files), done_bytes, total)
        try:
            fetch(repo_id, f.name, revision=revision, local_dir=dest)
        except Exception as exc:  # noqa: BLE001
            raise translate_error(exc, repo_id, f.name) from exc
        done_bytes += f.size_bytes
        yield DownloadProgress(repo_id, f.name, i + 1, len(files), done_bytes, total)
    yield DownloadProgress(repo_id, "", len(files), len(files), total, total, dest)


def _check_disk(dest: Path, needed_bytes: int) -> None:
    probe = dest
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed_bytes > free:
        raise HubError(f"the model needs {needed_bytes / 2**30:.1f} GiB and only {free / 2**30:.1f} GiB are free "
                       f"on the disk of {dest}", "Free some disk space, or choose a smaller model.", "disk")


def translate_error(exc: BaseException, repo_id: str, file: str | None = None) -> HubError:
    """An exception from huggingface_hub (or the network under it) as a HubError, by class name so it holds
    across huggingface_hub versions (requests before 1.0, httpx after)."""
    if isinstance(exc, HubError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    what = f"{repo_id}/{file}" if file else repo_id
    if names & {"GatedRepoError"}:
        return HubError(f"{repo_id} is gated: its authors ask you to accept their terms first",
                        "Accept the terms on huggingface.co, log in with `hf auth login`, then try again.", "gated")
    if names & {"RepositoryNotFoundError", "RevisionNotFoundError"}:
        return HubError(f"there is no repository {repo_id} on the Hugging Face hub (or it is private)",
                        "Check the spelling (owner/name); for a private model, log in with `hf auth login`.",
                        "not_found")
    if names & {"EntryNotFoundError", "RemoteEntryNotFoundError"} and "LocalEntryNotFoundError" not in names:
        return HubError(f"{what} is listed but could not be found on the hub", "Try again later.", "not_found")
    offline = {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError", "ConnectionError",
               "ConnectTimeout", "ReadTimeout", "TimeoutException", "Timeout", "NetworkError", "ProxyError",
               "SSLError", "gaierror"}
    if names & offline or isinstance(exc, (ConnectionError, TimeoutError)):
        return HubError(f"the Hugging Face hub cannot be reached ({type(exc).__name__}); {what} was not downloaded",
                        "Check your internet connection (or proxy), then try again: finished files are kept "
                        "and a partial file resumes. Offline, open a model folder instead (File ▸ Open model "
                        "folder…).", "offline")
    if isinstance(exc, OSError):
        return HubError(f"writing {what} failed: {exc}", "Check the disk space and the folder's permissions.", "disk")
    return HubError(f"downloading {what} failed: {exc}", "Try again; finished files are kept.", "error")
