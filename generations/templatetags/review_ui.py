"""Presentation helpers for the review workflow's templates: nothing here decides."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from generations import catalog, notifications, projects
from generations.models import Generation, Image, Submission
from generations.review import conversation
from generations.review import selectors as review_selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context: template.Context) -> int:
    """The signed-in user's unread count, for the header (one query per page)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    if not hasattr(request, "_studio_unread"):
        request._studio_unread = notifications.unread_count(user=user)  # type: ignore[union-attr]
    return request._studio_unread  # type: ignore[union-attr]


@register.filter
def approval_price(submission: Submission) -> Decimal | None:
    return review_selectors.approval_price(
        model_key=submission.final_model,
        final_size=submission.final_size,
        strategy=submission.project.escalation_strategy,
        preview_key=submission.model_key,
        references=len(submission.references.all()),
    )


@register.filter
def simulated(model_key: str) -> bool:
    """Rendered by the local provider (no key configured): approving costs nothing."""
    try:
        model = catalog.get_model(model_key)
    except LookupError:
        return False
    return model.simulated or model.provider == "local"


@register.filter
def pins_on(generation: Generation, image: Image | None) -> list[conversation.Pin]:
    """The numbered pins on `image`, from the generation's prefetched pinned comments."""
    if image is None:
        return []
    comments: list[Any] = getattr(generation, "pin_comments", None) or []
    return conversation.pins_of(comments).get(image.pk, [])


@register.filter
def pin_count(generation: Generation) -> int:
    return len(getattr(generation, "pin_comments", None) or [])


@register.filter
def member_has(member: projects.Member, role: str) -> bool:
    return bool(member.has(role))
