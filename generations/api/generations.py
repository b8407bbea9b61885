"""Generations: list (cursor pages) and get, with their state, attempts, charges and
images; and what people do to them — approve, reject, request changes, cancel, retry —
through the same services (and so the same permission checks) as the pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router

from generations import selectors, services
from generations.api import represent
from generations.api.auth import scoped, user_of
from generations.api.schemas import (
    ApproveIn,
    CommentIn,
    ErrorOut,
    FinalDiffersIn,
    GenerationDetailOut,
    GenerationFilters,
    GenerationPageOut,
    ReasonIn,
)
from generations.models import Generation
from generations.paging import Cursor
from generations.review import decisions

router = Router(tags=["generations"])
READ_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS = {**READ_ERRORS, 400: ErrorOut, 409: ErrorOut}


@router.get(
    "/generations", response={200: GenerationPageOut, **READ_ERRORS},
    url_name="generation_list", **scoped("read"),
)  # fmt: skip
def generation_list(request: HttpRequest, filters: Query[GenerationFilters]) -> dict:
    """Every generation you may see that matches, newest first, one page at a time:
    follow `next_cursor` (or `next`) until it is null. Pages cost the same at any depth,
    and generations submitted meanwhile do not shift them."""
    user = user_of(request)
    project = selectors.project_get(user=user, slug=filters.project) if filters.project else None
    if filters.cursor and Cursor.decode(filters.cursor) is None:
        raise ValidationError({"cursor": "Not a cursor this API gave: pass `next_cursor` as is."})
    page = selectors.generations_with_attempts(
        user=user,
        filters=selectors.GalleryFilters(
            project=project,
            state=filters.state or "",
            model_key=filters.model_key or "",
            q=filters.q or "",
        ),
        after=filters.cursor,
        per_page=filters.limit,
    )
    spend, links = page.extra["spend"], represent.Links(request)
    following = None
    if page.next:
        query = {**filters.dict(exclude_none=True), "cursor": page.next}
        following = request.build_absolute_uri(f"{request.path}?{urlencode(query)}")
    return {
        "items": [represent.generation(links, g, spend=spend) for g in page],
        "next_cursor": page.next,
        "next": following,
    }


@router.get(
    "/generations/{int:generation_id}", response={200: GenerationDetailOut, **READ_ERRORS},
    url_name="generation_get", **scoped("read"),
)  # fmt: skip
def generation_get(request: HttpRequest, generation_id: int) -> dict:
    """One generation with its timeline (every move: who or what, when, why)."""
    return _detail(request, generation_id)


@router.post(
    "/generations/{int:generation_id}/approve",
    response={200: GenerationDetailOut, **WRITE_ERRORS},
    url_name="generation_approve", **scoped("write"),
)  # fmt: skip
def generation_approve(
    request: HttpRequest, generation_id: int, payload: ApproveIn | None = None
) -> dict:
    """Approve a preview in review: reserves the final's price (by its strategy and lane,
    the project's unless `strategy` or `lane` say otherwise) and queues the final. 409 if it
    is not in review (someone decided first) or a budget does not allow it; 422 if the
    lane is economy and the model has no batch API."""
    user = user_of(request)
    return _act(
        request,
        generation_id,
        lambda: decisions.generation_approve(
            generation_id=generation_id,
            user=user,
            note=payload.note if payload else "",
            strategy=(payload.strategy or "") if payload else "",
            lane=(payload.lane or "") if payload else "",
        ),
    )


@router.post(
    "/generations/{int:generation_id}/final-differs",
    response={200: GenerationDetailOut, **WRITE_ERRORS},
    url_name="generation_final_differs", **scoped("write"),
)  # fmt: skip
def generation_final_differs(
    request: HttpRequest, generation_id: int, payload: FinalDiffersIn
) -> dict:
    """Decide a final held because it differs from its approved preview (state
    `final_differs`): accept it, re-render it from the preview, or deliver the upscale.
    409 if it is not waiting for this decision or a budget does not allow a new final."""
    user = user_of(request)
    return _act(
        request,
        generation_id,
        lambda: decisions.final_differs_decide(
            generation_id=generation_id, user=user, choice=payload.choice, note=payload.note
        ),
    )


@router.post(
    "/generations/{int:generation_id}/reject",
    response={200: GenerationDetailOut, **WRITE_ERRORS},
    url_name="generation_reject", **scoped("write"),
)  # fmt: skip
def generation_reject(request: HttpRequest, generation_id: int, payload: CommentIn) -> dict:
    """Reject a preview in review, saying why."""
    user = user_of(request)
    return _act(
        request,
        generation_id,
        lambda: decisions.generation_reject(
            generation_id=generation_id, user=user, comment=payload.comment
        ),
    )


@router.post(
    "/generations/{int:generation_id}/request-changes",
    response={200: GenerationDetailOut, **WRITE_ERRORS},
    url_name="generation_request_changes", **scoped("write"),
)  # fmt: skip
def generation_request_changes(
    request: HttpRequest, generation_id: int, payload: CommentIn
) -> dict:
    """Send a preview in review back to its designer with what should change."""
    user = user_of(request)
    return _act(
        request,
        generation_id,
        lambda: decisions.generation_request_changes(
            generation_id=generation_id, user=user, comment=payload.comment
        ),
    )


@router.post(
    "/generations/{int:generation_id}/cancel",
    response={200: GenerationDetailOut, **WRITE_ERRORS},
    url_name="generation_cancel", **scoped("write"),
)  # fmt: skip
def generation_cancel(
    request: HttpRequest, generation_id: int, payload: ReasonIn | None = None
) -> dict:
    """Cancel while queued, rendering or in review (designers: their own only)."""
    user = user_of(request)
    return _act(
        request,
        generation_id,
        lambda: services.generation_cancel(
            generation_id=generation_id, user=user, reason=payload.reason if payload else ""
        ),
    )


@router.post(
    "/generations/{int:generation_id}/retry",
    response={200: GenerationDetailOut, **WRITE_ERRORS},
    url_name="generation_retry", **scoped("write"),
)  # fmt: skip
def generation_retry(request: HttpRequest, generation_id: int) -> dict:
    """A fresh round of attempts for a failed preview (its designer) or final (reviewers)."""
    user = user_of(request)
    return _act(
        request,
        generation_id,
        lambda: services.generation_retry(generation_id=generation_id, user=user),
    )


def _act(request: HttpRequest, generation_id: int, action: Callable[[], Generation]) -> dict:
    """As the pages do: 404 for a generation the person may not see (whether it exists is
    not revealed), then the service (which checks the permission), then where it is now."""
    selectors.generation_card(user=user_of(request), pk=generation_id)
    action()
    return _detail(request, generation_id)


def _detail(request: HttpRequest, generation_id: int) -> dict[str, Any]:
    generation = selectors.generation_detail(user=user_of(request), pk=generation_id)
    charges = selectors.generation_charges(attempts=list(generation.attempts.all()))
    return represent.generation_detail(
        represent.Links(request), generation, spend=charges.by_attempt
    )
