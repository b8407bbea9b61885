"""The local provider's simulation of a batch API (the economy lane without a key).

It behaves as Gemini's Batch API does, only faster, so `make run` can show the economy
lane end to end and the poller is exercised on the same code path:
- a job is a file under settings.STUDIO_LOCAL_ECONOMY_DIR (it outlives the process that
  created it, as a provider's job outlives our worker): our display name, when it was
  created, and each item's request (prompt, seed, size, input images);
- its state follows the clock: pending for the first quarter of
  STUDIO_LOCAL_ECONOMY_SECONDS, running until they are over, then succeeded;
- its items are rendered by the local provider's picture (the same bytes as the standard
  lane's for the same request: a final made from the approved preview keeps it), one at
  a time as the results are read; an item fails on its own (a retryable error, as
  Gemini's per-item `error`) with the probability STUDIO_LOCAL_ECONOMY_FAILURE_RATE,
  decided by its key (the same item fails however often the results are read).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from django.conf import settings

from generations.providers.base import (
    InputImage,
    InputRole,
    InvalidRequest,
    RenderRequest,
    RenderResult,
    ServerError,
)
from generations.providers.batch import BatchItem, JobState, JobStatus, Outcome
from generations.providers.local import render_png

_PREFIX: Final = "batches/local-"


class LocalBatchProvider:
    name = "local"

    def __init__(
        self,
        *,
        directory: Path | None = None,
        seconds: float | None = None,
        failure_rate: float | None = None,
        clock: Any = time.time,
    ) -> None:
        self.directory = Path(directory or settings.STUDIO_LOCAL_ECONOMY_DIR)
        self.seconds = float(settings.STUDIO_LOCAL_ECONOMY_SECONDS if seconds is None else seconds)
        self.failure_rate = float(
            settings.STUDIO_LOCAL_ECONOMY_FAILURE_RATE if failure_rate is None else failure_rate
        )
        self._clock = clock

    def create(self, *, display_name: str, items: list[BatchItem]) -> JobStatus:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{_PREFIX}{uuid.uuid4().hex}"
        job = {
            "name": name,
            "displayName": display_name,
            "createdAt": self._clock(),
            "seconds": self.seconds,
            "failureRate": self.failure_rate,
            "items": [{"key": item.key, "request": _request_json(item.request)} for item in items],
        }
        path = self._path(name)
        partial = path.with_suffix(".part")
        partial.write_text(json.dumps(job))
        partial.replace(path)  # atomic: a job is there whole or not at all
        return self._status(job)

    def find(self, *, display_name: str) -> JobStatus | None:
        if not self.directory.exists():
            return None
        for path in sorted(self.directory.glob("local-*.json")):
            job = json.loads(path.read_text())
            if job.get("displayName") == display_name:
                return self._status(job)
        return None

    def get(self, name: str) -> JobStatus:
        return self._status(self._load(name))

    def results(self, status: JobStatus) -> Iterator[Outcome]:
        job = self._load(status.name)
        rate = float(job.get("failureRate", 0))
        for item in job["items"]:
            key = str(item["key"])
            if _fails(key, rate):
                yield (
                    key,
                    ServerError(
                        "Simulated batch item failure (code 13, INTERNAL): the local simulation "
                        "of the Batch API could not render this item."
                    ),
                )
                continue
            request = _request_from(item["request"])
            data = render_png(
                prompt=request.prompt,
                seed=request.seed,
                aspect_ratio=request.aspect_ratio,
                width=request.width,
                height=request.height,
                input_images=request.input_images,
            )
            yield (
                key,
                RenderResult(
                    data=data,
                    mime_type="image/png",
                    width=request.width,
                    height=request.height,
                    meta={"provider": self.name, "lane": "batch", "job": status.name},
                ),
            )

    # --- helpers -----------------------------------------------------------------------

    def _status(self, job: dict[str, Any]) -> JobStatus:
        elapsed = self._clock() - float(job["createdAt"])
        seconds = float(job.get("seconds", self.seconds))
        if elapsed < seconds / 4:
            state = JobState.PENDING
        elif elapsed < seconds:
            state = JobState.RUNNING
        else:
            state = JobState.SUCCEEDED
        return JobStatus(
            name=str(job["name"]),
            state=state,
            raw_state=f"BATCH_STATE_{state.upper()}",
            display_name=str(job.get("displayName", "")),
        )

    def _path(self, name: str) -> Path:
        if not name.startswith(_PREFIX) or not name[len(_PREFIX) :].isalnum():
            raise InvalidRequest(f"{name!r} is not a local batch job.")
        return self.directory / f"{name.removeprefix('batches/')}.json"

    def _load(self, name: str) -> dict[str, Any]:
        path = self._path(name)
        if not path.exists():
            raise InvalidRequest(f"The local batch job {name} does not exist.")
        job: dict[str, Any] = json.loads(path.read_text())
        return job


def _fails(key: str, rate: float) -> bool:
    draw = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32
    return draw < rate


def _request_json(request: RenderRequest) -> dict[str, Any]:
    return {
        "prompt": request.prompt,
        "model_id": request.model_id,
        "aspect_ratio": request.aspect_ratio,
        "size": request.size,
        "width": request.width,
        "height": request.height,
        "seed": request.seed,
        "instruction": request.instruction,
        "inputs": [
            {
                "data": base64.b64encode(image.data).decode("ascii"),
                "mime_type": image.mime_type,
                "width": image.width,
                "height": image.height,
                "role": image.role.value,
            }
            for image in request.input_images
        ],
    }


def _request_from(raw: dict[str, Any]) -> RenderRequest:
    return RenderRequest(
        prompt=raw["prompt"],
        model_id=raw["model_id"],
        aspect_ratio=raw["aspect_ratio"],
        size=raw["size"],
        width=int(raw["width"]),
        height=int(raw["height"]),
        seed=int(raw["seed"]),
        timeout_s=0,
        instruction=raw.get("instruction", ""),
        input_images=tuple(
            InputImage(
                data=base64.b64decode(image["data"]),
                mime_type=image["mime_type"],
                width=int(image["width"]),
                height=int(image["height"]),
                role=InputRole(image["role"]),
            )
            for image in raw.get("inputs", [])
        ),
    )
