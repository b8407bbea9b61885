"""The economy lane's provider interface: batch jobs (DESIGN.md, "Lanes for a final").

A batch provider takes many render requests in one job, each tagged with our own key,
and answers later: the job moves pending → running → succeeded (or failed, cancelled,
expired), and a succeeded job gives one outcome per key — an image, or that item's own
error (a block, a failure). The job itself carries our display name, so a job whose
creation we lost in a crash is found again by it (`find`), never created twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from generations.providers.base import ProviderError, RenderRequest, RenderResult


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def ended(self) -> bool:
        return self not in (JobState.PENDING, JobState.RUNNING)


@dataclass(frozen=True)
class BatchItem:
    key: str  # ours: the metadata key the answer comes back with
    request: RenderRequest


@dataclass
class JobStatus:
    """What a poll says about a job."""

    name: str  # the provider's id, e.g. "batches/123"
    state: JobState
    raw_state: str = ""  # as the provider wrote it, e.g. "BATCH_STATE_RUNNING"
    display_name: str = ""
    error: str = ""  # why a failed job failed
    responses_file: str = ""  # set when the output is a file (large jobs)
    # The answer of a succeeded job with inlined responses (the parsed document; read
    # once by `results`, which empties it as it goes).
    output: dict[str, Any] = field(default_factory=dict, repr=False)


# One item's outcome: our key, and an image or that item's own error.
Outcome = tuple[str, RenderResult | ProviderError]


class BatchProvider(Protocol):
    name: str

    def create(self, *, display_name: str, items: list[BatchItem]) -> JobStatus: ...

    def find(self, *, display_name: str) -> JobStatus | None: ...

    def get(self, name: str) -> JobStatus: ...

    def results(self, status: JobStatus) -> Iterator[Outcome]: ...
