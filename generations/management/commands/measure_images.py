"""Backfill the quality-drift figures of native images stored before they were recorded:

    manage.py measure_images [--batch-size 200] [--limit N]

For each native image missing luma_entropy or detail_energy, the original is read through
the storage, decoded and measured (generations.imaging.codec.measure_detail); one image in
memory at a time. Blank model_key / size are filled from the generation's submission (and
the attempt's size). An image whose file cannot be read is reported and left as it was;
running the command again retries only those. Safe to interrupt and re-run.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q
from PIL import Image as PILImage

from generations.imaging.codec import measure_detail
from generations.models import Image, Phase

_READ_ERRORS = (OSError, ValueError, SyntaxError, EOFError, PILImage.DecompressionBombError)


class Command(BaseCommand):
    help = "Measure detail (entropy, Laplacian energy) of native images stored without it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200, help="Rows read at a time.")
        parser.add_argument("--limit", type=int, default=None, help="Stop after this many.")

    def handle(self, *args: Any, batch_size: int, limit: int | None, **options: Any) -> None:
        todo = Image.objects.filter(native=True).filter(
            Q(luma_entropy__isnull=True)
            | Q(detail_energy__isnull=True)
            | Q(model_key="")
            | Q(size="")
        )
        total = todo.count() if limit is None else min(limit, todo.count())
        self.stdout.write(f"{total} native image(s) to measure or label.")
        measured = failed = labelled = seen = 0
        last_pk = 0
        started = time.monotonic()
        while limit is None or seen < limit:
            size = batch_size if limit is None else min(batch_size, limit - seen)
            # Keyset pages by primary key: bounded memory, and an image that fails is not
            # met again in this run.
            batch = list(
                todo.filter(pk__gt=last_pk)
                .select_related("generation__submission", "attempt")
                .only(
                    "pk",
                    "phase",
                    "original",
                    "model_key",
                    "size",
                    "luma_entropy",
                    "detail_energy",
                    "generation__submission__model_key",
                    "generation__submission__preview_size",
                    "generation__submission__final_size",
                    "attempt__size",
                )  # fmt: skip
                .order_by("pk")[:size]
            )
            if not batch:
                break
            for image in batch:
                seen += 1
                last_pk = image.pk
                changes: dict[str, Any] = dict(_labels(image))
                labelled += bool(changes)
                if image.luma_entropy is None or image.detail_energy is None:
                    try:
                        changes.update(_measure(image))
                    except _READ_ERRORS as error:
                        failed += 1
                        self.stderr.write(f"image {image.pk}: could not read the original: {error}")
                    else:
                        measured += 1
                if changes:
                    Image.objects.filter(pk=image.pk).update(**changes)
            rate = seen / max(time.monotonic() - started, 1e-6)
            self.stdout.write(f"… {seen}/{total} ({rate:.1f} images/s)")
        self.stdout.write(
            self.style.SUCCESS(f"Done: measured {measured}, failed {failed}, labelled {labelled}.")
        )


def _measure(image: Image) -> dict[str, float]:
    with image.original.open("rb") as file, PILImage.open(file) as picture:
        picture.load()
        metrics = measure_detail(picture)
    return {"luma_entropy": metrics.luma_entropy, "detail_energy": metrics.detail_energy}


def _labels(image: Image) -> dict[str, str]:
    """The model and size the drift report groups by, for images stored before ingest
    recorded them."""
    changes = {}
    submission = image.generation.submission
    if not image.model_key:
        changes["model_key"] = submission.model_key
    if not image.size:
        if image.attempt is not None and image.attempt.size:
            changes["size"] = image.attempt.size
        elif image.phase == Phase.FINAL:
            changes["size"] = submission.final_size
        else:
            changes["size"] = submission.preview_size
    return changes
