"""Off-peak finals: an approved final may wait for its model's good hours, with a deadline
after which it runs anyway. The hours are configured per model
(`STUDIO_OFFPEAK_WINDOWS`, "01:00-06:00" in TIME_ZONE) or learned from provider health
(the six contiguous hours whose measured first-try success at the final's size was best
over 30 days, generations.health.best_hours).

The wait is explicit: the approval writes `Generation.not_before` (and `next_attempt_at`)
on the queued final, says so in its audit row and in the job's waiting reason; a worker
does not claim it before then (generations.rendering.jobs), and the sweeper kicks it
when it is due, as any waiting job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from generations import health
from generations.lanes import Lane

# The lanes a reviewer chooses between at approval (the economy lane adds its own).
NOW, OFF_PEAK = "now", "offpeak"
LANES = [(NOW, "Now"), (OFF_PEAK, "Off-peak")]
# What an approval may ask for: the project's default (""), a lane of the price list (now,
# economy), "now" as said before the economy lane came, or off-peak (now's price, later).
APPROVAL_LANES = [("", "The project's"), *Lane.choices, (NOW, "Now"), (OFF_PEAK, "Off-peak")]
APPROVAL_LANE_VALUES = frozenset({*Lane.values, NOW, OFF_PEAK})


@dataclass(frozen=True)
class Plan:
    hours: tuple[int, ...]  # the good hours of the day, in TIME_ZONE, in order
    source: str  # "configured" | "measured"
    starts_at: dt.datetime  # the window's next opening (now, when it is open)
    deadline: dt.datetime  # it runs by then whatever the hours
    window_success: health.Cell | None = None  # measured, in the hours
    day_success: health.Cell | None = None  # measured, the whole day

    @property
    def runs_at(self) -> dt.datetime:
        return min(self.starts_at, self.deadline)

    @property
    def hours_label(self) -> str:
        first, last = self.hours[0], (self.hours[-1] + 1) % 24
        return f"{first:02d}:00–{last:02d}:00"

    @property
    def waiting(self) -> str:
        """The queued final's waiting reason (what its card and page say)."""
        return (
            f"Off-peak: waits for {self.hours_label}; starts {_when(self.runs_at)}, "
            f"runs by {_when(self.deadline)} at the latest"
        )

    @property
    def text(self) -> str:
        """What the reviewer reads before choosing, and the waiting job says."""
        said = f"Off-peak: waits for the good hours {self.hours_label} ({self.source}"
        if self.window_success and self.window_success.success is not None:
            said += f", {health.percent(self.window_success.success)} first-try success then"
            if self.day_success and self.day_success.success is not None:
                said += f" vs {health.percent(self.day_success.success)} over the day"
        said += f"); starts {_when(self.runs_at)}"
        if self.deadline <= self.starts_at:
            said += " (its deadline: the hours open later)"
        else:
            said += f", runs by {_when(self.deadline)} at the latest"
        return said + "."


def _when(at: dt.datetime) -> str:
    local = timezone.localtime(at)
    today = timezone.localdate()
    if local.date() == today:
        return f"today {local:%H:%M}"
    if local.date() == today + dt.timedelta(days=1):
        return f"tomorrow {local:%H:%M}"
    return f"{local:%a %d %b %H:%M}"


def configured_hours(model_key: str) -> tuple[int, ...] | None:
    """The hours of "01:00-06:00" (start included, end excluded, wrapping at midnight)."""
    raw = settings.STUDIO_OFFPEAK_WINDOWS.get(model_key)
    if not raw:
        return None
    start, _, end = str(raw).partition("-")
    first, last = int(start.split(":")[0]), int(end.split(":")[0])
    count = (last - first) % 24 or 24
    return tuple((first + i) % 24 for i in range(count))


def next_opening(hours: tuple[int, ...], *, now: dt.datetime) -> dt.datetime:
    """`now` when the hour now is one of `hours`, else the start of the next one."""
    local = timezone.localtime(now)
    if local.hour in hours:
        return now
    for ahead in range(1, 25):
        candidate = (local + dt.timedelta(hours=ahead)).replace(minute=0, second=0, microsecond=0)
        if candidate.hour in hours:
            return candidate
    return now  # pragma: no cover - hours is never empty


def offpeak_plan(*, model_key: str, size: str, now: dt.datetime | None = None) -> Plan | None:
    """When an off-peak final of `model_key` at `size` approved `now` would run, or None
    when no good hours are configured or measured for it."""
    now = now or timezone.now()
    hours = configured_hours(model_key)
    source = "configured"
    if hours is None:
        learned = health.best_hours(model_key=model_key, size=size, now=now)
        if learned is None:
            return None
        hours, source = tuple(learned), "measured"
    inside, day = health.window_success(model_key=model_key, size=size, hours=hours, now=now)
    return Plan(
        hours=hours,
        source=source,
        starts_at=next_opening(hours, now=now),
        deadline=now + dt.timedelta(hours=settings.STUDIO_OFFPEAK_MAX_WAIT_HOURS),
        window_success=inside if inside.tries else None,
        day_success=day if day.tries else None,
    )
