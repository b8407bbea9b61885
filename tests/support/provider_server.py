"""A fake hosted provider on loopback that speaks both wire formats (Gemini
`:generateContent` and OpenAI-compatible `/v1/images/generations` and, multipart,
`/v1/images/edits`), scripted per call.

Each request takes the next scripted reply from a queue. A reply is a `Reply` (status,
headers, body, optional delay or a connection reset part-way through the body) or a
callable `(Recorded) -> Reply` that builds one from the request, e.g. an image at the
exact size asked for. Every request is recorded raw — method, path, query, headers, the
body's bytes as they arrived and which connection it came on — so tests can check the
bytes on the wire, that the key is in a header and never in the URL, and that
connections are reused. `Recorded` reads the body as JSON, as Gemini's inline images
(`inline_images`) or as a multipart form (`form`).

Builders below make the replies a real server sends, with real PNGs made by Pillow.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from generations.sizes import pixel_size
from tests.support.fakes import png_bytes


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=UTF-8"
    delay_s: float = 0.0  # wait this long before answering (a render slower than a timeout)
    reset_after: int | None = None  # send this many body bytes, then reset the connection


@dataclass(frozen=True)
class FormFile:
    name: str  # the form field, e.g. "image[]"
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Form:
    fields: dict[str, str]  # the text fields (each name once)
    files: list[FormFile]  # in the order they were sent


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names in lower case
    body: bytes  # exactly as it arrived (de-chunked)
    client_port: int  # one per connection: equal ports mean a reused connection

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def inline_images(self) -> list[tuple[str, bytes]]:
        """Gemini: (mimeType, decoded bytes) of each inlineData part, in order."""
        parts = self.json["contents"][0]["parts"]
        return [
            (part["inlineData"]["mimeType"], base64.b64decode(part["inlineData"]["data"]))
            for part in parts
            if "inlineData" in part
        ]

    @property
    def form(self) -> Form:
        """The multipart/form-data body, parsed strictly (a malformed one fails the test)."""
        return parse_multipart(self.headers.get("content-type", ""), self.body)


def parse_multipart(content_type: str, body: bytes) -> Form:
    match = re.fullmatch(r'multipart/form-data;\s*boundary="?([^";]+)"?', content_type)
    if match is None:
        raise AssertionError(f"not a multipart/form-data request: {content_type!r}")
    delimiter = b"--" + match.group(1).encode()
    chunks = body.split(b"\r\n" + delimiter)
    if not chunks[0].startswith(delimiter) or not chunks[-1].startswith(b"--"):
        raise AssertionError("multipart body without its opening or closing boundary")
    fields: dict[str, str] = {}
    files: list[FormFile] = []
    for chunk in [chunks[0].removeprefix(delimiter), *chunks[1:-1]]:
        head, separator, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            raise AssertionError(f"a multipart part without headers: {chunk[:80]!r}")
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in head.decode().split("\r\n"))
        )
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if name is None:
            raise AssertionError(f"a multipart part without a name: {disposition!r}")
        if filename is None:
            if name.group(1) in fields:
                raise AssertionError(f"field {name.group(1)!r} sent twice")
            fields[name.group(1)] = data.decode()
        else:
            content = headers.get("content-type", "")
            files.append(FormFile(name.group(1), filename.group(1), content, data))
    return Form(fields, files)


Script = Reply | Callable[[Recorded], Reply]


class FakeProviderServer:
    def __init__(self) -> None:
        self._script: deque[Script] = deque()
        self._lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.unscripted = 0  # calls that found the script empty (each got a 500)
        # A stateful service answering what it knows before the script is read (e.g. the
        # Batch API: tests/support/batch_server.py); returns None for anything else.
        self.router: Callable[[Recorded], Reply | None] | None = None
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        # A short poll so stop() (every test's teardown) returns at once.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, *replies: Script) -> FakeProviderServer:
        with self._lock:
            self._script.extend(replies)
        return self

    @property
    def pending(self) -> int:
        return len(self._script)

    def start(self) -> FakeProviderServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends any delayed reply at once
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self, request: Recorded) -> Reply:
        if self.router is not None:
            routed = self.router(request)
            if routed is not None:
                with self._lock:
                    self.requests.append(request)
                return routed
        with self._lock:
            self.requests.append(request)
            script = self._script.popleft() if self._script else None
            if script is None:
                self.unscripted += 1
        if script is None:
            return error_reply(500, "INTERNAL", "the fake server was called more than scripted")
        return script if isinstance(script, Reply) else script(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeProviderServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets are on purpose; tracebacks on stderr would only be noise


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can reuse connections
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802 - the http.server naming
        self._answer("POST")

    def _answer(self, method: str) -> None:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
        url = urlsplit(self.path)
        recorded = Recorded(
            method=method,
            path=url.path,
            query=url.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            client_port=self.client_address[1],
        )
        fake = self.server.fake
        reply = fake._next(recorded)
        if reply.delay_s and fake._stopping.wait(reply.delay_s):
            return
        self._send(reply)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF after each chunk

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("content-type", reply.content_type)
        self.send_header("content-length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.reset_after is None:
            self.wfile.write(reply.body)
            return
        self.wfile.write(reply.body[: reply.reset_after])
        self.wfile.flush()
        # SO_LINGER 0: close() sends a TCP reset instead of an orderly end of stream.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


# --- replies: shared -------------------------------------------------------------------


def json_reply(document: Any, *, status: int = 200, **kwargs: Any) -> Reply:
    return Reply(status=status, body=json.dumps(document).encode(), **kwargs)


def malformed(body: bytes = b'{"candidates": [{"content": {"parts": [{"inlineData": ') -> Reply:
    """A 200 whose JSON stops half-way (a proxy that cut the body, a buggy gateway)."""
    return Reply(body=body)


def slow(reply: Reply, delay_s: float) -> Reply:
    return replace(reply, delay_s=delay_s)


def reset_mid_body(reply: Reply) -> Reply:
    """The same reply, but the connection is reset half-way through the body."""
    return replace(reply, reset_after=max(1, len(reply.body) // 2))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- replies: Gemini -------------------------------------------------------------------

GEMINI_USAGE = {
    "promptTokenCount": 12,
    "candidatesTokenCount": 1120,
    "totalTokenCount": 1132,
}


def gemini_path(model_id: str) -> str:
    return f"/v1beta/models/{model_id}:generateContent"


def gemini_image(
    image: bytes,
    *,
    mime_type: str = "image/png",
    thought: bytes | None = None,
    text: str | None = None,
    model_version: str = "gemini-3-pro-image-preview",
    response_id: str = "resp-fake-1",
    usage: dict[str, Any] | None = None,
) -> Reply:
    parts: list[dict[str, Any]] = []
    if text is not None:
        parts.append({"text": text})
    if thought is not None:
        # An interim image of the thinking process: must never be taken as the answer.
        parts.append(
            {"inlineData": {"mimeType": "image/png", "data": b64(thought)}, "thought": True}
        )
    parts.append({"inlineData": {"mimeType": mime_type, "data": b64(image)}})
    return json_reply(
        {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": usage or GEMINI_USAGE,
            "modelVersion": model_version,
            "responseId": response_id,
        }
    )


# What one input image costs in prompt tokens in the fake's usage (Gemini bills input
# images as tokens; the real count depends on the model and the image's size).
GEMINI_IMAGE_TOKENS = 560


def gemini_usage(request: Recorded) -> dict[str, Any]:
    """GEMINI_USAGE, or with input images, their tokens counted in the prompt as Gemini
    does (promptTokenCount includes them; promptTokensDetails splits by modality)."""
    images = len(request.inline_images)
    if not images:
        return GEMINI_USAGE
    text = GEMINI_USAGE["promptTokenCount"]
    prompt = text + images * GEMINI_IMAGE_TOKENS
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": GEMINI_USAGE["candidatesTokenCount"],
        "totalTokenCount": prompt + GEMINI_USAGE["candidatesTokenCount"],
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": text},
            {"modality": "IMAGE", "tokenCount": images * GEMINI_IMAGE_TOKENS},
        ],
    }


def gemini_requested_size(request: Recorded) -> tuple[int, int]:
    config = request.json["generationConfig"]["imageConfig"]
    return pixel_size(aspect_ratio=config["aspectRatio"], size=config.get("imageSize", "1K"))


def gemini_ok(**kwargs: Any) -> Callable[[Recorded], Reply]:
    """A PNG at exactly the published size for the aspect ratio and imageSize asked, with
    usage that counts the request's input images."""
    return lambda request: gemini_image(
        png_bytes(*gemini_requested_size(request)), usage=gemini_usage(request), **kwargs
    )


