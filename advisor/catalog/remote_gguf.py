"""Read the header of a remote GGUF file with HTTP Range requests.

The first 2 MiB are fetched; while the header parser (``advisor.core.gguf_header``) says it
needs more, the window doubles (and only the missing bytes are fetched) up to a hard cap of
64 MiB. This is how gguf-parser-go and huggingface.js read remote headers.
Requests go through huggingface_hub's shared HTTP client (``huggingface_hub.utils.get_session``)
with its headers (user agent, token), so ``HF_ENDPOINT`` mirrors, proxies and offline mode
behave as for any other Hub call. No Django here.

Errors:

- ``HubUnavailable``: the server cannot be reached (connection refused, DNS, timeout, 5xx) or
  offline mode is on;
- huggingface_hub's own errors (``RepositoryNotFoundError``, ``GatedRepoError``,
  ``RemoteEntryNotFoundError``, ``HfHubHTTPError``) for HTTP answers that refuse the file;
- ``InvalidGGUF``: the bytes are not a GGUF header, or it is larger than the cap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

import httpx2
from huggingface_hub import constants
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from advisor.core.gguf_header import GGUFHeader, InvalidGGUF, NeedMoreBytes, merge_split_headers, parse_gguf_prefix

START_BYTES = 2 * 1024 * 1024
MAX_BYTES = 64 * 1024 * 1024
TIMEOUT_S = 30.0

_CONTENT_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")


class HubUnavailable(ConnectionError):
    """The Hub (or the server of a URL) cannot be reached."""


def hub_file_url(repo_id: str, filename: str, revision: str = "main", endpoint: str | None = None) -> str:
    """``{endpoint}/{repo_id}/resolve/{revision}/{filename}``; the endpoint defaults to ``HF_ENDPOINT``."""
    base = (endpoint or constants.ENDPOINT).rstrip("/")
    return f"{base}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _total_from(response: httpx2.Response) -> int | None:
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if match and match.group(3) != "*":
        return int(match.group(3))
    if response.status_code == 200:
        length = response.headers.get("Content-Length")
        if length and length.isdigit():
            return int(length)
    return None


def _fetch(url: str, start: int, end: int, headers: dict[str, str], timeout: float) -> tuple[bytes, int | None]:
    """Bytes ``start..end`` (inclusive, or fewer at the end of the file) and the file's total size.

    The body is read as a stream and cut at the requested length, so a server that ignores
    ``Range`` and answers 200 with the whole file costs no more than the window.
    """
    want = end - start + 1
    request_headers = dict(headers)
    request_headers["Range"] = f"bytes={start}-{end}"
    request_headers["Accept-Encoding"] = "identity"
    try:
        with get_session().stream(
            "GET", url, headers=request_headers, follow_redirects=True, timeout=timeout
        ) as response:
            if response.status_code == 416:
                # Asked past the end: the file is shorter than ``start``.
                return b"", _total_from(response)
            if response.status_code >= 500:
                raise HubUnavailable(f"{_host(url)} answered {response.status_code} for {url}")
            if response.status_code >= 400:
                response.read()
                hf_raise_for_status(response)
            total = _total_from(response)
            skip = start if response.status_code == 200 else 0
            chunks: list[bytes] = []
            got = 0
            for chunk in response.iter_bytes():
                if skip:
                    drop = min(skip, len(chunk))
                    chunk = chunk[drop:]
                    skip -= drop
                chunks.append(chunk[: want - got])
                got += len(chunks[-1])
                if got >= want:
                    break
            return b"".join(chunks), total
    except (httpx2.TransportError, OfflineModeIsEnabled) as exc:
        raise HubUnavailable(f"cannot reach {_host(url)}: {exc or type(exc).__name__}") from exc


def read_remote_gguf_header(
    url: str,
    *,
    token: str | bool | None = None,
    start_bytes: int = START_BYTES,
    max_bytes: int = MAX_BYTES,
    timeout: float = TIMEOUT_S,
) -> GGUFHeader:
    """Read a GGUF header from an http(s) URL, fetching as few bytes as the header needs.

    ``token``: as in huggingface_hub (``None`` uses the saved token, ``False`` sends none).
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    headers = build_hf_headers(token=token)
    buf = bytearray()
    total: int | None = None
    window = min(start_bytes, max_bytes)
    name = url.rsplit("/", 1)[-1]
    while True:
        if total is None or len(buf) < total:
            chunk, size = _fetch(url, len(buf), window - 1, headers, timeout)
            total = size if size is not None else total
            buf += chunk
            if not chunk and total is None:
                total = len(buf)  # the server sent nothing more: that is the whole file
        try:
            return parse_gguf_prefix(bytes(buf), total)
        except NeedMoreBytes as more:
            if total is not None and len(buf) >= total:
                raise InvalidGGUF(f"{name}: truncated GGUF") from None
            if more.needed > max_bytes:
                raise InvalidGGUF(
                    f"{name}: the GGUF header needs more than {max_bytes // (1024 * 1024)} MiB "
                    f"(at least {more.needed} bytes); giving up"
                ) from None
            window = min(max(window * 2, more.needed), max_bytes)
        except InvalidGGUF as exc:
            raise InvalidGGUF(f"{name}: {exc}") from None


def read_remote_split_header(urls: Sequence[str], *, token: str | bool | None = None) -> GGUFHeader:
    """Headers of every shard of a split model, merged (metadata from the first shard)."""
    headers = [read_remote_gguf_header(u, token=token) for u in urls]
    if len(headers) == 1:
        return headers[0]
    return merge_split_headers(headers, [u.rsplit("/", 1)[-1] for u in urls])


__all__ = [
    "MAX_BYTES",
    "START_BYTES",
    "HfHubHTTPError",
    "HubUnavailable",
    "hub_file_url",
    "read_remote_gguf_header",
    "read_remote_split_header",
]
