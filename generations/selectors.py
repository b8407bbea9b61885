"""Reads for the pages: each selector fetches what a page shows in a fixed number of
queries, filtered by what the user may see (generations.permissions)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.http import Http404
from django.utils import timezone

from generations.models import (
    Attempt,
    Comment,
    Generation,
    Image,
    LedgerEntry,
    Project,
    Reference,
    Role,
    Submission,
    Transition,
)
from generations.paging import KeysetPage, keyset_page
from generations.permissions import visible_generations, visible_projects
from generations.states import State
from generations.types import User

CARDS_PER_PAGE = 24


def projects_visible(*, user: User) -> QuerySet[Project]:
    return visible_projects(user).order_by("name")


def project_get(*, user: User, slug: str) -> Project:
    """The project, or 404 if the user may not see it (its existence is not revealed)."""
    project = visible_projects(user).filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    return project


def with_card_data(queryset: QuerySet[Generation]) -> QuerySet[Generation]:
    """Everything a card shows: the submission, its author, and the images."""
    return queryset.select_related(
        "submission", "submission__created_by", "project"
    ).prefetch_related(
        Prefetch("images", queryset=Image.objects.order_by("created_at", "pk")),
        # The references (and the edited image) shown as thumbnails on every card.
        Prefetch(
            "submission__references",
            queryset=Reference.objects.select_related("image", "upload").order_by("position"),
        ),
    )


def generations_recent(*, user: User, project: Project, page: int | str | None = 1) -> Page:
    """One page of the project's generations, newest submission first and its variants in
    order (1, 2, 3), as they appear after submitting: a reload keeps the order."""
    queryset = with_card_data(
        visible_generations(user)
        .filter(project=project)
        .order_by("-created_at", "-submission_id", "variant")
    )
    return Paginator(queryset, CARDS_PER_PAGE).get_page(page)


SUBMIT_SETTINGS = ("model_key", "aspect_ratio", "preview_size", "variants", "final_model_key")


def submission_settings_last(*, user: User, project: Project) -> dict[str, Any]:
    """The options of the person's latest submission in the project (model, aspect ratio,
    preview size, variants), so the studio's form starts where they left it; {} if none."""
    last = (
        Submission.objects.filter(project=project, created_by=user)
        .order_by("-created_at", "-pk")
        .values(*SUBMIT_SETTINGS)
        .first()
    )
    if not last:
        return {}
    if last["final_model_key"] == last["model_key"]:
        last["final_model_key"] = ""  # the form's "same as the preview"
    return dict(last)


def generations_of_submission(*, user: User, submission: Submission) -> list[Generation]:
    return list(
        with_card_data(visible_generations(user).filter(submission=submission)).order_by("variant")
    )


def card_token(generation: Generation) -> str:
    """A short digest of everything a card shows that can change: a card whose token the
    page already has needs no new HTML. Reads only what with_card_data loaded."""
    images = [
        (image.pk, bool(image.thumbnail.name), bool(image.renditions_error))
        for image in generation.images.all()
    ]
    shown = (
        generation.version,
        generation.attempt_count,
        generation.waiting_reason,
        generation.next_attempt_at,
        generation.last_error,
        images,
    )
    return hashlib.blake2s(repr(shown).encode(), digest_size=6).hexdigest()


# What card_token reads: a poll compares tokens from these columns alone.
_TOKEN_FIELDS = ("version", "attempt_count", "waiting_reason", "next_attempt_at", "last_error")
_TOKEN_IMAGE_FIELDS = ("generation_id", "created_at", "thumbnail", "renditions_error")


def cards_changed(*, user: User, known: dict[int, str]) -> list[Generation]:
    """The cards among `known` (id -> the token the page has) that changed, with their
    card data; cards the user may not see are left out, as if unknown. Most polls find
    nothing changed: the tokens come from two narrow queries, and only the changed cards
    are loaded whole (three queries more)."""
    visible = visible_generations(user).filter(pk__in=known)
    images = Image.objects.only(*_TOKEN_IMAGE_FIELDS).order_by("created_at", "pk")
    tokens = visible.only(*_TOKEN_FIELDS).prefetch_related(Prefetch("images", queryset=images))
    changed = [card.pk for card in tokens if card_token(card) != known[card.pk]]
    if not changed:
        return []
    return list(with_card_data(visible.filter(pk__in=changed)).order_by("pk"))


def generation_card(*, user: User, pk: int) -> Generation:
    generation = with_card_data(visible_generations(user)).filter(pk=pk).first()
    if generation is None:
        raise Http404("No such generation.")
    return generation


