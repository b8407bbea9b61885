"""What the hosted providers share: the httpx client, per-attempt timeouts, a body reader
that keeps memory near the size of the image, transport-error mapping and redaction.

Memory: a 4K answer is 8–30 MB of base64 inside JSON. Holding the raw bytes, the decoded
text, the parsed document and the decoded image at once would cost ~5× the image; here
at most two base64-sized copies live together: 2 × 4/3 ≈ 2.67× the image, as measured by
test_a_large_response_peaks_under_three_times_the_image (Gemini and OpenAI tests).
"""

from __future__ import annotations

import binascii
import datetime as dt
import email.utils
import io
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pybase64
from PIL import Image

from generations.catalog import ModelEntry
from generations.providers.base import (
    AuthFailed,
    InvalidRequest,
    MalformedResponse,
    RenderRequest,
    ServerError,
    Timeout,
)

CONNECT_TIMEOUT_S: Final = 10.0
WRITE_TIMEOUT_S: Final = 30.0
POOL_TIMEOUT_S: Final = 10.0
# A 4K PNG in base64 is ~30 MB; far above that is a broken or hostile server.
MAX_BODY_BYTES: Final = 256 * 1024 * 1024
# Error bodies are small JSON; more than this is read no further (and not parsed).
MAX_ERROR_BYTES: Final = 256 * 1024
MAX_MESSAGE_CHARS: Final = 300
REDACTED: Final = "[redacted]"
USER_AGENT: Final = "proof-studio/0.1 (+httpx)"

_MAGIC: Final = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))

_clients: dict[tuple[int, str], httpx.Client] = {}
_clients_lock = threading.Lock()


def new_client(*, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    # No client-wide timeout: every attempt passes its own (attempt_timeout).
    return httpx.Client(
        transport=transport,
        headers={"user-agent": USER_AGENT},
        follow_redirects=False,  # a redirect would carry the key header elsewhere
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
    )


def shared_client(base_url: str) -> httpx.Client:
    """One client (one connection pool) per base URL per process.

    Keyed by pid as well: a client made before Celery's prefork fork must not be shared
    by the children, whose sockets would interleave.
    """
    key = (os.getpid(), base_url)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = new_client()
        return client


def close_clients() -> None:
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def attempt_timeout(timeout_s: float) -> httpx.Timeout:
    """Connect and pool waits are short; the read waits as long as the attempt may take."""
    return httpx.Timeout(
        connect=min(CONNECT_TIMEOUT_S, timeout_s),
        read=timeout_s,
        write=WRITE_TIMEOUT_S,
        pool=min(POOL_TIMEOUT_S, timeout_s),
    )


def api_key(model: ModelEntry) -> str | None:
    """The key, read now from the variable the entry names (None when it names none)."""
    if not model.api_key_env:
        return None
    key = os.environ.get(model.api_key_env, "")
    if not key:
        raise AuthFailed(f"{model.api_key_env} is not set: {model.label} has no API key.")
    return key


def require_size(model: ModelEntry, request: RenderRequest) -> None:
    if request.size not in model.sizes:
        raise InvalidRequest(
            f"{model.label} renders {', '.join(model.sizes)} only; "
            f"it cannot make a {request.size} image."
        )


@dataclass
class RawResponse:
    status: int
    headers: httpx.Headers
    body: bytearray  # handed over: whoever parses it should clear() it


# A multipart file part: (form field name, (file name, bytes, content type)).
FilePart = tuple[str, tuple[str, bytes, str]]


def post_json(
    client: httpx.Client,
    url: str,
    *,
    payload: Mapping[str, Any],
    headers: Mapping[str, str],
    timeout_s: float,
    service: str,
) -> RawResponse:
    """POST JSON and read the whole answer, streamed into one buffer, within timeout_s."""
    return _post(client, url, headers=headers, timeout_s=timeout_s, service=service, json=payload)


def post_multipart(
    client: httpx.Client,
    url: str,
    *,
    fields: Mapping[str, str],
    files: Sequence[FilePart],
    headers: Mapping[str, str],
    timeout_s: float,
    service: str,
) -> RawResponse:
    """POST multipart/form-data (fields, then file parts in order) and read the answer."""
    return _post(
        client,
        url,
        headers=headers,
        timeout_s=timeout_s,
        service=service,
        data=dict(fields),
        files=list(files),
    )


def get(
    client: httpx.Client,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    service: str,
    params: Mapping[str, str] | None = None,
) -> RawResponse:
    """GET and read the whole answer (a batch job's status, with its inlined results)."""
    return _send(
        client, "GET", url, headers=headers, timeout_s=timeout_s, service=service, params=params
    )


def _post(
    client: httpx.Client,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    service: str,
    **content: Any,
) -> RawResponse:
    return _send(
        client, "POST", url, headers=headers, timeout_s=timeout_s, service=service, **content
    )


def _send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    service: str,
    **content: Any,
) -> RawResponse:
    deadline = time.monotonic() + timeout_s
    stream = client.stream(
        method, url, headers=dict(headers), timeout=attempt_timeout(timeout_s), **content
    )
    with transport_errors(service, timeout_s), stream as response:
        ok = response.status_code == httpx.codes.OK
        body = _read_body(
            response,
            limit=MAX_BODY_BYTES if ok else MAX_ERROR_BYTES,
            truncate=not ok,
            deadline=deadline,
            service=service,
            timeout_s=timeout_s,
        )
    return RawResponse(response.status_code, response.headers, body)


