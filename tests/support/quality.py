"""Image rows for the quality-drift tests, with the figures set directly (as ingest will
record them) and stored in a chosen week."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.utils import timezone

from generations.models import Generation, Image, Project
from generations.states import State
from tests.support.factories import SubmissionFactory


def add_images(
    project: Project,
    model_key: str,
    size: str,
    monday: dt.date,
    bpp: Sequence[float],
    *,
    energy: Sequence[float | None] | None = None,
    entropy: Sequence[float | None] | None = None,
    native: bool = True,
    hour: int = 10,
) -> list[Image]:
    """One image per value, each of its own generation, stored on Tuesday of that week
    (local time; `hour` o'clock plus a minute per image)."""
    submission = SubmissionFactory(project=project, model_key=model_key)
    now = timezone.now()
    generations = Generation.objects.bulk_create(
        Generation(
            submission=submission,
            project=project,
            variant=i + 1,
            seed=i,
            state=State.DELIVERED,
            state_changed_at=now,
            created_at=now,
        )
        for i in range(len(bpp))
    )
    images = Image.objects.bulk_create(
        Image(
            generation=generation,
            phase="final",
            original=f"originals/test/{generation.pk}.png",
            sha256="0" * 64,
            mime_type="image/png",
            width=4096,
            height=4096,
            byte_size=int(value * 4096 * 4096),
            bytes_per_pixel=value,
            native=native,
            model_key=model_key,
            size=size,
            detail_energy=energy[i] if energy else None,
            luma_entropy=entropy[i] if entropy else None,
        )
        for i, (generation, value) in enumerate(zip(generations, bpp, strict=True))
    )
    tuesday = dt.datetime.combine(monday + dt.timedelta(days=1), dt.time(hour))
    for i, image in enumerate(images):
        at = timezone.make_aware(tuesday + dt.timedelta(minutes=i))
        Image.objects.filter(pk=image.pk).update(created_at=at)
    return images


FIVE_AROUND = [-0.02, -0.01, 0.0, 0.01, 0.02]  # offsets whose median is 0


def around(median: float, step: float = 1.0) -> list[float]:
    return [round(median + offset * step, 6) for offset in FIVE_AROUND]


def add_drift_series(project: Project, first_monday: dt.date) -> None:
    """Three series over six weeks, medians chosen by hand:
    - nano-banana-pro 4K, bytes per pixel 0.42, 0.44, 0.40, 0.43, then 0.295 in week 5
      (6 images; baseline 0.425 → −30.6 %: flagged), 0.34 in week 6 (baseline 0.415 →
      −18.1 %: not flagged); detail energy 20 then 13 in week 5 (−35 %) and back to 20;
      entropy 7.0 but only 3 of week 1's images measured; plus ten upscaled images in
      week 5 at 2.0 bytes per pixel that must not count.
    - nano-banana-2 2K, bytes per pixel 1.0 ×4, then 0.8 (−20 %: not flagged), then 0.74
      (baseline 1.0 → −26 %: flagged); no detail measures at all.
    - nano-banana-pro 1K, three images a week (fewer than 5): never judged, even at −80 %.
    """

    def week_of(n: int) -> dt.date:
        return first_monday + dt.timedelta(weeks=n - 1)

    pro = [0.42, 0.44, 0.40, 0.43]
    for n, median in enumerate(pro, start=1):
        entropy = [7.0, None, 7.0, None, 7.0] if n == 1 else [7.0] * 5
        add_images(
            project, "nano-banana-pro", "4K", week_of(n), around(median),
            energy=around(20, 100), entropy=entropy,
        )  # fmt: skip
    add_images(
        project, "nano-banana-pro", "4K", week_of(5), [0.25, 0.28, 0.29, 0.30, 0.31, 0.35],
        energy=[10, 12, 13, 13, 15, 16], entropy=[7.0] * 6,
    )  # fmt: skip
    add_images(project, "nano-banana-pro", "4K", week_of(5), [2.0] * 10, native=False)
    add_images(
        project, "nano-banana-pro", "4K", week_of(6), around(0.34),
        energy=around(20, 100), entropy=[7.0] * 5,
    )  # fmt: skip
    for n, median in enumerate([1.0, 1.0, 1.0, 1.0, 0.8, 0.74], start=1):
        add_images(project, "nano-banana-2", "2K", week_of(n), around(median, 5))
    for n, value in enumerate([0.5, 0.5, 0.5, 0.5, 0.1, 0.1], start=1):
        add_images(project, "nano-banana-pro", "1K", week_of(n), [value] * 3)