def gemini_prompt_blocked(reason: str = "SAFETY") -> Reply:
    return json_reply(
        {
            "promptFeedback": {"blockReason": reason},
            "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
            "modelVersion": "gemini-3-pro-image-preview",
            "responseId": "resp-blocked",
        }
    )


def gemini_finish(reason: str, *, text: str | None = None, message: str | None = None) -> Reply:
    """A candidate that ended without an image, for `reason` (IMAGE_SAFETY, NO_IMAGE…)."""
    candidate: dict[str, Any] = {"finishReason": reason, "index": 0}
    if text is not None:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    if message is not None:
        candidate["finishMessage"] = message
    return json_reply(
        {
            "candidates": [candidate],
            "usageMetadata": GEMINI_USAGE,
            "modelVersion": "gemini-3-pro-image-preview",
            "responseId": "resp-finish",
        }
    )


def gemini_text_only(text: str = "I can't draw that, but here is a description.") -> Reply:
    return gemini_finish("STOP", text=text)


def gemini_error(
    code: int,
    status: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    error = {"code": code, "status": status, "message": message, "details": details or []}
    return json_reply({"error": error}, status=code, headers=headers or {})


def gemini_rate_limited(retry_delay: str = "37s") -> Reply:
    return gemini_error(
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ],
    )


def gemini_daily_quota(quota_id: str = "GenerateRequestsPerDayPerProjectPerModel") -> Reply:
    return gemini_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_requests",
                        "quotaId": quota_id,
                        "quotaValue": "250",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "50s"},
        ],
    )


def gemini_unavailable() -> Reply:
    return gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


def gemini_internal() -> Reply:
    return gemini_error(500, "INTERNAL", "An internal error has occurred.")


def gemini_unauthenticated() -> Reply:
    return gemini_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")


# --- replies: OpenAI-compatible --------------------------------------------------------

OPENAI_PATH = "/v1/images/generations"
OPENAI_EDITS_PATH = "/v1/images/edits"
OPENAI_USAGE = {"input_tokens": 12, "output_tokens": 4160, "total_tokens": 4172}


def openai_image(image: bytes, *, revised_prompt: str | None = None) -> Reply:
    item: dict[str, Any] = {"b64_json": b64(image)}
    if revised_prompt is not None:
        item["revised_prompt"] = revised_prompt
    return json_reply(
        {"created": 1767225600, "data": [item], "usage": OPENAI_USAGE},
        headers={"x-request-id": "req_fake_1"},
    )


def openai_requested_size(request: Recorded) -> tuple[int, int]:
    """The "WxH" size of a generation (JSON) or an edit (multipart form)."""
    fields = request.form.fields if request.path == OPENAI_EDITS_PATH else request.json
    match = re.fullmatch(r"(\d+)x(\d+)", str(fields.get("size", "")))
    if match is None:
        raise AssertionError(f"no WxH size in {fields!r}")
    return int(match.group(1)), int(match.group(2))


def openai_ok() -> Callable[[Recorded], Reply]:
    """A PNG at exactly the "WxH" size the request asked for (generations or edits)."""
    return lambda request: openai_image(png_bytes(*openai_requested_size(request)))


def openai_error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",  # noqa: A002 - the wire name
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    error = {"message": message, "type": type, "param": param, "code": code}
    return json_reply({"error": error}, status=status, headers=headers or {})


def error_reply(status: int, google_status: str, message: str) -> Reply:
    return gemini_error(status, google_status, message)
