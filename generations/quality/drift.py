"""Image quality over time: a detail measure of decoded pixels, and the drift report.

Providers have been seen to ship visibly less detail for the same price and the same pixel
size (one model's 4K files went from ~30 MB to ~8 MB in a few months). For every native
image we keep bytes per pixel and two measures of the decoded pixels
(`imaging.measure_detail`, both computed at ingest); admins get the weekly medians per
model × size and a flag on any week whose median falls more than STUDIO_DRIFT_DROP below
the trailing baseline.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Aggregate, Count, FloatField, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from generations import charts
from generations.models import DriftAlert, Image, Notification, Project
from generations.notifications import notify_people
from generations.permissions import administered_projects
from generations.types import User

# --- the weekly series ---------------------------------------------------------------------


class Metric(NamedTuple):
    key: str  # the Image field
    label: str
    unit: str
    decimals: int  # how its values are shown


METRICS: Final = (
    Metric("bytes_per_pixel", "Bytes per pixel", "bytes/pixel", 2),
    Metric("detail_energy", "Detail energy", "mean |Laplacian|", 1),
    Metric("luma_entropy", "Luminance entropy", "bits", 2),
)
METRIC_KEYS: Final = tuple(metric.key for metric in METRICS)
DEFAULT_WEEKS: Final = 26


def metric_get(key: str) -> Metric:
    for metric in METRICS:
        if metric.key == key:
            return metric
    raise LookupError(key)


class Status:
    OK = "ok"
    DROP = "drop"
    NOT_ENOUGH_DATA = "not_enough_data"


@dataclass
class Point:
    """One metric of one series in one week."""

    median: float | None
    n: int
    baseline: float | None = None
    change: float | None = None  # relative to the baseline: -0.31 = 31 % below
    status: str = Status.NOT_ENOUGH_DATA

    @property
    def flagged(self) -> bool:
        return self.status == Status.DROP


@dataclass
class Week:
    start: dt.date  # the Monday, in settings.TIME_ZONE
    points: dict[str, Point]

    @property
    def label(self) -> str:
        year, week, _ = self.start.isocalendar()
        return f"{year}-W{week:02d}"


@dataclass
class Series:
    model_key: str
    size: str
    weeks: list[Week] = field(default_factory=list)  # every week of the range, oldest first

    def flagged(self, metric: str) -> list[Week]:
        return [week for week in self.weeks if week.points[metric].flagged]


@dataclass(frozen=True)
class DriftThresholds:
    drop: float  # 0.25 = flag a median more than 25 % below the baseline
    baseline_weeks: int  # the trailing window of weekly medians
    min_samples: int  # images a week needs to count (as baseline or as judged week)
    min_baseline_weeks: int = 2

    @classmethod
    def from_settings(cls) -> DriftThresholds:
        return cls(
            drop=settings.STUDIO_DRIFT_DROP,
            baseline_weeks=settings.STUDIO_DRIFT_BASELINE_WEEKS,
            min_samples=settings.STUDIO_DRIFT_MIN_SAMPLES,
        )


@dataclass
class DriftReport:
    start: dt.date  # first Monday shown
    end: dt.date  # last Monday shown
    series: list[Series]
    thresholds: DriftThresholds

    @property
    def week_starts(self) -> list[dt.date]:
        return _mondays(self.start, self.end)


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _mondays(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(
        dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone()
    )


def report_range(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """The Mondays of the first and last week shown: by default the last DEFAULT_WEEKS
    weeks, this one included; with only an end, the DEFAULT_WEEKS weeks up to it."""
    today = timezone.localdate(timezone=timezone.get_default_timezone())
    last = week_start(end or today)
    first = week_start(start) if start else last - dt.timedelta(weeks=DEFAULT_WEEKS - 1)
    return first, last


class Median(Aggregate):
    """PostgreSQL's continuous median (interpolates between the two middle values, like
    statistics.median). Ignores NULLs, as the report must."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _images(*, user: User | None, projects: Iterable[Project] | None) -> QuerySet[Image]:
    images = Image.objects.filter(native=True).exclude(model_key="").exclude(size="")
    # No user: the system itself (drift alerts), which judges every project's images.
    sees_all = user is None or user.is_superuser or user.is_staff
    if not sees_all or projects is not None:
        allowed = Project.objects.all() if user is None else administered_projects(user)
        if projects is not None:
            allowed = allowed.filter(pk__in=[p.pk for p in projects])
        images = images.filter(generation__project_id__in=allowed.values("pk"))
    return images


# (model_key, size, monday) -> metric -> (median, n)
_Cells = dict[tuple[str, str, dt.date], dict[str, tuple[float | None, int]]]


def _cells_in_database(images: QuerySet[Image]) -> _Cells:
    aggregates: dict[str, Any] = {}
    for key in METRIC_KEYS:
        aggregates[f"{key}__median"] = Median(key)
        aggregates[f"{key}__n"] = Count(key)
    rows = (
        images.annotate(week=TruncWeek("created_at", tzinfo=timezone.get_default_timezone()))
        .values("model_key", "size", "week")
        .annotate(**aggregates)
        .order_by()
    )
    cells: _Cells = {}
    for row in rows:
        cell = (row["model_key"], row["size"], _as_date(row["week"]))
        cells[cell] = {key: (row[f"{key}__median"], row[f"{key}__n"]) for key in METRIC_KEYS}
    return cells


