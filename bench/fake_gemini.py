"""A fake Gemini `:generateContent` server for benchmarks, on loopback only.

Every POST is answered with one prebuilt Gemini-shaped JSON body (a real PNG, base64, in
`candidates[0].content.parts[0].inlineData`) after a delay taken from the model id in
the path (`…/models/bench-60s:generateContent` waits 60 s; otherwise `--delay`), plus
up to `--spread` seconds at random. It
counts the requests it is holding, which is the honest "in flight" figure: a request
counts from the moment its body has arrived until its answer starts going out.

    python -m bench.fake_gemini --payload image.png [--delay 60]

prints `port <n>` once listening; `GET /stats` returns the counters as JSON, `GET /reset`
zeroes them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

HOST = "127.0.0.1"  # never anything else: benchmark traffic stays on this machine
CHUNK = 256 * 1024  # write answers in slices, so asyncio never buffers a whole copy
_DELAY_IN_PATH = re.compile(r"/models/bench-(\d+(?:\.\d+)?)s:generateContent")


@dataclass
class Stats:
    received: int = 0
    holding: int = 0  # requests waiting for their delay to pass: the in-flight count
    max_holding: int = 0
    answering: int = 0  # answers started (some may still be streaming)
    answered: int = 0


def gemini_body(image: bytes, *, mime_type: str = "image/png") -> bytes:
    document = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"inlineData": {"mimeType": mime_type, "data": ""}}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 2000},
        "modelVersion": "bench",
        "responseId": "bench-response",
    }
    # Splice the base64 in as bytes: a json.dumps of an 8 MB string would copy it twice.
    head, tail = json.dumps(document).encode().split(b'"data": ""')
    return head + b'"data": "' + base64.b64encode(image) + b'"' + tail


class FakeGemini:
    def __init__(self, body: bytes, *, delay_s: float, spread_s: float = 0.0) -> None:
        self.body, self.delay_s, self.spread_s, self.stats = body, delay_s, spread_s, Stats()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: a killed worker, or the end of a run
        finally:
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        request_line = await reader.readline()
        if not request_line:
            return False
        method, path, _ = request_line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        await reader.readexactly(int(headers.get("content-length") or 0))
        if method == "GET" and path in ("/stats", "/reset"):
            if path == "/reset":  # a new run: counters from zero
                held = self.stats.holding
                self.stats = Stats(holding=held, max_holding=held)
            await self._answer(writer, json.dumps(asdict(self.stats)).encode())
        elif method == "POST" and path.endswith(":generateContent"):
            self.stats.received += 1
            self.stats.holding += 1
            self.stats.max_holding = max(self.stats.max_holding, self.stats.holding)
            try:
                await asyncio.sleep(self._delay(path))
            finally:
                self.stats.holding -= 1
            self.stats.answering += 1
            await self._answer(writer, self.body)
            self.stats.answered += 1
        else:
            await self._answer(writer, b'{"error": {"code": 404}}', status="404 Not Found")
        return True

    def _delay(self, path: str) -> float:
        match = _DELAY_IN_PATH.search(path)
        delay = float(match.group(1)) if match else self.delay_s
        # Real answers do not all come back in one instant; --spread says how far apart.
        return delay + random.uniform(0, self.spread_s) if delay else 0.0

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, body: bytes, status: str = "200 OK") -> None:
        head = (
            f"HTTP/1.1 {status}\r\ncontent-type: application/json; charset=UTF-8\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode())
        view = memoryview(body)
        for start in range(0, len(body), CHUNK):
            writer.write(view[start : start + CHUNK])
            await writer.drain()


async def serve(body: bytes, *, delay_s: float, spread_s: float = 0.0, port: int = 0) -> None:
    fake = FakeGemini(body, delay_s=delay_s, spread_s=spread_s)
    server = await asyncio.start_server(fake.handle, HOST, port, backlog=1024)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payload", type=Path, required=True, help="the PNG every answer holds")
    parser.add_argument("--delay", type=float, default=60.0, help="seconds before answering")
    parser.add_argument("--spread", type=float, default=0.0, help="plus 0..spread seconds")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    body = gemini_body(args.payload.read_bytes())
    asyncio.run(serve(body, delay_s=args.delay, spread_s=args.spread, port=args.port))


if __name__ == "__main__":
    main()
