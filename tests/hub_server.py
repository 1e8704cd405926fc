"""A Hugging Face hub on loopback: the part of the hub's HTTP API that ``huggingface_hub`` uses to list and
download a model, serving folders the tests build (``HF_ENDPOINT`` points at it).

    GET  /api/models/{repo}[/revision/{rev}]?blobs=true   model info: sha, gated, siblings with size, blobId, lfs.sha256
    HEAD /{repo}/resolve/{rev}/{file}                      ETag (git blob sha1), X-Repo-Commit, Content-Length; an LFS
                                                           file answers 302 to the CDN with X-Linked-Etag (its sha256)
                                                           and X-Linked-Size, as the real hub does
    GET  /{repo}/resolve/{rev}/{file}, /cdn/{sha256}       the bytes, with Range (206) for resumes
    errors                                                 401 RepoNotFound (missing or private), 401/403 GatedRepo,
                                                           404 RevisionNotFound / EntryNotFound (X-Error-Code headers)

The CDN is a second server on another port (another origin, so the client stops following redirects at the
hub and fetches the CDN itself, without the token). Knobs for the tests: ``rate_bytes_per_s`` (throttle),
``corrupt_once`` (serve these files damaged, once), and ``requests`` (every file GET: name, range start, bytes
sent), so a test can tell which bytes were fetched again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
VALID_TOKEN = "hf_loopback_test_token"
SEND_CHUNK = 64 * 1024


@dataclass
class HubRepo:
    files: dict[str, bytes]
    gated: bool = False
    private: bool = False
    accepted_tokens: tuple[str, ...] = (VALID_TOKEN,)  # who may download a gated or private repo

    @classmethod
    def from_folder(cls, folder: Path, **options: Any) -> HubRepo:
        return cls({p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}, **options)


@dataclass(frozen=True, slots=True)
class ServedRequest:
    file: str
    range_start: int
    bytes_sent: int


def is_lfs(name: str) -> bool:
    return name.endswith(".safetensors")


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass
class LoopbackHub:
    repos: dict[str, HubRepo] = field(default_factory=dict)
    rate_bytes_per_s: float | None = None
    corrupt_once: set[str] = field(default_factory=set)
    requests: list[ServedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []

    # --- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> LoopbackHub:
        for role in ("hub", "cdn"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, role))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True, name=f"loopback-{role}").start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> LoopbackHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def served_bytes(self, name: str) -> int:
        with self._lock:
            return sum(r.bytes_sent for r in self.requests if r.file == name)

    def _record(self, request: ServedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _blob(self, sha256: str) -> tuple[str, bytes] | None:
        for repo in self.repos.values():
            for name, data in repo.files.items():
                if hashlib.sha256(data).hexdigest() == sha256:
                    return name, data
        return None


def _handler(hub: LoopbackHub, role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
            self._route(head=True)

        def do_GET(self) -> None:  # noqa: N802
            self._route(head=False)

        # --- routing -------------------------------------------------------------------------------
        def _route(self, head: bool) -> None:
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if role == "cdn":
                found = hub._blob(parts[-1]) if parts and parts[0] == "cdn" else None
                if found is None:
                    return self._error(404, "EntryNotFound", "no such blob")
                return self._send_file(found[0], found[1], head, {"ETag": f'"{parts[-1]}"'})
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                return self._model_info(f"{parts[2]}/{parts[3]}", parts[5] if len(parts) >= 6 else "main",
                                        "blobs" in parse_qs(url.query))
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), head)
            self._error(404, "", "not found")

        def _repo(self, repo_id: str, *, files: bool) -> HubRepo | None:
            repo = hub.repos.get(repo_id)
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            if repo is None or (repo.private and token not in repo.accepted_tokens):
                self._error(401, "RepoNotFound", "Repository not found")
                return None
            if files and repo.gated and token not in repo.accepted_tokens:
                status = 403 if token else 401
                self._error(status, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access "
                                                 "to it and be authenticated to access it. Please log in.")
                return None
            return repo

        def _model_info(self, repo_id: str, revision: str, blobs: bool) -> None:
            repo = self._repo(repo_id, files=False)
            if repo is None:
                return
            if revision not in ("main", COMMIT):
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            siblings = []
            for name, data in repo.files.items():
                sibling: dict[str, Any] = {"rfilename": name}
                if blobs:
                    sibling.update(size=len(data), blobId=git_sha1(data))
                    if is_lfs(name):
                        sibling["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                          "pointerSize": 134}
                siblings.append(sibling)
            body = {"_id": repo_id, "id": repo_id, "modelId": repo_id, "sha": COMMIT, "private": repo.private,
                    "gated": "manual" if repo.gated else False, "disabled": False, "downloads": 0, "likes": 0,
                    "tags": ["safetensors"], "siblings": siblings}
            self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

        def _resolve(self, repo_id: str, revision: str, name: str, head: bool) -> None:
            repo = self._repo(repo_id, files=True)
            if repo is None:
                return
            if revision not in ("main", COMMIT):
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            data = repo.files.get(name)
            if data is None:
                return self._error(404, "EntryNotFound", f"{name} does not exist on main")
            headers = {"X-Repo-Commit": COMMIT}
            if is_lfs(name):
                sha256 = hashlib.sha256(data).hexdigest()
                headers.update({"Location": f"{hub.cdn}/cdn/{sha256}", "X-Linked-Etag": f'"{sha256}"',
                                "X-Linked-Size": str(len(data)), "ETag": f'"{git_sha1(data)}"'})
                return self._send(302, b"", headers)
            headers["ETag"] = f'"{git_sha1(data)}"'
            self._send_file(name, data, head, headers)

        # --- sending -------------------------------------------------------------------------------
        def _send_file(self, name: str, data: bytes, head: bool, headers: dict[str, str]) -> None:
            start, status = 0, 200
            ranged = self.headers.get("Range", "")
            if ranged.startswith("bytes="):
                start = int(ranged.removeprefix("bytes=").split("-")[0] or 0)
                if start >= len(data) > 0:
                    return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                status = 206
                headers = {**headers, "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
            body = data[start:]
            if not head and name in hub.corrupt_once:
                hub.corrupt_once.discard(name)
                body = bytes(b ^ 0xFF for b in body[:16]) + body[16:]
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body)), "Accept-Ranges": "bytes",
                               "Content-Type": "application/octet-stream"}.items():
                self.send_header(key, value)
            self.end_headers()
            if head:
                return
            sent = 0
            try:
                for i in range(0, len(body), SEND_CHUNK):
                    chunk = body[i:i + SEND_CHUNK]
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if hub.rate_bytes_per_s:
                        time.sleep(len(chunk) / hub.rate_bytes_per_s)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                hub._record(ServedRequest(name, start, sent))

        def _error(self, status: int, code: str, message: str) -> None:
            headers = {"X-Error-Message": message, "Content-Type": "application/json"}
            if code:
                headers["X-Error-Code"] = code
            self._send(status, json.dumps({"error": message}).encode(), headers)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler
