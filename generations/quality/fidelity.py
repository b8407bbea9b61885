"""Fidelity by model × escalation strategy: how close finals came to their approved
previews (generations.imaging.fidelity), from the attempts that made them — an attempt
keeps its measure when a reviewer replaces its final, so re-rendered finals still count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Avg, Count, F, Min, Q
from django.utils import timezone

from generations.models import Attempt, Phase, Project
from generations.permissions import administered_projects
from generations.strategies import label
from generations.types import User


@dataclass(frozen=True)
class FidelityRow:
    model_key: str
    strategy: str
    finals: int
    mean_ssim: float
    worst_ssim: float
    mean_hash_distance: float
    held: int  # under their project's threshold (held for the reviewer, unless upscaled)

    @property
    def strategy_label(self) -> str:
        return label(self.strategy)

    @property
    def held_share(self) -> float:
        return self.held / self.finals if self.finals else 0.0

    @property
    def bar_percent(self) -> int:
        return round(max(0.0, min(1.0, self.mean_ssim)) * 100)


def fidelity_by_strategy(
    *,
    user: User,
    start: dt.date,
    end: dt.date,
    projects: Iterable[Project] | None = None,
) -> list[FidelityRow]:
    """Finals measured in the weeks from the Monday `start` to the one of `end` (as the
    drift report's range), by model × strategy, in one query."""
    tz = timezone.get_default_timezone()
    since = timezone.make_aware(dt.datetime.combine(start, dt.time.min), tz)
    until = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(weeks=1), dt.time.min), tz)
    attempts = Attempt.objects.filter(
        phase=Phase.FINAL,
        fidelity_ssim__isnull=False,
        started_at__gte=since,
        started_at__lt=until,
    )
    if not (user.is_superuser or user.is_staff) or projects is not None:
        allowed = administered_projects(user)
        if projects is not None:
            allowed = allowed.filter(pk__in=[p.pk for p in projects])
        attempts = attempts.filter(generation__project_id__in=allowed.values("pk"))
    rows = (
        attempts.values("model_key", "strategy")
        .annotate(
            finals=Count("pk"),
            mean_ssim=Avg("fidelity_ssim"),
            worst_ssim=Min("fidelity_ssim"),
            mean_hash=Avg("fidelity_hash_distance"),
            held=Count(
                "pk",
                filter=Q(fidelity_ssim__lt=F("generation__project__fidelity_threshold")),
            ),
        )
        .order_by("model_key", "strategy")
    )
    return [
        FidelityRow(
            model_key=row["model_key"],
            strategy=row["strategy"],
            finals=row["finals"],
            mean_ssim=row["mean_ssim"] or 0.0,
            worst_ssim=row["worst_ssim"] or 0.0,
            mean_hash_distance=row["mean_hash"] or 0.0,
            held=row["held"],
        )
        for row in rows
    ]