def _cells_in_python(images: QuerySet[Image]) -> _Cells:
    """SQLite has no median: stream the values (three floats an image) and take them here.
    The week comes from the same TruncWeek as on PostgreSQL, so the buckets agree."""
    values: dict[tuple[str, str, dt.date], dict[str, list[float]]] = defaultdict(
        lambda: {key: [] for key in METRIC_KEYS}
    )
    rows = images.annotate(
        week=TruncWeek("created_at", tzinfo=timezone.get_default_timezone())
    ).values_list("model_key", "size", "week", *METRIC_KEYS)
    for model_key, size, week, *metrics in rows.order_by().iterator(chunk_size=5000):
        lists = values[(model_key, size, _as_date(week))]
        for key, value in zip(METRIC_KEYS, metrics, strict=True):
            if value is not None:
                lists[key].append(value)
    return {
        cell: {
            key: (statistics.median(found) if found else None, len(found))
            for key, found in lists.items()
        }
        for cell, lists in values.items()
    }


def _as_date(week: dt.datetime | dt.date) -> dt.date:
    if isinstance(week, dt.datetime):
        if timezone.is_aware(week):
            week = timezone.localtime(week, timezone.get_default_timezone())
        return week.date()
    return week


def weekly_medians(
    *,
    user: User | None,
    start: dt.date,
    end: dt.date,
    projects: Iterable[Project] | None = None,
) -> _Cells:
    """Per model_key × size × week (Mondays from `start` to `end`, inclusive, in
    settings.TIME_ZONE): the median and count of each metric over native images,
    images whose metric is null left out of that metric. Only images of projects `user`
    may see in the report; `projects` narrows further."""
    images = _images(user=user, projects=projects).filter(
        created_at__gte=_local_midnight(week_start(start)),
        created_at__lt=_local_midnight(week_start(end) + dt.timedelta(weeks=1)),
    )
    if connection.vendor == "postgresql":
        return _cells_in_database(images)
    return _cells_in_python(images)


def flag_drops(
    points: list[tuple[dt.date, Point]], thresholds: DriftThresholds
) -> list[tuple[dt.date, Point]]:
    """Judge each week of one series and metric against its trailing baseline: the median
    of the weekly medians of the previous `baseline_weeks` calendar weeks that had at least
    `min_samples` images (at least `min_baseline_weeks` of them, else not enough data).
    `points` must hold every week, oldest first; they are updated in place."""
    counted: list[tuple[dt.date, float]] = []  # weeks with enough samples
    for monday, point in points:
        window_start = monday - dt.timedelta(weeks=thresholds.baseline_weeks)
        window = [value for day, value in counted if window_start <= day < monday]
        median = point.median
        if median is None or point.n < thresholds.min_samples:
            point.status = Status.NOT_ENOUGH_DATA
            continue
        counted.append((monday, median))
        if len(window) < thresholds.min_baseline_weeks:
            point.status = Status.NOT_ENOUGH_DATA
            continue
        point.baseline = baseline = statistics.median(window)
        if baseline <= 0:
            point.status = Status.OK  # nothing to fall from
            continue
        point.change = (median - baseline) / baseline
        point.status = Status.DROP if median < baseline * (1 - thresholds.drop) else Status.OK
    return points