def generation_detail(*, user: User, pk: int) -> Generation:
    """A generation with everything its page shows, or 404 if the user may not see it."""
    generation = (
        with_card_data(visible_generations(user))
        .select_related("submission__parent", "submission__parent__submission")
        .prefetch_related(
            Prefetch(
                "transitions",
                queryset=Transition.objects.select_related("actor").order_by("created_at", "pk"),
            ),
            Prefetch("attempts", queryset=Attempt.objects.order_by("number")),
            Prefetch(
                "comments",
                queryset=Comment.objects.select_related("author").order_by("created_at", "pk"),
            ),
            Prefetch(
                "revisions",
                queryset=Submission.objects.order_by("created_at").prefetch_related(
                    Prefetch("generations", queryset=Generation.objects.order_by("variant"))
                ),
            ),
            Prefetch(
                "submission__generations",
                queryset=Generation.objects.order_by("variant"),
                to_attr="siblings",
            ),
        )
        .filter(pk=pk)
        .first()
    )
    if generation is None:
        raise Http404("No such generation.")
    return generation


def image_get(*, user: User, pk: int) -> Image:
    """An image the user may view, or 404 (whether it exists is not revealed)."""
    image = (
        Image.objects.select_related("generation", "generation__submission", "generation__project")
        .filter(generation__in=visible_generations(user), pk=pk)
        .first()
    )
    if image is None:
        raise Http404("No such image.")
    return image


def people_in(*, projects: QuerySet[Project] | list[Project]) -> list[User]:
    """Who submits in these projects (designers and admins), by username: one query."""
    ids = [project.pk for project in projects] if isinstance(projects, list) else projects
    return list(
        get_user_model()
        .objects.filter(
            memberships__project__in=ids, memberships__role__in=[Role.DESIGNER, Role.ADMIN]
        )
        .distinct()
        .order_by("username")
    )


# --- the gallery -----------------------------------------------------------------------

GALLERY_PER_PAGE = 24


@dataclass(frozen=True)
class GalleryFilters:
    project: Project | None = None
    state: str = ""
    model_key: str = ""
    designer_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive
    q: str = ""  # every word must appear in the prompt

    @property
    def active(self) -> bool:
        return any(
            (
                self.project,
                self.state,
                self.model_key,
                self.designer_id,
                self.date_from,
                self.date_to,
                self.q,
            )
        )


def gallery_page(
    *,
    user: User,
    filters: GalleryFilters,
    after: str | None = None,
    before: str | None = None,
    per_page: int | None = None,
) -> KeysetPage[Generation]:
    """Every generation the user may see that matches, newest first, one keyset page:
    the same few queries (the page, its images) on page 1 and page 4,000."""
    generations = visible_generations(user)
    if filters.project is not None:
        generations = generations.filter(project=filters.project)
    if filters.state:
        generations = generations.filter(state=filters.state)
    if filters.model_key:
        generations = generations.filter(submission__model_key=filters.model_key)
    if filters.designer_id is not None:
        generations = generations.filter(submission__created_by_id=filters.designer_id)
    if filters.date_from is not None:
        generations = generations.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to is not None:
        next_day = filters.date_to + dt.timedelta(days=1)
        generations = generations.filter(created_at__lt=_day_start(next_day))
    for word in filters.q.split()[:8]:
        generations = generations.filter(submission__prompt__icontains=word)
    return keyset_page(
        with_card_data(generations),
        per_page=per_page or GALLERY_PER_PAGE,
        descending=True,
        after=after,
        before=before,
    )


def generations_with_attempts(
    *, user: User, filters: GalleryFilters, after: str | None = None, per_page: int
) -> KeysetPage[Generation]:
    """A gallery page (generations.api's list) with each generation's attempts in order
    and, in `extra["spend"]`, what the ledger charged each attempt (attempt id -> Spend):
    two queries more than the gallery's, whatever the page's depth."""
    page = gallery_page(user=user, filters=filters, after=after, per_page=per_page)
    attempts = Attempt.objects.defer("provider_meta").order_by("number")  # not shown
    prefetch_related_objects(page.items, Prefetch("attempts", queryset=attempts))
    page.extra["spend"] = generations_spend(generation_ids=[generation.pk for generation in page])
    return page


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def generation_lineage(*, generation: Generation, limit: int = 20) -> list[Generation]:
    """The revisions this generation descends from, oldest first, each with the decision
    that sent it back (`decision`: the Transition out of review, or None). A revision is
    always made in the same project, so the user may see every ancestor. One query per
    ancestor (chains are short), plus one for all their decisions."""
    chain: list[Generation] = []
    parent_id = generation.submission.parent_id
    while parent_id is not None and len(chain) < limit:
        parent = (
            Generation.objects.select_related("submission", "submission__created_by")
            .filter(pk=parent_id, project_id=generation.project_id)
            .first()
        )
        if parent is None or any(known.pk == parent.pk for known in chain):
            break
        chain.append(parent)
        parent_id = parent.submission.parent_id
    if chain:
        decisions = {
            transition.generation_id: transition  # the latest one wins
            for transition in Transition.objects.filter(
                generation_id__in=[ancestor.pk for ancestor in chain],
                from_state=State.IN_REVIEW,
            )
            .select_related("actor")
            .order_by("created_at", "pk")
        }
        for ancestor in chain:
            ancestor.decision = decisions.get(ancestor.pk)  # type: ignore[attr-defined]
    return chain[::-1]


