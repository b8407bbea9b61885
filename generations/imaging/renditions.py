"""Renditions on the CPU queue: the thumbnail and screen WebPs of a stored original.

Why a queue of its own (docs/deployment.md): the render workers hold hundreds of slow
provider calls in a threads pool; a burst of 4K renditions (0.1–0.5 CPU s each) there
would stall them. Here a prefork pool with one process per core does nothing else.

The render task has already decoded the image once (to prove it whole and measure it);
it leaves the upright screen-size pixels in a host-local spool (`spool_put`, raw bytes
named by the image's sha256), and the task here starts from them instead of decoding
the original a second time (~0.4 CPU s at 4K, against ~0.1 s from the spool). A task on
another host, or one that finds no spool file, decodes the original: the spool is only a
shortcut. Files nobody took are pruned by the sweeper after an hour.

The task is idempotent: the file names derive from the image, the row is only filled
while its renditions are blank, and a lost message is re-kicked by the sweeper
(`images_rekick`). A failure is written to Image.renditions_error, shown on the page,
and never retried blindly.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage

from generations import dispatch
from generations.chaos import pause_at
from generations.imaging import codec, workload
from generations.models import Generation, Image

logger = logging.getLogger(__name__)

# The sweeper re-kicks images whose renditions are still missing after this long.
STALE_AFTER = dt.timedelta(seconds=60)
BATCH = 200
_ERROR_CHARS = 300  # Image.renditions_error is a CharField(300)


def stem(image: Image) -> str:
    """Where an image's files live: one name per generation, phase and content."""
    return f"{_folder(image.generation)}/{image.phase}-{image.sha256[:16]}"


def _folder(generation: Generation) -> str:
    return f"p{generation.project_id}/g{generation.pk}"


def unrecorded_originals_delete(*, generation: Generation, phase: str) -> int:
    """Delete the originals of a generation's phase that no image row names: what a worker
    stored before it died between its store and the move that saves the row. Only while
    nobody else can store for that phase — the reaper, inside its move. Renditions are not
    touched (they belong to saved rows, and may be in the making)."""
    folder = _folder(generation)
    try:
        files = default_storage.listdir(folder)[1]
    except FileNotFoundError:
        return 0
    candidates = {
        f"{folder}/{name}"
        for name in files
        if name.startswith(f"{phase}-") and "-thumbnail" not in name and "-screen" not in name
    }
    recorded = set(Image.objects.filter(original__in=candidates).values_list("original", flat=True))
    for name in candidates - recorded:
        default_storage.delete(name)
    return len(candidates - recorded)


def enqueue_on_commit(image: Image) -> None:
    """Kick the rendition task once the transaction that saved the image commits."""
    pk = image.pk
    transaction.on_commit(lambda: enqueue(pk))


def enqueue(image_id: int, *, expires: float | None = None) -> None:
    dispatch.send(
        dispatch.RENDITIONS_TASK, image_id, queue=settings.STUDIO_IMAGE_QUEUE, expires=expires
    )


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
        with workload.image_work():
            thumbnail, screen = _make(image)
    except Exception as exc:  # noqa: BLE001 - recorded for people, not lost
        logger.exception("renditions of image %s failed", image_id)
        _record_error(image_id, _reason(exc))
        return "failed"
    finally:
        spool_discard(image.sha256)
    names = _save(image, thumbnail=thumbnail, screen=screen)
    pause_at("renditions", f"image {image_id}")
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


def _make(image: Image) -> tuple[bytes, bytes]:
    pixels = _spool_take(image.sha256)
    if pixels is not None:
        return codec.renditions_of_screen(pixels)
    with image.original.open("rb") as handle:
        data = handle.read()
    return codec.make_renditions(data)


# --- the spool: screen-size pixels handed over by the render task ---------------------

SPOOL_MAX_AGE_S = 3600


def _spool_dir() -> Path:
    return Path(settings.STUDIO_RENDITION_SPOOL_DIR)


def spool_put(sha256: str, pixels: PILImage.Image | None) -> None:
    """Leave the decoded screen-size pixels for the rendition task (best effort)."""
    if pixels is None or not settings.STUDIO_RENDITION_SPOOL_DIR:
        return
    width, height = pixels.size
    folder = _spool_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{uuid.uuid4().hex}.part"
        partial.write_bytes(pixels.tobytes())
        # Renamed into place whole, so a reader never sees half a file.
        os.replace(partial, folder / f"{sha256}.{pixels.mode}.{width}x{height}.raw")
    except OSError:
        logger.warning("could not spool the screen pixels of %s; renditions will decode", sha256)


def _spool_take(sha256: str) -> PILImage.Image | None:
    if not settings.STUDIO_RENDITION_SPOOL_DIR:
        return None
    for path in _spool_dir().glob(f"{sha256}.*.raw"):
        _, mode, size, _ = path.name.split(".")
        width, height = (int(n) for n in size.split("x"))
        try:
            return PILImage.frombytes(mode, (width, height), path.read_bytes())
        except (OSError, ValueError):
            return None  # damaged or gone: decode the original instead
    return None


def spool_discard(sha256: str) -> None:
    if not settings.STUDIO_RENDITION_SPOOL_DIR:
        return
    for path in _spool_dir().glob(f"{sha256}.*.raw"):
        path.unlink(missing_ok=True)


def spool_prune() -> int:
    """Remove spool files nobody took (a discarded result, a task on another host)."""
    if not settings.STUDIO_RENDITION_SPOOL_DIR or not _spool_dir().is_dir():
        return 0
    cutoff = time.time() - SPOOL_MAX_AGE_S
    pruned = 0
    for path in _spool_dir().iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                pruned += 1
        except OSError:
            continue
    return pruned


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
    if isinstance(exc, codec.ImageRejected):
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
    spool_prune()
    stale = timezone.now() - STALE_AFTER
    pending = Image.objects.filter(
        thumbnail="", renditions_error="", created_at__lt=stale
    ).values_list("pk", flat=True)[:BATCH]
    count = 0
    for pk in pending:
        enqueue(pk, expires=STALE_AFTER.total_seconds())
        count += 1
    return count
