"""Reads for reviewers: the queue of what waits in the projects where I review, grouped by
submission with keyset pages, one item with its pins, and the price an approval will reserve.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from generations import catalog
from generations.lanes import ECONOMY_WAIT, Lane
from generations.models import (
    Batch,
    Comment,
    Generation,
    Membership,
    Project,
    Role,
    Submission,
    Transition,
)
from generations.paging import Cursor, beyond
from generations.permissions import visible_generations
from generations.selectors import with_card_data
from generations.services import MAX_VARIANTS
from generations.spend import budgets, pricing
from generations.spend.pricing import FinalPrice
from generations.states import State
from generations.strategies import UPSCALE_PRICE_KEY, Resolved, Strategy
from generations.types import User


def review_projects(*, user: User) -> list[Project]:
    """Projects where the user may decide on previews (reviewer or admin), in one query."""
    if not getattr(user, "is_authenticated", False):
        return []
    projects = Project.objects.order_by("name")
    if user.is_superuser:
        return list(projects)
    deciders = Membership.objects.filter(user=user, role__in=[Role.REVIEWER, Role.ADMIN])
    return list(projects.filter(pk__in=deciders.values("project_id")))


def generations_in_review(*, user: User, projects: list[Project]) -> QuerySet[Generation]:
    """What waits for the user's review in `projects`, oldest submission first, the
    variants of a submission together. Under "four eyes" (as the given projects say) a
    person's own generations wait for someone else, so they are not in that person's
    queue."""
    waiting = visible_generations(user).filter(
        project__in=[project.pk for project in projects], state=State.IN_REVIEW
    )
    four_eyes = [project.pk for project in projects if project.four_eyes]
    if four_eyes:  # (no join to the submissions unless some project needs it)
        waiting = waiting.exclude(project__in=four_eyes, submission__created_by=user.pk)
    return waiting


REVIEW_PER_PAGE = 20


def review_batch(*, pk: int, projects: list[Project]) -> Batch | None:
    """The queued batch the queue is narrowed to, if it is in one of `projects`."""
    return (
        Batch.objects.filter(
            pk=pk, project__in=[p.pk for p in projects], status=Batch.Status.QUEUED
        )
        .select_related("project")
        .first()
    )


def approval_price(
    *,
    model_key: str,
    final_size: str,
    strategy: str = "",
    preview_key: str = "",
    references: int = 0,
) -> Decimal | None:
    """What approving one preview costs: the price in force now of its final (on
    `model_key`, the final's model; `preview_key` the previews' when another) made by
    `strategy` ("" = the default; as the model allows), input images included — what the
    approval reserves against the budget (None when the price list has no entry)."""
    resolved = catalog.escalation(asked=strategy, model_key=model_key, preview_key=preview_key)
    return pricing.final_price(
        model_key=model_key, size=final_size, strategy=resolved.strategy, references=references
    ).total


@dataclass(frozen=True)
class StrategyOption:
    """One way to make the final, as the approval form offers it."""

    value: str  # a Strategy
    label: str
    price: Decimal | None
    note: str  # why it will be made another way ("" when it will not)


@dataclass(frozen=True)
class Escalation:
    """How an approval will make its final: the project's strategy as the model allows
    (with the note saying so, shown before anyone pays), and every option with its price."""

    default: Resolved
    options: list[StrategyOption]

    @property
    def price(self) -> Decimal | None:
        return next(o.price for o in self.options if o.value == self.default.asked)


def escalation_of(
    *,
    model_key: str,
    final_size: str,
    project_strategy: str,
    images: dict[tuple[str, str], Decimal],
    inputs: dict[str, Decimal],
    preview_key: str = "",
    references: int = 0,
) -> Escalation:
    """`model_key`: the final's model; `preview_key`: the previews' (cross-model)."""
    options = []
    for strategy in Strategy:
        resolved = catalog.escalation(asked=strategy, model_key=model_key, preview_key=preview_key)
        price = pricing.final_price_from(
            model_key=model_key,
            size=final_size,
            strategy=resolved.strategy,
            images=images,
            inputs=inputs,
            references=references,
        ).total
        options.append(StrategyOption(strategy.value, strategy.label, price, resolved.note))
    default = catalog.escalation(
        asked=project_strategy, model_key=model_key, preview_key=preview_key
    )
    return Escalation(default, options)


def approval_escalation(*, submission: Submission, project: Project) -> Escalation:
    """`escalation_of` for one submission (the generation page): two queries."""
    size = submission.final_size
    final = submission.final_model
    images = pricing.prices_in_force({(final, size), (UPSCALE_PRICE_KEY, size)})
    inputs = pricing.input_image_prices({final})
    return escalation_of(
        model_key=final,
        final_size=size,
        project_strategy=project.escalation_strategy,
        images=images,
        inputs=inputs,
        preview_key=submission.model_key,
        references=len(submission.references.all()),
    )


# --- the lane an approval sends the final by (issue 15: the economy lane) --------------


@dataclass(frozen=True)
class LaneOption:
    """One lane as the approval form offers it: its price (the final by the default
    strategy, in that lane) and the wait to expect; `note` says why it is not offered."""

    value: str  # a Lane
    label: str
    price: Decimal | None
    wait: str
    note: str = ""

    @property
    def offered(self) -> bool:
        return not self.note


@dataclass(frozen=True)
class LaneChoice:
    default: str  # the lane the approval takes unless the reviewer picks another
    options: list[LaneOption]
    note: str = ""  # why the project's default lane is not this final's

    @property
    def economy(self) -> LaneOption:
        return next(o for o in self.options if o.value == Lane.BATCH)

    @property
    def saving(self) -> Decimal | None:
        """What the economy lane saves on this final (None when it is not offered)."""
        now, economy = self.options[0].price, self.economy.price
        if not self.economy.offered or now is None or economy is None:
            return None
        return now - economy


NOW_WAIT = "starts now"


def lane_choice_of(
    *,
    model_key: str,
    final_size: str,
    project_lane: str,
    strategy: str,
    prices: dict[Lane, FinalPrice],
) -> LaneChoice:
    """The lanes for one final made by `strategy` (resolved), `prices` by lane."""
    refusal = catalog.economy_refusal(model_key=model_key, strategy=strategy)
    default, note = catalog.final_lane(
        asked="", default=project_lane, model_key=model_key, strategy=strategy
    )
    options = [
        LaneOption(Lane.STANDARD, Lane.STANDARD.label, prices[Lane.STANDARD].total, NOW_WAIT),
        LaneOption(Lane.BATCH, Lane.BATCH.label, prices[Lane.BATCH].total, ECONOMY_WAIT, refusal),
    ]
    return LaneChoice(default=default, options=options, note=note)


def approval_lanes(*, submission: Submission, project: Project, strategy: str = "") -> LaneChoice:
    """`lane_choice_of` for one submission (the generation page, the canvas)."""
    resolved = catalog.escalation(
        asked=strategy or project.escalation_strategy,
        model_key=submission.final_model,
        preview_key=submission.model_key,
    )
    prices = {
        lane: pricing.final_price(
            model_key=submission.final_model,
            size=submission.final_size,
            strategy=resolved.strategy,
            lane=lane,
            references=len(submission.references.all()),
        )
        for lane in Lane
    }
    return lane_choice_of(
        model_key=submission.final_model,
        final_size=submission.final_size,
        project_lane=project.final_lane,
        strategy=resolved.strategy,
        prices=prices,
    )


@dataclass
class ReviewGroup:
    """The variants of one submission (one prompt) waiting for review, side by side."""

    submission: Submission
    items: list[Generation]
    price: Decimal | None  # of approving one of them
    # The tightest budget the approval would count against (None: no budget applies).
    budget: budgets.Standing | None = None
    # How the final will be made (the project's strategy as the model allows), and the
    # approval form's options with their prices.
    escalation: Escalation | None = None
    # The lanes the final can go by (now, economy) with their prices and waits.
    lanes: LaneChoice | None = None

    @property
    def over_budget(self) -> bool:
        return bool(self.budget and self.price and self.price > self.budget.left)

    @property
    def project(self) -> Project:
        return self.items[0].project

    @property
    def price_all(self) -> Decimal | None:
        return None if self.price is None else self.price * len(self.items)


@dataclass
class ReviewQueue:
    groups: list[ReviewGroup]
    count: int  # everything waiting (with the filters), not only this page
    next: str | None  # cursor of the next page
    continued: bool  # a page after the first

    @property
    def items(self) -> list[Generation]:
        return [item for group in self.groups for item in group.items]


def _with_pins(queryset: QuerySet[Generation]) -> QuerySet[Generation]:
    return queryset.prefetch_related(
        Prefetch(
            "comments",
            queryset=Comment.objects.filter(image__isnull=False)
            .select_related("author")
            .order_by("created_at", "pk"),
            to_attr="pin_comments",
        )
    )


def review_queue(
    *,
    user: User,
    projects: list[Project],
    designer_id: int | None = None,
    batch_id: int | None = None,
    after: str | None = None,
    per_page: int | None = None,
) -> ReviewQueue:
    """A page of the user's review queue, grouped by submission, oldest first. Keyset
    paging on (created_at, id): deciding items never shifts what the next page shows.
    A fixed number of queries: the count, the page, its images and its pins."""
    waiting = generations_in_review(user=user, projects=projects)
    if designer_id is not None:
        waiting = waiting.filter(submission__created_by_id=designer_id)
    if batch_id is not None:
        # A batch's generations share one created_at: the id keeps them in row order.
        waiting = waiting.filter(submission__batch_id=batch_id)
    count = waiting.count()
    start = Cursor.decode(after)
    page = _with_pins(with_card_data(waiting))
    if start is not None:
        page = page.filter(beyond(start, descending=False))
    per_page = per_page or REVIEW_PER_PAGE
    rows = list(page.order_by("created_at", "pk")[: per_page + MAX_VARIANTS])
    cut = min(per_page, len(rows))
    while 0 < cut < len(rows) and rows[cut].submission_id == rows[cut - 1].submission_id:
        cut += 1
    shown = rows[:cut]
    # Prices and budgets for the whole page at once, not a lookup per group.
    prices = pricing.prices_in_force(
        {(g.submission.final_model, g.submission.final_size) for g in shown}
        | {(UPSCALE_PRICE_KEY, g.submission.final_size) for g in shown}
    )
    inputs = pricing.input_image_prices({g.submission.final_model for g in shown})
    # The economy lane's prices of the same finals (two queries for the page).
    economy = (
        pricing.prices_in_force(
            {(g.submission.final_model, g.submission.final_size) for g in shown}, lane=Lane.BATCH
        ),
        pricing.input_image_prices({g.submission.final_model for g in shown}, lane=Lane.BATCH),
    )
    left = budgets.headrooms({(g.project_id, g.submission.created_by_id) for g in shown})
    groups: list[ReviewGroup] = []
    for generation in shown:
        if groups and groups[-1].submission.pk == generation.submission_id:
            groups[-1].items.append(generation)
            continue
        submission = generation.submission
        escalation = escalation_of(
            model_key=submission.final_model,
            final_size=submission.final_size,
            project_strategy=generation.project.escalation_strategy,
            images=prices,
            inputs=inputs,
            preview_key=submission.model_key,
            references=len(submission.references.all()),  # prefetched with the cards
        )
        budget = left.get((generation.project_id, submission.created_by_id))
        lanes = _group_lanes(submission, generation.project, escalation, economy)
        # What the approval reserves: the price in the lane it takes by default.
        price = lanes.economy.price if lanes.default == Lane.BATCH else escalation.price
        groups.append(ReviewGroup(submission, [generation], price, budget, escalation, lanes))
    more = len(rows) > cut
    return ReviewQueue(
        groups=groups,
        count=count,
        next=Cursor.of(shown[-1]).encode() if more and shown else None,
        continued=start is not None,
    )


def _group_lanes(
    submission: Submission,
    project: Project,
    escalation: Escalation,
    economy: tuple[dict[tuple[str, str], Decimal], dict[str, Decimal]],
) -> LaneChoice:
    """The lanes of a queue group, from prices already read for the page."""
    strategy = escalation.default.strategy
    images, inputs = economy
    prices = {
        Lane.STANDARD: FinalPrice(strategy, escalation.price),
        Lane.BATCH: pricing.final_price_from(
            model_key=submission.final_model,
            size=submission.final_size,
            strategy=strategy,
            images=images,
            inputs=inputs,
            references=len(submission.references.all()),  # prefetched with the cards
        ),
    }
    return lane_choice_of(
        model_key=submission.final_model,
        final_size=submission.final_size,
        project_lane=project.final_lane,
        strategy=strategy,
        prices=prices,
    )


def review_item(*, user: User, pk: int) -> Generation:
    """One queue item after a decision (or a refusal): its card, pins and the decision
    that settled it (`decision`, a Transition or None)."""
    generation = _with_pins(with_card_data(visible_generations(user))).filter(pk=pk).first()
    if generation is None:
        raise Http404("No such generation.")
    generation.decision = (  # type: ignore[attr-defined]
        Transition.objects.filter(generation=generation, from_state=State.IN_REVIEW)
        .select_related("actor")
        .order_by("-created_at", "-pk")
        .first()
        if generation.state != State.IN_REVIEW
        else None
    )
    return generation
