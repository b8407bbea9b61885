"""The periodic sweep: return expired leases to the queue, re-kick queued jobs whose
message was lost, and re-kick renditions that never arrived. Safe to run from several
beat instances at once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from generations.dispatch import kick
from generations.imaging import renditions
from generations.lanes import Lane
from generations.models import Generation
from generations.rendering.jobs import attempts_reap_cancelled, generation_reap
from generations.spend.budgets import reservations_sweep
from generations.states import QUEUED, RENDERING, State

BATCH = 500


@dataclass(frozen=True)
class SweepReport:
    reaped: int
    kicked: int
    renditions: int = 0
    released: int = 0  # stray reservations (should stay 0: flow.apply closes them)


def generations_sweep() -> SweepReport:
    return SweepReport(
        reaped=_reap_expired_leases(),
        kicked=_rekick_due(),
        renditions=renditions.images_rekick(),
        released=reservations_sweep(),
    )


def _reap_expired_leases() -> int:
    expired = Generation.objects.select_related("submission", "project").filter(
        state__in=RENDERING, lease_expires_at__lt=timezone.now()
    )[:BATCH]
    reaped = sum(generation_reap(generation=generation) != "skipped" for generation in expired)
    return reaped + attempts_reap_cancelled()


def _rekick_due() -> int:
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.STUDIO_KICK_STALE_SECONDS)
    not_recently_kicked = Q(kicked_at__isnull=True) | Q(kicked_at__lte=stale)
    due = Generation.objects.filter(
        not_recently_kicked, state__in=QUEUED, next_attempt_at__lte=now
    ).exclude(state=State.FINAL_QUEUED, final_lane=Lane.BATCH)  # the economy poller's
    kicked = 0
    for pk in list(due.values_list("pk", flat=True)[:BATCH]):
        # Conditional, so two sweepers never both kick the same job.
        if due.filter(pk=pk).update(kicked_at=now):
            kick(pk)
            kicked += 1
    return kicked
