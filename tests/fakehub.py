"""A small stand-in for the Hugging Face Hub, served on 127.0.0.1 for tests.

It answers the calls huggingface_hub 2.x makes (read in ``hf_api.py``, ``file_download.py`` and
``utils/_http.py`` of the installed package), shaped like the real Hub's answers:

- ``GET /api/models/{repo_id}`` and ``/api/models/{repo_id}/revision/{rev}`` (``?blobs=true`` adds
  ``size``, ``blobId`` and ``lfs`` to each sibling): model info JSON with ``siblings``, ``sha``,
  ``gated``, ``cardData``, ``createdAt``...;
- ``GET /api/models/{repo_id}/tree/{rev}``: the file listing;
- ``HEAD``/``GET /{repo_id}/resolve/{rev}/{filename}``: small files answer 200 with ``ETag``,
  ``X-Repo-Commit`` and ``Content-Length``; LFS files (``*.gguf``, ``*.safetensors``) answer 302 to a
  CDN-like URL with ``X-Linked-Etag``/``X-Linked-Size``, as the Hub does. Downloads honour
  ``Range`` (206 + ``Content-Range``; 416 past the end). The CDN-like host is a second server on
  127.0.0.2, so the client treats it as off-Hub, as it does the real CDN;
- errors carry the Hub's ``X-Error-Code``: ``RepoNotFound`` (401 when unauthenticated, also for
  private repos), ``GatedRepo`` (401 on file access; the model info itself stays readable),
  ``EntryNotFound`` (404), ``RevisionNotFound`` (404).

Requests are logged in ``FakeHub.requests`` (method, path, Range header), and answers carrying
file bytes in ``FakeHub.served``, so tests can check that a header was read with a few small
Range requests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class FakeFile:
    data: bytes | None = None
    path: Path | None = None

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size

    def read(self, start: int, length: int) -> bytes:
        if self.data is not None:
            return self.data[start : start + length]
        assert self.path is not None
        with self.path.open("rb") as f:
            f.seek(start)
            return f.read(length)

    def sha256(self) -> str:
        h = hashlib.sha256()
        if self.data is not None:
            h.update(self.data)
        else:
            assert self.path is not None
            # Large files: hash name and size only; the fake hub needs a stable id, not integrity.
            h.update(f"{self.path.name}:{self.size}".encode())
        return h.hexdigest()

    def git_sha1(self) -> str:
        head = f"blob {self.size}\0".encode()
        return hashlib.sha1(head + (self.data if self.data is not None else self.sha256().encode())).hexdigest()


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, FakeFile] = field(default_factory=dict)
    gated: str | bool = False  # "auto"/"manual" like the Hub, False when open
    private: bool = False
    card_data: dict[str, Any] = field(default_factory=dict)
    created_at: str = "2025-04-29T03:52:34.000Z"
    safetensors_total: int | None = None

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.repo_id.encode()).hexdigest()

    def config_summary(self) -> dict[str, Any] | None:
        cfg = self.files.get("config.json")
        if cfg is None or cfg.data is None:
            return None
        try:
            raw = json.loads(cfg.data)
        except ValueError:
            return None
        if not isinstance(raw, dict):
            return None
        return {k: raw[k] for k in ("architectures", "model_type") if k in raw}


class FakeHub:
    """Start with ``FakeHub().start()``; ``url`` is the endpoint; ``stop()`` shuts it down."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.served: list[tuple[str, str | None]] = []  # (path, Range header) of answers carrying file bytes
        self._server: ThreadingHTTPServer | None = None
        self._cdn: ThreadingHTTPServer | None = None
        self.cdn_url = ""
        self._url = ""
        self.ignore_range = False  # answer 200 with the whole file, like a server without Range support

    def add(self, repo: FakeRepo) -> FakeRepo:
        self.repos[repo.repo_id] = repo
        return repo

    @property
    def url(self) -> str:
        assert self._url, "start() the hub first"
        return self._url

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # LFS downloads redirect to another host, as the Hub's do to its CDN: huggingface_hub then reads
        # the file metadata from the redirect itself. 127.0.0.2 is loopback too (127.0.0.0/8).
        try:
            self._cdn = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
            self._cdn.daemon_threads = True
            self.cdn_url = f"http://127.0.0.2:{self._cdn.server_address[1]}"
        except OSError:
            self._cdn, self.cdn_url = None, self._url
        for server in (self._server, self._cdn):
            if server is not None:
                threading.Thread(target=server.serve_forever, name="fakehub", daemon=True).start()
        return self

    def stop(self) -> None:
        for server in (self._server, self._cdn):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._server = self._cdn = None

    def range_requests(self, filename: str) -> list[str | None]:
        """The Range header of each GET that was answered with bytes of ``filename``."""
        return [r for p, r in self.served if p.endswith("/" + filename)]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    # --- plumbing -----------------------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        hdrs = {"Content-Length": str(len(body))} | (headers or {})
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and body:
            # The client may hang up once it has read enough (a Range-less answer cut short on purpose).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    def _json(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, {"Content-Type": "application/json; charset=utf-8"} | (headers or {}))

    def _error(self, status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message} | (extra or {})
        self._json({"error": message}, status, headers)

    def _repo_or_error(self, repo_id: str) -> FakeRepo | None:
        repo = self.fake.repos.get(repo_id)
        if repo is None or (repo.private and "authorization" not in {k.lower() for k in self.headers}):
            # The Hub answers 401 for missing and private repos alike when unauthenticated.
            self._error(401, "RepoNotFound", "Repository not found")
            return None
        return repo

    def _revision_ok(self, repo: FakeRepo, rev: str) -> bool:
        if rev in ("main", repo.sha):
            return True
        self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return False

    # --- routes -------------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def _route(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        self.fake.requests.append((self.command, path, self.headers.get("Range")))
        if path.startswith("/api/models/"):
            rest = path[len("/api/models/") :].split("/")
            repo_id = "/".join(rest[:2])
            tail = rest[2:]
            repo = self._repo_or_error(repo_id)
            if repo is None:
                return
            if not tail:
                self._model_info(repo, "main", query)
            elif tail[0] == "revision" and len(tail) >= 2:
                if self._revision_ok(repo, tail[1]):
                    self._model_info(repo, tail[1], query)
            elif tail[0] == "tree" and len(tail) >= 2:
                if self._revision_ok(repo, tail[1]):
                    self._tree(repo)
            else:
                self._error(404, "EntryNotFound", "Not found")
            return
        if path.startswith("/_cdn/"):
            rest = path[len("/_cdn/") :].split("/")
            repo = self.fake.repos.get("/".join(rest[:2]))
            name = "/".join(rest[2:])
            if repo is None or name not in repo.files:
                self._send(404)
                return
            self._serve_bytes(repo, repo.files[name])
            return
        match = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if match:
            self._resolve(match.group(1), match.group(2), match.group(3))
            return
        self._send(404)

    def _sibling(self, repo: FakeRepo, name: str, blobs: bool) -> dict[str, Any]:
        f = repo.files[name]
        out: dict[str, Any] = {"rfilename": name}
        if blobs:
            out["blobId"] = f.git_sha1()
            out["size"] = f.size
            if name.endswith(LFS_SUFFIXES):
                out["lfs"] = {"sha256": f.sha256(), "size": f.size, "pointerSize": 134}
        return out

    def _model_info(self, repo: FakeRepo, rev: str, query: dict[str, list[str]]) -> None:
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        owner = repo.repo_id.split("/")[0]
        info: dict[str, Any] = {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": owner,
            "sha": repo.sha,
            "lastModified": "2025-07-26T03:46:43.000Z",
            "createdAt": repo.created_at,
            "private": repo.private,
            "disabled": False,
            "gated": repo.gated,
            "downloads": 1234,
            "likes": 56,
            "library_name": "transformers" if "config.json" in repo.files else None,
            "tags": ["text-generation"]
            + ([f"license:{repo.card_data['license']}"] if "license" in repo.card_data else []),
            "pipeline_tag": "text-generation",
            "cardData": repo.card_data,
            "siblings": [self._sibling(repo, n, blobs) for n in sorted(repo.files)],
            "spaces": [],
            "usedStorage": sum(f.size for f in repo.files.values()),
        }
        summary = repo.config_summary()
        if summary is not None:
            info["config"] = summary
        if repo.safetensors_total is not None:
            info["safetensors"] = {"parameters": {"BF16": repo.safetensors_total}, "total": repo.safetensors_total}
        self._json(info)

    def _tree(self, repo: FakeRepo) -> None:
        entries = []
        for name in sorted(repo.files):
            f = repo.files[name]
            entry: dict[str, Any] = {"type": "file", "oid": f.git_sha1(), "size": f.size, "path": name}
            if name.endswith(LFS_SUFFIXES):
                entry["lfs"] = {"oid": f.sha256(), "size": f.size, "pointerSize": 134}
            entries.append(entry)
        self._json(entries)

    def _resolve(self, repo_id: str, rev: str, name: str) -> None:
        repo = self._repo_or_error(repo_id)
        if repo is None or not self._revision_ok(repo, rev):
            return
        commit = {"X-Repo-Commit": repo.sha}
        if repo.gated:
            self._error(
                401,
                "GatedRepo",
                f"Access to model {repo_id} is restricted. You must have access "
                "to it and be authenticated to access it. Please log in.",
                commit,
            )
            return
        f = repo.files.get(name)
        if f is None:
            self._error(404, "EntryNotFound", "Entry not found", commit)
            return
        if name.endswith(LFS_SUFFIXES):
            location = f"{self.fake.cdn_url}/_cdn/{repo_id}/{name}"
            self._send(
                302,
                b"",
                commit
                | {
                    "Location": location,
                    "ETag": f'"{f.git_sha1()}"',
                    "X-Linked-Etag": f'"{f.sha256()}"',
                    "X-Linked-Size": str(f.size),
                },
            )
            return
        self._serve_bytes(repo, f, commit | {"ETag": f'"{f.git_sha1()}"'})

    def _serve_bytes(self, repo: FakeRepo, f: FakeFile, headers: dict[str, str] | None = None) -> None:
        size = f.size
        if self.command == "GET":
            self.fake.served.append((urlsplit(self.path).path, self.headers.get("Range")))
        hdrs = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"} | (headers or {})
        hdrs.setdefault("ETag", f'"{f.sha256()}"')
        wanted = None if self.fake.ignore_range else self.headers.get("Range")
        if not wanted:
            if self.command == "HEAD":
                self.send_response(200)
                for k, v in (hdrs | {"Content-Length": str(size)}).items():
                    self.send_header(k, v)
                self.end_headers()
                return
            self._send(200, f.read(0, size), hdrs)
            return
        m = _RANGE.match(wanted.strip())
        if not m or (not m.group(1) and not m.group(2)):
            self._send(416, b"", hdrs | {"Content-Range": f"bytes */{size}"})
            return
        if m.group(1):
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else size - 1
        else:  # suffix range: the last N bytes
            start = max(0, size - int(m.group(2)))
            end = size - 1
        if start >= size:
            self._send(416, b"", hdrs | {"Content-Range": f"bytes */{size}"})
            return
        end = min(end, size - 1)
        body = f.read(start, end - start + 1)
        self._send(206, body, hdrs | {"Content-Range": f"bytes {start}-{end}/{size}"})


def use_fake_hub(hub: FakeHub, monkeypatch: Any, tmp_path: Path) -> None:
    """Point huggingface_hub at ``hub`` for one test.

    huggingface_hub reads ``HF_ENDPOINT`` once, at import (``constants.ENDPOINT`` and
    ``HUGGINGFACE_CO_URL_TEMPLATE``), so the environment variable alone is too late in a running
    process: the constants are patched as well. The token and the download cache are redirected
    into ``tmp_path`` so no real credential or cache is touched.
    """
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf-stored-tokens"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
