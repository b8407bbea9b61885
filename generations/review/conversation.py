"""Comments on a generation, and comments pinned to a point of one of its images.

A pin is stored as fractions (0–1) of the image's width and height, so its marker sits on
the same spot of every rendition. Markers are numbered in the order the pinned comments
were written, per generation; comments are never edited or deleted, so numbers hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from generations.models import Comment, Generation, Image
from generations.notifications import notify_comment
from generations.permissions import Action, require
from generations.types import User

MAX_COMMENT_CHARS = 4000


def comment_create(
    *,
    generation_id: int,
    user: User,
    body: str,
    image_id: int | None = None,
    x: float | None = None,
    y: float | None = None,
) -> Comment:
    generation = Generation.objects.select_related("submission", "project").get(pk=generation_id)
    require(user, Action.COMMENT, generation)
    body = body.strip()
    errors: dict[str, str] = {}
    if not body:
        errors["body"] = "Write a comment."
    elif len(body) > MAX_COMMENT_CHARS:
        errors["body"] = f"Keep it under {MAX_COMMENT_CHARS} characters."
    image: Image | None = None
    if image_id is not None or x is not None or y is not None:
        image = generation.images.filter(pk=image_id).first() if image_id is not None else None
        if image is None:
            errors["image"] = "Pin the comment on one of this generation’s images."
        elif not (_fraction(x) and _fraction(y)):
            errors["image"] = "The pin must lie on the image."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        comment = Comment.objects.create(
            generation=generation,
            author=user,
            body=body,
            image=image,
            pin_x=x if image else None,
            pin_y=y if image else None,
            created_at=timezone.now(),
        )
        notify_comment(comment=comment)
    return comment


def _fraction(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and 0 <= value <= 1


@dataclass(frozen=True)
class Pin:
    number: int
    comment: Comment

    @property
    def left(self) -> str:
        """CSS percentages, with a dot whatever the locale."""
        return f"{(self.comment.pin_x or 0) * 100:.3f}%"

    @property
    def top(self) -> str:
        return f"{(self.comment.pin_y or 0) * 100:.3f}%"


def pins_of(comments: list[Comment]) -> dict[int, list[Pin]]:
    """image id -> its numbered pins, from a generation's comments in timeline order."""
    pins: dict[int, list[Pin]] = {}
    number = 0
    for comment in comments:
        if comment.image_id is not None:
            number += 1
            pins.setdefault(comment.image_id, []).append(Pin(number, comment))
    return pins


def pin_numbers(comments: list[Comment]) -> dict[int, int]:
    """comment id -> its marker number (pinned comments only)."""
    return {pin.comment.pk: pin.number for pins in pins_of(comments).values() for pin in pins}
