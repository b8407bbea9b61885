"""Renditions on the CPU queue: the thumbnail and screen WebPs of a stored original.

Why a queue of its own (docs/deployment.md): the render workers hold hundreds of slow
provider calls in a threads pool; a burst of 4K renditions (~0.5 CPU s each) there
would stall them. Here a prefork pool with one process per core does nothing else.

The task is idempotent: the file names derive from the image, the row is only filled
while its renditions are blank, and a lost message is re-kicked by the sweeper
(`images_rekick`). A failure is written to Image.renditions_error, shown on the page,
and never retried blindly.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from generations import imaging, workload
from generations.models import Image

logger = logging.getLogger(__name__)

# The sweeper re-kicks images whose renditions are still missing after this long.
STALE_AFTER = dt.timedelta(seconds=60)
BATCH = 200
_ERROR_CHARS = 300  # Image.renditions_error is a CharField(300)


def stem(image: Image) -> str:
    """Where an image's files live: one name per generation, phase and content."""
    generation = image.generation
    return f"p{generation.project_id}/g{generation.pk}/{image.phase}-{image.sha256[:16]}"


def enqueue_on_commit(image: Image) -> None:
    """Kick the rendition task once the transaction that saved the image commits."""
    pk = image.pk
    transaction.on_commit(lambda: enqueue(pk))


def enqueue(image_id: int, *, expires: float | None = None) -> None:
    from generations.tasks import make_renditions

    options: dict[str, Any] = {"queue": settings.STUDIO_IMAGE_QUEUE}
    if expires is not None:
        options["expires"] = expires
    try:
        make_renditions.apply_async(args=(image_id,), **options)
    except Exception:  # the broker being down must not fail the render; the sweeper retries
        logger.warning("could not enqueue renditions of image %s; the sweeper will", image_id)


def image_renditions_make(*, image_id: int) -> str:
    """Make and attach both renditions unless they exist (or failed). Returns what happened."""
    image = Image.objects.select_related("generation").filter(pk=image_id).first()
    if image is None:
        return "gone"
    if image.thumbnail.name and image.screen.name:
        return "done already"
    if image.renditions_error:
        return "failed before"
    try:
        with image.original.open("rb") as handle:
            data = handle.read()
        with workload.image_work():
            thumbnail, screen = imaging.make_renditions(data)
    except Exception as exc:  # noqa: BLE001 - recorded for people, not lost
        logger.exception("renditions of image %s failed", image_id)
        _record_error(image_id, _reason(exc))
        return "failed"
    del data
    names = _save(image, thumbnail=thumbnail, screen=screen)
    filled = Image.objects.filter(pk=image_id, thumbnail="", renditions_error="").update(**names)
    if not filled:
        # A duplicate delivery finished first; its names are ours (same stem) unless the
        # storage had to pick others, and only those are extra.
        current = Image.objects.filter(pk=image_id).values_list("thumbnail", "screen").first()
        for name in names.values():
            if current is None or name not in current:
                default_storage.delete(name)
        return "done already"
    return "made"


def _save(image: Image, *, thumbnail: bytes, screen: bytes) -> dict[str, str]:
    base = stem(image)
    names = {}
    for field, data in (("thumbnail", thumbnail), ("screen", screen)):
        name = f"{base}-{field}.webp"
        # A delivery that died after writing left this very file (same content): replace
        # it instead of letting the storage add a second copy under a random suffix.
        if default_storage.exists(name):
            default_storage.delete(name)
        names[field] = default_storage.save(name, ContentFile(data))
    return names


def _reason(exc: Exception) -> str:
    if isinstance(exc, imaging.ImageRejected):
        return f"Renditions could not be made: {exc.message}"[:_ERROR_CHARS]
    if isinstance(exc, FileNotFoundError):
        return "Renditions could not be made: the original file is missing."
    return f"Renditions could not be made ({type(exc).__name__}); see the worker log."[
        :_ERROR_CHARS
    ]


def _record_error(image_id: int, reason: str) -> None:
    Image.objects.filter(pk=image_id, thumbnail="").update(renditions_error=reason)


def images_rekick() -> int:
    """Re-send the task for images whose renditions are missing for over a minute.

    No row marks a kick, so a long queue gets duplicates; they expire (or return at
    once, finding the work done) instead of piling up.
    """
    stale = timezone.now() - STALE_AFTER
    pending = Image.objects.filter(
        thumbnail="", renditions_error="", created_at__lt=stale
    ).values_list("pk", flat=True)[:BATCH]
    count = 0
    for pk in pending:
        enqueue(pk, expires=STALE_AFTER.total_seconds())
        count += 1
    return count