# --- what the ledger charged -------------------------------------------------------------


@dataclass(frozen=True)
class Spend:
    """What the ledger says one image's render cost."""

    charged: Decimal  # the charge plus its corrections (a refund is negative)
    unit_price: Decimal | None
    simulated: bool
    corrected: bool


def attempt_spend(*, attempt_ids: Sequence[int]) -> dict[int, Spend]:
    """attempt id -> its charge with its corrections. An attempt that was not charged (a
    failure the provider does not bill, one still running) is absent. Two queries, each on
    an index (the charges by attempt, then their corrections by the charge they correct):
    one query with an OR across the corrections' join read the whole ledger on PostgreSQL
    (~0.4 s at 180k rows)."""
    if not attempt_ids:
        return {}
    charges = list(
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE, attempt_id__in=attempt_ids)
        .values_list("pk", "kind", "attempt_id", "corrects_id", "amount_usd", "unit_price",
                     "simulated")
    )  # fmt: skip
    corrections = (
        LedgerEntry.objects.filter(corrects_id__in=[row[0] for row in charges]).values_list(
            "pk", "kind", "attempt_id", "corrects_id", "amount_usd", "unit_price", "simulated"
        )
        if charges
        else []
    )
    return _spend_of_rows([*charges, *corrections])


def generations_spend(*, generation_ids: Sequence[int]) -> dict[int, Spend]:
    """attempt_spend for every attempt of these generations, in one query on the ledger's
    generation index (a list page's: attempt_spend's OR across the corrections' join
    reads the whole ledger on PostgreSQL). A correction carries the generation of the
    charge it corrects, so both are among the rows read."""
    if not generation_ids:
        return {}
    return _spend_of_rows(
        LedgerEntry.objects.filter(generation_id__in=generation_ids)
        .filter(Q(kind=LedgerEntry.Kind.CHARGE) | Q(corrects__isnull=False))
        .values_list("pk", "kind", "attempt_id", "corrects_id", "amount_usd", "unit_price",
                     "simulated")
    )  # fmt: skip


def _spend_of_rows(rows: Iterable[tuple[Any, ...]]) -> dict[int, Spend]:
    """(pk, kind, attempt id, corrects id, amount, unit price, simulated) ledger rows, each
    correction among them with the charge it corrects -> attempt id -> Spend."""
    rows = list(rows)
    attempt_of = {pk: attempt for pk, kind, attempt, *_ in rows if kind == LedgerEntry.Kind.CHARGE}
    return _spend_of(
        (kind, attempt, attempt_of.get(corrects), amount, unit, simulated)
        for _pk, kind, attempt, corrects, amount, unit, simulated in rows
    )


def _spend_of(rows: Iterable[tuple[Any, ...]]) -> dict[int, Spend]:
    """(kind, attempt id, corrected charge's attempt id, amount, unit price, simulated)
    rows -> attempt id -> Spend."""
    charges: dict[int, Spend] = {}
    corrections: dict[int, Decimal] = {}
    for kind, attempt_id, corrected_attempt, amount, unit, simulated in rows:
        if kind == LedgerEntry.Kind.CHARGE:
            charges[attempt_id] = Spend(amount, unit, simulated, corrected=False)
        elif corrected_attempt is not None:
            corrections[corrected_attempt] = corrections.get(corrected_attempt, Decimal(0)) + amount
    return {
        attempt_id: replace(
            spend,
            charged=spend.charged + corrections.get(attempt_id, Decimal(0)),
            corrected=attempt_id in corrections,
        )
        for attempt_id, spend in charges.items()
    }


@dataclass(frozen=True)
class GenerationCharges:
    """What each of a generation's attempts was charged (absent: not charged)."""

    by_attempt: dict[int, Spend]

    @property
    def total(self) -> Decimal:
        return sum((spend.charged for spend in self.by_attempt.values()), Decimal(0))

    @property
    def simulated(self) -> bool:
        return any(spend.simulated for spend in self.by_attempt.values())


def generation_charges(*, attempts: Sequence[Attempt]) -> GenerationCharges:
    return GenerationCharges(attempt_spend(attempt_ids=[attempt.pk for attempt in attempts]))