def _read_body(
    response: httpx.Response,
    *,
    limit: int,
    truncate: bool,
    deadline: float,
    service: str,
    timeout_s: float,
) -> bytearray:
    # One buffer, never a list of chunks plus their join: a second copy of a 30 MB body
    # is exactly what the memory budget cannot afford. Sized up front when the length is
    # known, so it is not over-allocated by growing either.
    body = bytearray(_declared_length(response, limit))
    filled = 0
    for chunk in response.iter_bytes():
        end = filled + len(chunk)
        if end <= len(body):
            body[filled:end] = chunk  # same length: copied in place
        else:
            del body[filled:]
            body += chunk
        filled = end
        if filled > limit:
            if truncate:
                del body[limit:]
                return body
            raise MalformedResponse(
                f"{service} sent more than {limit // 2**20} MB; refusing the response."
            )
        # httpx's read timeout is per read; a server trickling bytes would never trip it.
        if time.monotonic() > deadline:
            raise Timeout(f"{service} took longer than {timeout_s:g} s to send its answer.")
    del body[filled:]  # a body cut short (httpx raises first) or an empty one
    return body


def _declared_length(response: httpx.Response, limit: int) -> int:
    """Content-Length when it is the length of what iter_bytes yields (no compression)."""
    if response.headers.get("content-encoding", "identity") != "identity":
        return 0
    try:
        length = int(response.headers.get("content-length", ""))
    except ValueError:
        return 0
    return length if 0 <= length <= limit else 0


@contextmanager
def transport_errors(service: str, timeout_s: float) -> Iterator[None]:
    """httpx exceptions as provider errors. Messages name the failure, never the request
    (whose headers hold the key) and never str(exc) (which may quote the URL)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        phase = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for the answer",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "talking to it")
        raise Timeout(
            f"No answer from {service} within {timeout_s:g} s (timed out {phase})."
        ) from None
    except httpx.ConnectError:
        raise ServerError(f"Could not connect to {service}.") from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError):
        raise ServerError(
            f"The connection to {service} broke before the answer was complete."
        ) from None
    except httpx.DecodingError:
        raise MalformedResponse(f"{service} sent a body that could not be decoded.") from None
    except httpx.HTTPError as exc:
        raise ServerError(f"Talking to {service} failed ({type(exc).__name__}).") from None


def take_json(body: bytearray, *, service: str) -> Any:
    """Parse a JSON body, emptying the buffer as soon as its text exists.

    json.loads(bytes) would hold the bytes, their text and the parsed strings at once
    (3× the body); decoding first and clearing the buffer keeps it to 2×.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedResponse(f"{service} sent a body that is not UTF-8 JSON.") from None
    finally:
        body.clear()
    try:
        return json.loads(text)
    except ValueError:
        raise MalformedResponse(f"{service} sent a body that is not valid JSON.") from None


def decode_base64(data: Any, *, service: str) -> bytes:
    """Base64 text to bytes, read from the ASCII str in place (no bytes copy).

    pybase64's SIMD decoder: ~6 ms for a 4K answer's 34 MB against ~40 ms for binascii
    (docs/benchmarks.md, Image ingest). It refuses all that binascii's strict mode refuses
    (and a stray "=" after complete data, which the lenient pass below then accepts, as
    before)."""
    if not isinstance(data, str) or not data:
        raise MalformedResponse(f"{service} sent an image without data.")
    try:
        return pybase64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        pass
    # Not strict base64: perhaps line-wrapped. The lenient decoder skips stray characters,
    # so garbage has to be caught by what it yields (rendering then checks the image).
    try:
        image = binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        image = b""
    if not image:
        raise MalformedResponse(f"{service} sent image data that is not valid base64.")
    return image


def header_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the image header, (0, 0) when there is no readable header."""
    try:
        with Image.open(io.BytesIO(data)) as image:  # lazy: no pixel is decoded
            return image.size
    except Exception:  # noqa: BLE001 - any failure here is rendering's to report
        return 0, 0


def sniff_mime(data: bytes) -> str:
    """The mime type the bytes say they are, for providers that do not declare one."""
    for magic, mime_type in _MAGIC:
        if data.startswith(magic):
            return mime_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


def error_json(body: bytearray) -> dict[str, Any]:
    """The {"error": {...}} object of an error body, or {} when there is none."""
    try:
        document = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        return {}
    error = document.get("error") if isinstance(document, dict) else None
    return error if isinstance(error, dict) else {}


def retry_after_header(headers: httpx.Headers) -> float | None:
    """`retry-after-ms` (OpenAI) before `retry-after` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def safe_text(value: Any, secret: str | None, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Provider text fit for a designer's screen: one line, bounded, key redacted."""
    text = " ".join(str(value or "").split())
    if secret:
        text = text.replace(secret, REDACTED)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, REDACTED) if secret else text
