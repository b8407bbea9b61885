"""Small presentation helpers for the studio templates: nothing here decides anything."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone

from generations import catalog, references, selectors
from generations.models import Generation, Image, Phase, Upload
from generations.review.selectors import review_projects
from generations.selectors import projects_visible
from generations.states import SETTLED, State, poll_seconds

register = template.Library()

# state -> the badge's tone (a CSS modifier); see static/css/studio.css
_TONES = {
    State.PREVIEW_QUEUED: "queued",
    State.FINAL_QUEUED: "queued",
    State.PREVIEW_RENDERING: "rendering",
    State.FINAL_RENDERING: "rendering",
    State.FINAL_DIFFERS: "review",
    State.IN_REVIEW: "review",
    State.DELIVERED: "delivered",
    State.DELIVERED_FALLBACK: "fallback",
    State.PREVIEW_FAILED: "failed",
    State.FINAL_FAILED: "failed",
    State.REJECTED: "failed",
    State.CHANGES_REQUESTED: "changes",
    State.CANCELLED: "cancelled",
}


@register.simple_tag(takes_context=True)
def nav_projects(context: template.Context) -> list[Any]:
    """The projects of the signed-in user, for the header."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    if not hasattr(request, "_studio_nav_projects"):
        request._studio_nav_projects = list(projects_visible(user=user))  # type: ignore[union-attr]
    return request._studio_nav_projects  # type: ignore[union-attr]


@register.simple_tag(takes_context=True)
def may_review(context: template.Context) -> bool:
    """Whether the header links to the review queue: only for someone who decides in some
    project (a designer's queue would always be empty)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    if not hasattr(request, "_studio_may_review"):
        request._studio_may_review = bool(review_projects(user=user))  # type: ignore[union-attr]
    return request._studio_may_review  # type: ignore[union-attr]


@register.filter
def tone(state: str) -> str:
    try:
        return _TONES[State(state)]
    except ValueError:
        return "queued"


@register.filter
def state_label(state: str) -> str:
    try:
        return State(state).label
    except ValueError:
        return state or "—"


@register.filter
def settled(state: str) -> bool:
    return state in SETTLED


@register.filter
def poll_trigger(state: str) -> str:
    """The hx-trigger that keeps a view of this state fresh, or "" to stop polling."""
    seconds = poll_seconds(state)
    return f"every {seconds}s" if seconds else ""


@register.filter
def duration(seconds: float | int | None) -> str:
    """12 s, 3 min 04 s, 2 h 05 min, 3 d 4 h."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@register.filter
def since(moment: dt.datetime | None) -> str:
    """Compact time elapsed since `moment`."""
    if moment is None:
        return "—"
    return duration((timezone.now() - moment).total_seconds())


@register.filter
def between(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return duration((end - start).total_seconds())


@register.filter
def milliseconds(value: int | None) -> str:
    if value is None:
        return "—"
    if value < 1000:
        return f"{value} ms"
    return f"{value / 1000:.1f} s"


def _images(generation: Generation) -> list[Image]:
    # `images` is prefetched by every selector that feeds a template.
    return list(generation.images.all())


@register.filter
def image_of(generation: Generation, phase: str) -> Image | None:
    return next((image for image in _images(generation) if image.phase == phase), None)


@register.filter
def renditions_pending(image: Image | None) -> bool:
    """Stored, but its renditions are still being made on the CPU queue."""
    return bool(image and not image.thumbnail.name and not image.renditions_error)


@register.filter
def card_poll(generation: Generation) -> int | str:
    """How often (seconds) the page should look at this card again, or "" never: the
    state's interval, or a quick look until the thumbnail exists."""
    if renditions_pending(card_image(generation)):
        return poll_seconds(State.PREVIEW_RENDERING) or ""
    return poll_seconds(generation.state) or ""


@register.filter
def card_token(generation: Generation) -> str:
    return selectors.card_token(generation)


@register.filter
def card_image(generation: Generation) -> Image | None:
    """The image a card shows: the final when there is one, else the preview."""
    images = _images(generation)
    return next((i for i in images if i.phase == Phase.FINAL), None) or next(
        (i for i in images if i.phase == Phase.PREVIEW), None
    )


@register.filter
def ratio_css(aspect_ratio: str) -> str:
    """ "16:9" -> "16 / 9", for the CSS aspect-ratio property."""
    width, _, height = (aspect_ratio or "1:1").partition(":")
    if not (width.isdigit() and height.isdigit()):
        return "1 / 1"
    return f"{width} / {height}"


@register.filter
def megapixels(image: Image) -> str:
    return f"{image.width * image.height / 1_000_000:.1f} MP"


@register.filter
def until(moment: dt.datetime | None) -> str:
    """Compact time left until `moment` ("" once it has passed)."""
    if moment is None:
        return ""
    seconds = (moment - timezone.now()).total_seconds()
    return duration(seconds) if seconds >= 1 else ""


@register.filter
def model_label(model_key: str) -> str:
    try:
        return catalog.get_model(model_key).label
    except LookupError:
        return model_key


@register.filter
def short_model_label(model_key: str) -> str:
    """ "Nano Banana Pro (Gemini 3 Pro Image)" -> "Nano Banana Pro"."""
    return model_label(model_key).split(" (")[0]


# --- pictures: uploads and images as references ---------------------------------------


@register.filter
def picture_src(picture: Any, kind: str = "thumbnail") -> str:
    """The URL of a picture's rendition (an image's or an upload's, both permission-checked
    by the media view), or its placeholder until the rendition exists."""
    if picture is None:
        return ""
    if not getattr(picture, kind).name:
        return str(picture.placeholder or "")
    name = "upload_media" if isinstance(picture, Upload) else "media"
    return reverse(name, args=[picture.pk, kind])


@register.filter
def picture_token(picture: Any) -> str:
    return references.token_of(picture) if picture is not None else ""


@register.filter
def picture_label(picture: Any) -> str:
    return references.label_of(picture) if picture is not None else "a picture that is gone"
