"""Provider health, measured from the attempts: per model × size (and per hour of the day
in TIME_ZONE) how often a try succeeds, how many calls were refused with a 429, and the
p50 / p95 latency of the calls that made an image — over the last 24 h, 7 d or 30 d.

Read by the provider health page (site and project admins), by the approval screens (one
line: "Nano Banana Pro 4K: 48 % first-try success this week, p50 6 min") and by the
off-peak lane (generations.offpeak: the hours whose measured success is best).

Definitions (the page says them too):
- a *call* is a finished attempt (not running); *refused* calls are the provider's 429s
  (rate limited or a daily quota) — they use up no try (generations.rendering.jobs);
- a *try* is a call that was not refused; *first-try success* is the share of tries that
  made an image (succeeded, or discarded because the job moved on meanwhile), i.e. the
  chance that a final gets its image at the first try it is given;
- latency is that of the calls that made an image (`Attempt.latency_ms`).

Percentiles are PostgreSQL's `percentile_cont` (continuous: interpolated between the two
nearest values), both from one sort, in one pass with GROUPING SETS; on SQLite the same
rows are read and the same percentiles taken in Python, so both databases give the same
figures.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from generations import catalog
from generations.charts import Frame, line_paths
from generations.models import Attempt

WINDOWS: Final = {
    "24h": ("Last 24 hours", dt.timedelta(hours=24)),
    "7d": ("Last 7 days", dt.timedelta(days=7)),
    "30d": ("Last 30 days", dt.timedelta(days=30)),
}
DEFAULT_WINDOW: Final = "7d"
REFUSED_KINDS: Final = ("rate_limited", "quota_exhausted")
MADE_AN_IMAGE: Final = (Attempt.Outcome.SUCCEEDED, Attempt.Outcome.DISCARDED)
# Fewer tries than this in a cell and its rates are shown but not trusted (nor learned from).
MIN_TRIES: Final = 5
HOURS: Final = range(24)


def percentile(values: list[float], fraction: float) -> float | None:
    """The same continuous percentile as PostgreSQL's percentile_cont, of sorted values."""
    if not values:
        return None
    position = (len(values) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return values[low] + (values[high] - values[low]) * (position - low)


@dataclass
class Cell:
    """The figures of one model × size (× hour of the day, or all hours)."""

    calls: int = 0
    refused: int = 0
    made: int = 0  # tries that made an image
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def tries(self) -> int:
        return self.calls - self.refused

    @property
    def success(self) -> float | None:
        """First-try success: the share of tries that made an image."""
        return self.made / self.tries if self.tries else None

    @property
    def refused_share(self) -> float | None:
        """The 429 share: the share of calls the provider refused."""
        return self.refused / self.calls if self.calls else None

    @property
    def trusted(self) -> bool:
        return self.tries >= MIN_TRIES


@dataclass
class Series:
    model_key: str
    label: str
    size: str
    overall: Cell
    by_hour: dict[int, Cell] = field(default_factory=dict)

    def hour(self, hour: int) -> Cell:
        return self.by_hour.get(hour) or Cell()


@dataclass(frozen=True)
class HealthReport:
    window: str
    label: str
    start: dt.datetime
    end: dt.datetime
    series: list[Series]


_Key = tuple[str, str, int | None]  # model_key, size, hour (None: every hour)


def _attempts(*, start: dt.datetime, end: dt.datetime) -> QuerySet[Attempt]:
    return Attempt.objects.filter(started_at__gte=start, started_at__lt=end).exclude(
        outcome=Attempt.Outcome.RUNNING
    )


def _cells_in_database(
    *,
    start: dt.datetime,
    end: dt.datetime,
    model_key: str,
    size: str,
    by_hour: bool,
) -> dict[_Key, Cell]:
    """One pass over the window: GROUPING SETS give every model × size with and without
    the hour, and one sort per group gives both percentiles (percentile_cont of an array)."""
    where = ["started_at >= %s", "started_at < %s", "outcome <> %s"]
    params: list[Any] = [timezone.get_default_timezone_name(), start, end, "running"]
    if model_key:
        where.append("model_key = %s")
        params.append(model_key)
    if size:
        where.append("size = %s")
        params.append(size)
    if by_hour:
        hour = "CASE WHEN GROUPING(hour) = 0 THEN hour END"
        groups = "GROUPING SETS ((model_key, size, hour), (model_key, size))"
    else:
        hour, groups = "NULL", "model_key, size"
    made = "outcome IN ('succeeded', 'discarded')"
    sql = f"""
        SELECT model_key, size, {hour},
            COUNT(*),
            COUNT(*) FILTER (WHERE error_kind IN ('rate_limited', 'quota_exhausted')),
            COUNT(*) FILTER (WHERE {made}),
            PERCENTILE_CONT(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY latency_ms)
                FILTER (WHERE {made})
        FROM (
            SELECT model_key, size, outcome, error_kind, latency_ms,
                EXTRACT(HOUR FROM started_at AT TIME ZONE %s)::int AS hour
            FROM {Attempt._meta.db_table}
            WHERE {" AND ".join(where)}
        ) calls
        GROUP BY {groups}
    """  # noqa: S608 - the table's name and fixed clauses; every value is a parameter
    cells: dict[_Key, Cell] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for key, size_, hour, calls, refused, made_, percentiles in cursor.fetchall():
            p50, p95 = percentiles if percentiles else (None, None)
            cells[(key, size_, hour)] = Cell(calls, refused, made_, p50, p95)
    return cells


def _cells_in_python(attempts: QuerySet[Attempt]) -> dict[_Key, Cell]:
    """SQLite has no percentile_cont: read the few columns of each call and count here."""
    zone = timezone.get_default_timezone()
    cells: dict[_Key, Cell] = defaultdict(Cell)
    latencies: dict[_Key, list[float]] = defaultdict(list)
    rows = attempts.values_list(
        "model_key", "size", "started_at", "outcome", "error_kind", "latency_ms"
    ).order_by()
    for model_key, size, started_at, outcome, error_kind, latency_ms in rows.iterator(
        chunk_size=5000
    ):
        hour = started_at.astimezone(zone).hour
        keys: tuple[_Key, _Key] = ((model_key, size, None), (model_key, size, hour))
        for key in keys:
            cell = cells[key]
            cell.calls += 1
            cell.refused += error_kind in REFUSED_KINDS
            if outcome in MADE_AN_IMAGE:
                cell.made += 1
                if latency_ms is not None:
                    latencies[key].append(float(latency_ms))
    for key, values in latencies.items():
        values.sort()
        cells[key].p50_ms = percentile(values, 0.5)
        cells[key].p95_ms = percentile(values, 0.95)
    return dict(cells)


def health_cells(
    *,
    start: dt.datetime,
    end: dt.datetime,
    model_key: str = "",
    size: str = "",
    by_hour: bool = True,
) -> dict[_Key, Cell]:
    """Every model × size's figures over [start, end): all hours (hour None) and, with
    `by_hour`, each hour of the day in TIME_ZONE."""
    return _computed(start, end, model_key, size, by_hour)


def recent_cells(
    *, span: dt.timedelta, model_key: str = "", size: str = "", by_hour: bool = True
) -> dict[_Key, Cell]:
    """health_cells over the last `span`, kept STUDIO_HEALTH_CACHE_SECONDS in this
    process's cache: the month reads every attempt of it (docs/benchmarks.md)."""
    ttl = settings.STUDIO_HEALTH_CACHE_SECONDS
    key = f"studio:health:{span.total_seconds():.0f}:{model_key}:{size}:{int(by_hour)}"
    if ttl > 0:
        found = cache.get(key)
        if found is not None:
            return dict(found)
    end = timezone.now()
    cells = _computed(end - span, end, model_key, size, by_hour)
    if ttl > 0:
        cache.set(key, cells, ttl)
    return cells


def _computed(
    start: dt.datetime, end: dt.datetime, model_key: str, size: str, by_hour: bool
) -> dict[_Key, Cell]:
    if connection.vendor == "postgresql":
        return _cells_in_database(
            start=start, end=end, model_key=model_key, size=size, by_hour=by_hour
        )
    attempts = _attempts(start=start, end=end)
    if model_key:
        attempts = attempts.filter(model_key=model_key)
    if size:
        attempts = attempts.filter(size=size)
    cells = _cells_in_python(attempts)
    if not by_hour:
        cells = {key: cell for key, cell in cells.items() if key[2] is None}
    return cells


def provider_health(
    *, window: str = DEFAULT_WINDOW, now: dt.datetime | None = None
) -> HealthReport:
    """The provider health page: one series per model × size that was called in the window,
    catalogue models first in catalogue order, sizes small to large."""
    if window not in WINDOWS:
        window = DEFAULT_WINDOW
    label, span = WINDOWS[window]
    end = now or timezone.now()
    start = end - span
    cells = recent_cells(span=span) if now is None else health_cells(start=start, end=end)
    labels = {model.key: model.label for model in catalog.all_models()}
    order = {key: index for index, key in enumerate(labels)}
    series: dict[tuple[str, str], Series] = {}
    for (model_key, size, hour), cell in cells.items():
        if hour is None:
            series[(model_key, size)] = Series(
                model_key, labels.get(model_key, model_key), size, cell
            )
    for (model_key, size, hour), cell in cells.items():
        if hour is not None and (model_key, size) in series:
            series[(model_key, size)].by_hour[int(hour)] = cell
    ordered = sorted(
        series.values(),
        key=lambda s: (order.get(s.model_key, len(order)), s.model_key, _size_rank(s.size)),
    )
    return HealthReport(window, label, start, end, ordered)


def _size_rank(size: str) -> int:
    digits = "".join(ch for ch in size if ch.isdigit())
    number = int(digits or 0)
    return number * 1000 if size.upper().endswith("K") else number


# --- how a figure is written --------------------------------------------------------------


def percent(share: float | None) -> str:
    return "–" if share is None else f"{round(share * 100)} %"


def duration(ms: float | None) -> str:
    """6 min, 45 s, 1.2 s: the unit a person reads at a glance."""
    if ms is None:
        return "–"
    seconds = ms / 1000
    if seconds >= 90:
        return f"{round(seconds / 60)} min"
    if seconds >= 10:
        return f"{round(seconds)} s"
    return f"{seconds:.1f} s"


# --- at the approval point ----------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalFigure:
    label: str  # "Nano Banana Pro 4K"
    cell: Cell

    @property
    def text(self) -> str:
        if not self.cell.tries:
            return f"{self.label}: no tries measured this week."
        said = f"{self.label}: {percent(self.cell.success)} first-try success this week"
        if self.cell.p50_ms is not None:
            said += f", p50 {duration(self.cell.p50_ms)}"
        if self.cell.refused:
            said += f", {percent(self.cell.refused_share)} of calls refused (429)"
        return said + f" ({self.cell.tries} tr{'y' if self.cell.tries == 1 else 'ies'})."


def approval_figure(*, model_key: str, size: str, now: dt.datetime | None = None) -> ApprovalFigure:
    """What a reviewer reads before approving a final: the last 7 days of that model at
    the final's size."""
    span = WINDOWS["7d"][1]
    if now is None:
        cells = recent_cells(span=span, model_key=model_key, size=size, by_hour=False)
    else:
        cells = health_cells(
            start=now - span, end=now, model_key=model_key, size=size, by_hour=False
        )
    try:
        label = catalog.get_model(model_key).label
    except LookupError:
        label = model_key
    return ApprovalFigure(f"{label} {size}", cells.get((model_key, size, None)) or Cell())


# --- the page's small charts ----------------------------------------------------------------

CHART = Frame(width=360, height=120, left=34, right=34, top=8, bottom=20)


@dataclass(frozen=True)
class Bar:
    hour: int
    x: float
    y: float
    width: float
    height: float
    title: str
    trusted: bool


@dataclass(frozen=True)
class HourChart:
    """Success by hour of the day as bars (0–100 %), p50 latency as a line on the right
    axis (0 to the highest hour's p50)."""

    frame: Frame
    bars: list[Bar]
    latency_paths: list[str]
    latency_top: str
    hour_labels: list[tuple[float, str]]


def hour_chart(series: Series) -> HourChart:
    frame = CHART
    bars = []
    highest = max((series.hour(h).p50_ms or 0.0 for h in HOURS), default=0.0)
    points: list[tuple[float, float] | None] = []
    labels = []
    for hour in HOURS:
        cell = series.hour(hour)
        x, width = frame.band(hour, len(HOURS), fill=0.8)
        centre = x + width / 2
        if hour % 6 == 0:
            labels.append((centre, f"{hour:02d}"))
        if cell.success is not None:
            y = frame.y_of(cell.success)
            bars.append(
                Bar(
                    hour,
                    round(x, 1),
                    round(y, 1),
                    round(width, 1),
                    round(frame.baseline - y, 1),
                    f"{hour:02d}:00 — {percent(cell.success)} success of {cell.tries} tries, "
                    f"{percent(cell.refused_share)} 429, p50 {duration(cell.p50_ms)}",
                    cell.trusted,
                )
            )
        if cell.p50_ms is not None and highest:
            points.append((round(centre, 1), round(frame.y_of(cell.p50_ms / highest), 1)))
        else:
            points.append(None)
    return HourChart(frame, bars, line_paths(points), duration(highest or None), labels)


def best_hours(
    *, model_key: str, size: str, now: dt.datetime | None = None, hours: int = 6
) -> list[int] | None:
    """The `hours` contiguous hours of the day (wrapping at midnight) whose measured
    first-try success at `size` over the last 30 days is highest, or None when too few
    hours have enough tries to tell."""
    cells = _month(model_key=model_key, size=size, now=now)
    by_hour = {
        int(key[2]): cell for key, cell in cells.items() if key[2] is not None and cell.trusted
    }
    if len(by_hour) < hours:
        return None

    def score(first: int) -> tuple[float, int]:
        window = [by_hour.get((first + i) % 24) for i in range(hours)]
        made = sum(c.made for c in window if c)
        tries = sum(c.tries for c in window if c)
        return (made / tries if tries else 0.0, -first)

    first = max(range(24), key=score)
    return [(first + i) % 24 for i in range(hours)]


def window_success(
    *, model_key: str, size: str, hours: Iterable[int], now: dt.datetime | None = None
) -> tuple[Cell, Cell]:
    """(the chosen hours, every hour) over the last 30 days: what the off-peak choice
    promises against the day as a whole."""
    cells = _month(model_key=model_key, size=size, now=now)
    chosen = set(hours)
    inside = Cell()
    for key, cell in cells.items():
        if key[2] is not None and int(key[2]) in chosen:
            inside.calls += cell.calls
            inside.refused += cell.refused
            inside.made += cell.made
    return inside, cells.get((model_key, size, None)) or Cell()


def _month(*, model_key: str, size: str, now: dt.datetime | None) -> dict[_Key, Cell]:
    span = WINDOWS["30d"][1]
    if now is None:
        return recent_cells(span=span, model_key=model_key, size=size)
    return health_cells(start=now - span, end=now, model_key=model_key, size=size)