def drift_report(
    *,
    user: User | None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    projects: Iterable[Project] | None = None,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """The weekly series of every model × size with images in the range, each metric's
    weeks judged against the trailing baseline (which may reach back before `start`)."""
    thresholds = thresholds or DriftThresholds.from_settings()
    first, last = report_range(start, end)
    if last < first:
        first, last = last, first
    reach_back = first - dt.timedelta(weeks=thresholds.baseline_weeks)
    cells = weekly_medians(user=user, start=reach_back, end=last, projects=projects)
    mondays = _mondays(reach_back, last)
    series_keys = sorted(
        {(model_key, size) for model_key, size, monday in cells if monday >= first},
        key=_series_order,
    )
    report = DriftReport(start=first, end=last, series=[], thresholds=thresholds)
    for model_key, size in series_keys:
        weeks = []
        for monday in mondays:
            found = cells.get((model_key, size, monday), {})
            points = {key: Point(*found.get(key, (None, 0))) for key in METRIC_KEYS}
            weeks.append(Week(start=monday, points=points))
        for key in METRIC_KEYS:
            flag_drops([(week.start, week.points[key]) for week in weeks], thresholds)
        series = Series(model_key, size, [week for week in weeks if week.start >= first])
        report.series.append(series)
    return report


_SIZE_ORDER: Final = {"512": 0, "1K": 1, "2K": 2, "4K": 3}


def _series_order(key: tuple[str, str]) -> tuple[str, int, str]:
    model_key, size = key
    return (model_key, _SIZE_ORDER.get(size, 9), size)


# --- presentation helpers ------------------------------------------------------------------


def format_value(value: float | None, metric: Metric) -> str:
    return "–" if value is None else f"{value:.{metric.decimals}f}"


def describe_point(point: Point, metric: Metric) -> str:
    """'−31 % vs baseline 0.42 → 0.29 (n=12)', or why there is no verdict."""
    value = format_value(point.median, metric)
    if point.status == Status.NOT_ENOUGH_DATA:
        return f"{value} (n={point.n}), not enough data"
    if point.change is None:
        return f"{value} (n={point.n})"
    percent = round(point.change * 100)
    sign = "−" if percent < 0 else "+"
    baseline = format_value(point.baseline, metric)
    return f"{sign}{abs(percent)} % vs baseline {baseline} → {value} (n={point.n})"


@dataclass
class ChartMark:
    x: float
    y: float
    week: Week
    point: Point
    title: str


@dataclass
class Chart:
    """An inline SVG line chart of one series and metric, laid out here."""

    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    paths: list[str]  # one "M … L …" run per stretch of consecutive weeks with data
    marks: list[ChartMark]
    y_ticks: list[tuple[float, str]]  # (y, label)
    x_ticks: list[tuple[float, str]]
    baseline_path: str


def chart_of(series: Series, metric: Metric, *, width: int = 640, height: int = 200) -> Chart:
    frame = charts.Frame(width, height, left=48, right=12, top=12, bottom=28)
    weeks = series.weeks
    values = [w.points[metric.key].median for w in weeks]
    known = [v for v in values if v is not None]
    # Zero at the bottom: a drop looks as big as it is.
    ceiling = max(known, default=1.0) * 1.1 or 1.0

    def y_of(value: float) -> float:
        return round(frame.y_of(value / ceiling), 1)

    line: list[charts.Xy | None] = []
    marks: list[ChartMark] = []
    baseline: list[charts.Xy] = []
    for i, (week, value) in enumerate(zip(weeks, values, strict=True)):
        point = week.points[metric.key]
        if value is None:
            line.append(None)
            continue
        x, y = round(frame.x_of(i, len(weeks)), 1), y_of(value)
        line.append((x, y))
        marks.append(ChartMark(x, y, week, point, f"{week.label}: {describe_point(point, metric)}"))
        if point.baseline is not None:
            baseline.append((x, y_of(point.baseline)))
    y_ticks = [(y_of(ceiling * f), format_value(ceiling * f, metric)) for f in (0, 0.5, 1)]
    x_ticks = [
        (round(frame.x_of(i, len(weeks)), 1), weeks[i].label) for i in charts.labelled(len(weeks))
    ]
    return Chart(
        width=width,
        height=height,
        left=frame.left,
        top=frame.top,
        plot_width=frame.plot_width,
        plot_height=frame.plot_height,
        paths=charts.line_paths(line),
        marks=marks,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        baseline_path=charts.path_data(baseline),
    )


def report_rows(report: DriftReport) -> Iterator[list[str]]:
    """The weekly series as CSV rows (a header first): every metric's median, count,
    baseline, change and verdict per model × size × week."""
    header = ["week", "week_start", "model_key", "size"]
    for key in METRIC_KEYS:
        header += [f"{key}_median", f"{key}_n", f"{key}_baseline", f"{key}_change", f"{key}_status"]
    yield header
    for series in report.series:
        for week in series.weeks:
            row = [week.label, week.start.isoformat(), series.model_key, series.size]
            for key in METRIC_KEYS:
                point = week.points[key]
                row += [
                    "" if point.median is None else repr(point.median),
                    str(point.n),
                    "" if point.baseline is None else repr(point.baseline),
                    "" if point.change is None else f"{point.change:.4f}",
                    point.status,
                ]
            yield row


# --- telling admins -------------------------------------------------------------------------


def drift_alerts_send(*, today: dt.date | None = None) -> int:
    """Tell the site admins of each drop flagged in the last complete week (the current one
    is still filling up), once per model × size × metric × week whenever this runs; the
    judgement is the report's, over every project. Returns how many drops were new."""
    today = today or timezone.localdate(timezone=timezone.get_default_timezone())
    judged = week_start(today) - dt.timedelta(weeks=1)
    report = drift_report(user=None, start=judged, end=judged)
    drops = [
        (series, metric, week)
        for series in report.series
        for metric in METRICS
        for week in series.flagged(metric.key)
    ]
    if not drops:
        return 0
    admins = list(
        get_user_model()
        .objects.filter(Q(is_staff=True) | Q(is_superuser=True), is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    told = 0
    for series, metric, week in drops:
        now = timezone.now()
        with transaction.atomic():
            _, created = DriftAlert.objects.get_or_create(
                model_key=series.model_key,
                size=series.size,
                metric=metric.key,
                week=week.start,
                defaults={"created_at": now},
            )
            if not created:
                continue  # told already
            text = (
                f"Quality drift: {series.model_key} {series.size}, {metric.label.lower()} "
                f"in {week.label}: {describe_point(week.points[metric.key], metric)}."
            )
            notify_people(recipients=admins, kind=Notification.Kind.QUALITY_DRIFT, text=text)
        told += 1
    return told
