"""A fake of Gemini's Batch API, served by the fake provider server (its `router`).

It speaks the protocol as documented (ai.google.dev/api/batch-mode): create with
`POST /{version}/models/{model}:batchGenerateContent` (inlined requests, each tagged with
a metadata key) answers an operation `batches/N` in BATCH_STATE_PENDING; each
`GET /{version}/batches/N` moves the job one step along its plan (by default pending →
running → succeeded) and, once it has ended, carries the output in `response`:
`inlinedResponses.inlinedResponses[]` in request order — an image at the size asked for,
or, for the items told so, a blocked answer (`promptFeedback.blockReason`) or the item's
own `error` — or a `responsesFile` downloaded as JSONL from
`/download/{version}/files/…:download?alt=media`. `GET /{version}/batches` lists every
job (how a lost job is found by its displayName).
"""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from generations.sizes import pixel_size
from tests.support.fakes import png_bytes
from tests.support.provider_server import GEMINI_USAGE, Recorded, Reply, json_reply

_CREATE = re.compile(r"^/(v1|v1beta)/models/([^/:]+):batchGenerateContent$")
_GET = re.compile(r"^/(v1|v1beta)/batches/(\d+)$")
_LIST = re.compile(r"^/(v1|v1beta)/batches$")
_DOWNLOAD = re.compile(r"^/download/(v1|v1beta)/files/(batch-\d+-responses):download$")
_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch"


@functools.lru_cache(maxsize=8)
def _png_b64(width: int, height: int) -> str:
    """One real PNG per size, made once (a 2K PNG takes Pillow a while)."""
    return base64.b64encode(png_bytes(width, height)).decode("ascii")


@dataclass
class FakeJob:
    number: int
    display_name: str
    model: str
    requests: list[dict[str, Any]]  # as sent: {"request": …, "metadata": {"key": …}}
    plan: list[str]
    step: int = 0
    polls: int = 0

    @property
    def state(self) -> str:
        return self.plan[min(self.step, len(self.plan) - 1)]

    @property
    def keys(self) -> list[str]:
        return [r["metadata"]["key"] for r in self.requests]


@dataclass
class FakeBatchService:
    """Jobs move along `plan`; item `outcomes` by position ("blocked", "failed") apply to
    every job; `responses_file` makes finished jobs answer with a JSONL file."""

    plan: list[str] = field(default_factory=lambda: ["PENDING", "RUNNING", "SUCCEEDED"])
    outcomes: dict[int, str] = field(default_factory=dict)
    responses_file: bool = False
    jobs: list[FakeJob] = field(default_factory=list)
    creates: int = 0
    polls: int = 0
    lists: int = 0
    downloads: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Recorded) -> Reply | None:
        with self._lock:
            if request.method == "POST" and (match := _CREATE.match(request.path)):
                return self._create(match.group(2), request.json)
            if request.method == "GET" and (match := _GET.match(request.path)):
                return self._poll(int(match.group(2)))
            if request.method == "GET" and _LIST.match(request.path):
                self.lists += 1
                return json_reply({"operations": [self._operation(j) for j in self.jobs]})
            if request.method == "GET" and request.path == "/__stats":
                # What the service was asked, for a benchmark running it in a process of its own.
                stats = {
                    "creates": self.creates,
                    "polls": self.polls,
                    "lists": self.lists,
                    "downloads": self.downloads,
                    "items": sum(len(job.requests) for job in self.jobs),
                }
                return json_reply(stats)
            if request.method == "GET" and (match := _DOWNLOAD.match(request.path)):
                self.downloads += 1
                number = int(match.group(2).split("-")[1])
                return self._download(self.jobs[number - 1])
        return None

    # --- the protocol --------------------------------------------------------------------

    def _create(self, model: str, body: dict[str, Any]) -> Reply:
        batch = body["batch"]
        self.creates += 1
        job = FakeJob(
            number=len(self.jobs) + 1,
            display_name=batch["displayName"],
            model=model,
            requests=batch["inputConfig"]["requests"]["requests"],
            plan=list(self.plan),
        )
        self.jobs.append(job)
        return json_reply(self._operation(job))

    def _poll(self, number: int) -> Reply:
        self.polls += 1
        if not 0 < number <= len(self.jobs):
            return json_reply(
                {"error": {"code": 404, "status": "NOT_FOUND", "message": "no such batch"}},
                status=404,
            )
        job = self.jobs[number - 1]
        job.polls += 1
        job.step += 1
        return json_reply(self._operation(job, output=True))

    def _operation(self, job: FakeJob, *, output: bool = False) -> dict[str, Any]:
        ended = job.state in ("SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED")
        operation: dict[str, Any] = {
            "name": f"batches/{job.number}",
            "metadata": {
                "@type": _TYPE,
                "model": f"models/{job.model}",
                "displayName": job.display_name,
                "state": f"BATCH_STATE_{job.state}",
                "batchStats": {"requestCount": str(len(job.requests))},
            },
        }
        if ended:
            operation["done"] = True
        if job.state == "FAILED":
            operation["error"] = {"code": 13, "message": "The batch could not be processed."}
        if output and job.state == "SUCCEEDED":
            if self.responses_file:
                operation["response"] = {
                    "@type": _TYPE + "Output",
                    "responsesFile": f"files/batch-{job.number}-responses",
                }
            else:
                operation["response"] = {
                    "@type": _TYPE + "Output",
                    "inlinedResponses": {
                        "inlinedResponses": [
                            {"metadata": r["metadata"], **self._answer(i, r["request"])}
                            for i, r in enumerate(job.requests)
                        ]
                    },
                }
        return operation

    def _download(self, job: FakeJob) -> Reply:
        lines = [
            json.dumps({"key": r["metadata"]["key"], **self._answer(i, r["request"])})
            for i, r in enumerate(job.requests)
        ]
        return Reply(body="\n".join(lines).encode() + b"\n", content_type="application/jsonl")

    def _answer(self, index: int, request: dict[str, Any]) -> dict[str, Any]:
        outcome = self.outcomes.get(index, "image")
        if outcome == "failed":
            return {"error": {"code": 13, "message": "Internal error while rendering."}}
        if outcome == "blocked":
            return {"response": {"promptFeedback": {"blockReason": "SAFETY"}}}
        config = request["generationConfig"]["imageConfig"]
        width, height = pixel_size(
            aspect_ratio=config["aspectRatio"], size=config.get("imageSize", "1K")
        )
        data = _png_b64(width, height)
        return {
            "response": {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [{"inlineData": {"mimeType": "image/png", "data": data}}],
                        },
                        "finishReason": "STOP",
                    }
                ],
                "usageMetadata": GEMINI_USAGE,
                "modelVersion": "gemini-3-pro-image",
            }
        }
