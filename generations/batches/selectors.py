"""Reads for batches: a project's batches with their progress, one batch (a draft's plan
with its estimate, or a queued batch's progress), and its generations by state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from generations.batches.planning import Row
from generations.models import Batch, Generation, Project
from generations.paging import KeysetPage, keyset_page
from generations.permissions import visible_generations, visible_projects
from generations.selectors import with_card_data
from generations.spend import budgets
from generations.states import QUEUED, RENDERING, State
from generations.types import User

ITEMS_PER_PAGE = 48
LIST_LIMIT = 50


@dataclass
class Progress:
    """How many of a batch's generations are in each state."""

    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def working(self) -> int:
        """Queued or rendering (a worker still has something to do)."""
        return sum(self.counts[state] for state in QUEUED | RENDERING)

    @property
    def in_review(self) -> int:
        return self.counts[State.IN_REVIEW]

    @property
    def done_percent(self) -> int:
        return 100 if not self.total else round(100 * (self.total - self.working) / self.total)

    @property
    def states(self) -> list[tuple[str, str, int]]:
        """(state, label, count) for the states present, in the machine's order."""
        return [(s.value, s.label, self.counts[s]) for s in State if self.counts[s]]


def batches_of(*, user: User, project: Project) -> list[Batch]:
    """The project's queued batches and my drafts, newest first, each with `progress`."""
    rows = list(
        Batch.objects.filter(project=project)
        .filter(Q(status=Batch.Status.QUEUED) | Q(created_by=user.pk))
        .select_related("created_by")
        .defer("rows", "refused")
        .order_by("-created_at", "-pk")[:LIST_LIMIT]
    )
    progress = _progress({batch.pk for batch in rows if not batch.is_draft})
    for batch in rows:
        batch.progress = progress.get(batch.pk, Progress())  # type: ignore[attr-defined]
    return rows


def _progress(batch_ids: set[int]) -> dict[int, Progress]:
    if not batch_ids:
        return {}
    found: dict[int, Progress] = {}
    counts = (
        Generation.objects.filter(submission__batch_id__in=batch_ids)
        .values_list("submission__batch_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for batch_id, state, n in counts:
        found.setdefault(batch_id, Progress()).counts[state] = n
    return found


def batch_get(*, user: User, pk: int) -> Batch:
    """A batch of a project the user sees (a draft: only its author), or 404."""
    batch = (
        Batch.objects.select_related("project", "created_by")
        .filter(pk=pk, project__in=visible_projects(user))
        .first()
    )
    if batch is None or (batch.is_draft and batch.created_by_id != user.pk):
        raise Http404("No such batch.")
    return batch


def batch_progress(*, batch: Batch) -> Progress:
    return _progress({batch.pk}).get(batch.pk, Progress())


@dataclass(frozen=True)
class DraftView:
    rows: list[Row]
    refused: list[dict[str, Any]]
    estimate: budgets.BatchEstimate


def batch_draft(*, batch: Batch, user: User) -> DraftView:
    rows = [Row.from_json(data) for data in batch.rows]
    estimate = budgets.batch_estimate(
        project=batch.project,
        user=user,
        rows=[(row.model_key, row.preview_size, row.variants) for row in rows],
    )
    return DraftView(rows=rows, refused=list(batch.refused), estimate=estimate)


def batch_generations(
    *, user: User, batch: Batch, state: str = "", after: str | None = None
) -> KeysetPage[Generation]:
    """The batch's generations in row order (one created_at: the id breaks the tie),
    optionally in one state; keyset pages."""
    rows: QuerySet[Generation] = visible_generations(user).filter(submission__batch=batch)
    if state in State.values:
        rows = rows.filter(state=state)
    return keyset_page(with_card_data(rows), per_page=ITEMS_PER_PAGE, descending=False, after=after)
