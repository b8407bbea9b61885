"""Reads for the review canvas: one item of the review queue shown large, the other
variants of its prompt as a strip, where it stands in the queue (with the queue's filters)
and what approving it would cost against the budget it counts against."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import QuerySet
from django.http import Http404

from generations.lanes import Lane
from generations.models import Generation, Project
from generations.paging import Cursor, beyond
from generations.permissions import visible_generations
from generations.review.selectors import (
    LaneChoice,
    approval_lanes,
    approval_price,
    generations_in_review,
    review_item,
)
from generations.selectors import with_card_data
from generations.spend import budgets
from generations.states import State
from generations.types import User


@dataclass
class ReviewCanvas:
    """The item in front of the reviewer (None: nothing waits), its prompt's variants in
    variant order (itself included), and its place in the filtered queue."""

    item: Generation | None
    count: int  # waiting with the filters
    position: int = 0  # 1-based place of `item` among those waiting (0: not waiting)
    previous_id: int | None = None  # the waiting item before it, in queue order
    next_id: int | None = None  # the waiting item after it
    siblings: list[Generation] = field(default_factory=list)
    price: Decimal | None = None  # of approving it (its final at today's list price)
    # The tightest budget the approval would count against (None: no budget applies).
    budget: budgets.Standing | None = None
    ask: list[str] = field(default_factory=list)  # who can raise that budget
    lanes: LaneChoice | None = None  # now or economy, each with its price and wait

    @property
    def waiting(self) -> bool:
        return self.item is not None and self.item.state == State.IN_REVIEW

    @property
    def over_budget(self) -> bool:
        """Approving would be refused for money: the price is more than the budget has
        left (the same comparison the reservation makes)."""
        return bool(self.budget and self.price and self.price > self.budget.left)


def canvas_waiting(
    *, user: User, projects: list[Project], designer_id: int | None, batch_id: int | None
) -> QuerySet[Generation]:
    """The queue the canvas walks: what waits for the user with the queue's filters."""
    waiting = generations_in_review(user=user, projects=projects)
    if designer_id is not None:
        waiting = waiting.filter(submission__created_by_id=designer_id)
    if batch_id is not None:
        waiting = waiting.filter(submission__batch_id=batch_id)
    return waiting


def review_canvas(
    *,
    user: User,
    projects: list[Project],
    designer_id: int | None = None,
    batch_id: int | None = None,
    at: int | None = None,
    after: int | None = None,
) -> ReviewCanvas:
    """The canvas at item `at` (404 unless the user may see it in one of `projects`), or
    at the first item waiting after item `after` (wrapping round to the oldest), or at the
    oldest item waiting. Oldest first on (created_at, id), as the queue pages."""
    waiting = canvas_waiting(
        user=user, projects=projects, designer_id=designer_id, batch_id=batch_id
    )
    in_projects = [project.pk for project in projects]
    pk: int | None = None
    if at is not None:
        if not visible_generations(user).filter(pk=at, project__in=in_projects).exists():
            raise Http404("No such generation in your review.")
        pk = at
    else:
        ordered = waiting.order_by("created_at", "pk")
        if after is not None:
            decided = visible_generations(user).filter(pk=after).first()
            if decided is not None:
                pk = (
                    ordered.filter(beyond(Cursor.of(decided), descending=False))
                    .values_list("pk", flat=True)
                    .first()
                )
        if pk is None:
            pk = ordered.values_list("pk", flat=True).first()
    count = waiting.count()
    if pk is None:
        return ReviewCanvas(item=None, count=count)

    item = review_item(user=user, pk=pk)
    cursor = Cursor.of(item)
    before = waiting.filter(beyond(cursor, descending=True))
    canvas = ReviewCanvas(
        item=item,
        count=count,
        previous_id=before.order_by("-created_at", "-pk").values_list("pk", flat=True).first(),
        next_id=waiting.filter(beyond(cursor, descending=False))
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
        .first(),
        siblings=list(
            with_card_data(
                visible_generations(user).filter(submission_id=item.submission_id)
            ).order_by("variant")
        ),
    )
    if item.state == State.IN_REVIEW and waiting.filter(pk=item.pk).exists():
        canvas.position = before.count() + 1
        submission = item.submission
        canvas.price = approval_price(
            model_key=submission.final_model,
            final_size=submission.final_size,
            preview_key=submission.model_key,
            references=len(submission.references.all()),
        )
        canvas.lanes = approval_lanes(submission=submission, project=item.project)
        if canvas.lanes.default == Lane.BATCH:
            canvas.price = canvas.lanes.economy.price  # what the approval reserves
        canvas.budget = budgets.headroom(
            project_id=item.project_id, user_id=submission.created_by_id
        )
        if canvas.over_budget:
            canvas.ask = budgets.admins_to_ask(item.project_id)
    return canvas
