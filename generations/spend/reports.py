"""Spend reports for admins, aggregated in the database.

Every figure is a GROUP BY / SUM in SQL over the daily roll-ups of the ledger
(generations.spend.rollups: a few thousand rows a year, not a million); Python only walks the
aggregated rows (buckets × models, a handful of projects, people, models), so a page costs
the same few queries over a hundred ledger rows or a million. The same reports read from
the ledger itself when the roll-ups cannot answer (they count the days of another time
zone; see rollups.rollups_ready) or when asked to (`from_ledger`, the benchmark's
baseline): both give the same figures. Amounts are signed USD: refunds and adjustments
are negative rows, so "net" is just the sum.

Ranges are half-open [from, to) in local days of settings.TIME_ZONE: a charge at 23:30
local time belongs to that day even when it is the next day in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, TypeVar

from django.db import connection, transaction
from django.db.models import Count, F, Model, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, NullIf, Trunc
from django.utils import timezone

from generations.models import (
    Attempt,
    Generation,
    Lane,
    LedgerEntry,
    PriceEntry,
    PriceKind,
    Project,
    SavingsRollup,
    SpendPersonRollup,
    SpendRollup,
)
from generations.permissions import administered_projects, is_site_admin
from generations.spend import rollups
from generations.spend.money import money
from generations.spend.rollups import APPROVED_STATES, DELIVERED_STATES, ZERO, from_e4
from generations.types import User

GRAINS: Final = ("day", "week", "month")
DEFAULT_DAYS: Final = 30
# Provider health: how far back attempts count, and how many it takes to trust the rate.
HEALTH_WINDOW: Final = dt.timedelta(days=30)
MIN_SAMPLES: Final = 30
# First-try success rates published for Nano Banana Pro (DESIGN.md); 512 is taken as 1K.
PUBLISHED_SUCCESS: Final = {
    "512": Decimal("0.95"),
    "1K": Decimal("0.95"),
    "2K": Decimal("0.85"),
    "4K": Decimal("0.5"),
}
# Without enough measured failures, assume failed calls are not billed: the direct-4K
# figure is then the lowest it could be, so the savings shown are never overstated.
ASSUMED_BILLED_FAILURE_SHARE: Final = Decimal(0)

_sum = rollups.ledger_sum
_CHARGE = Q(kind=LedgerEntry.Kind.CHARGE)
# The columns every total and breakdown row has (from the ledger, and from the roll-ups).
_MEASURES: Final[dict[str, Any]] = {**rollups.LEDGER_MEASURES, "net": _sum()}
MEASURE_NAMES: Final = ("images", "charges", "refunds", "adjustments", "net", "waste", "simulated")
_ROLLUP_MEASURES: Final[dict[str, Any]] = {
    name: Sum(column) for name, column in rollups.ROLLUP_COLUMNS.items()
}


def _in_usd(row: dict[str, Any]) -> dict[str, Any]:
    """A roll-up row's measures as the ledger's: USD, and net = every kind together."""
    out = {name: from_e4(row[name]) for name in _ROLLUP_MEASURES if name != "images"}
    out["images"] = row["images"]
    out["net"] = out["charges"] + out["refunds"] + out["adjustments"]
    return {**row, **out}


@dataclass(frozen=True)
class ReportFilter:
    """What a report covers: local days [date_from, date_to), one project or all the
    user may see, and the chart's bucket size."""

    date_from: dt.date
    date_to: dt.date
    project: Project | None = None
    grain: str = "day"

    @classmethod
    def default(cls, *, project: Project | None = None, grain: str = "day") -> ReportFilter:
        """The last 30 local days, today included."""
        tomorrow = timezone.localdate() + dt.timedelta(days=1)
        return cls(tomorrow - dt.timedelta(days=DEFAULT_DAYS), tomorrow, project, grain)

    @property
    def start(self) -> dt.datetime:
        return _local_midnight(self.date_from)

    @property
    def end(self) -> dt.datetime:
        return _local_midnight(self.date_to)

    @property
    def slug(self) -> str:
        """For file names: the range, and the project if one is chosen."""
        where = f"_{self.project.slug}" if self.project is not None else ""
        return f"{self.date_from:%Y-%m-%d}_{self.date_to:%Y-%m-%d}{where}"


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@contextmanager
def _aggregating() -> Iterator[None]:
    """Let PostgreSQL hash the groups in memory. It estimates GROUP BY date_trunc(created_at)
    as one group per row (it takes the timestamp's distinct count), so it would sort every
    row of the range — on disk past the default 4 MB of work_mem — when the groups are few
    (buckets × models × sizes × lanes). Only for this transaction (SET LOCAL)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('enable_sort', 'off', true), "
                "set_config('work_mem', '64MB', true)"
            )
        yield


def ledger_in_scope(*, user: User, filters: ReportFilter) -> QuerySet[LedgerEntry]:
    """The ledger rows of the range that `user` may see."""
    rows = LedgerEntry.objects.filter(created_at__gte=filters.start, created_at__lt=filters.end)
    return _visible(rows, user=user, filters=filters)


_Rolled = TypeVar("_Rolled", SpendRollup, SpendPersonRollup, SavingsRollup)


def _rollups_in_scope(
    model: type[_Rolled], *, user: User, filters: ReportFilter
) -> QuerySet[_Rolled]:
    """The roll-up rows of the range's local days that `user` may see."""
    rows = model.objects.filter(
        time_zone=rollups.zone(), day__gte=filters.date_from, day__lt=filters.date_to
    )
    return _visible(rows, user=user, filters=filters)


_Row = TypeVar("_Row", bound=Model)


def _visible(rows: QuerySet[_Row], *, user: User, filters: ReportFilter) -> QuerySet[_Row]:
    if not is_site_admin(user):
        rows = rows.filter(project__in=administered_projects(user))
    if filters.project is not None:
        rows = rows.filter(project=filters.project)
    return rows


# --- Spend over time, totals, breakdowns -----------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bucket of the chart: net per model, stacked."""

    start: dt.date
    label: str
    by_model: dict[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.by_model.values(), ZERO)


@dataclass(frozen=True)
class SpendSeries:
    grain: str
    models: list[str]
    bars: list[Bar]

    @property
    def peak(self) -> Decimal:
        return max((_stack_height(bar) for bar in self.bars), default=ZERO)


def _stack_height(bar: Bar) -> Decimal:
    # Negative nets (a bucket of refunds) are listed, not drawn below the axis.
    return sum((max(v, ZERO) for v in bar.by_model.values()), ZERO)


BREAKDOWNS: Final = {
    "project": "Project",
    "person": "Person",
    "model": "Model",
    "size": "Size",
    "lane": "Lane",
}


@dataclass(frozen=True)
class SpendReport:
    totals: dict[str, Any]
    series: SpendSeries
    breakdowns: dict[str, list[dict[str, Any]]]  # by -> rows: key + measures, biggest first


def _empty() -> dict[str, Any]:
    return {name: 0 if name == "images" else ZERO for name in MEASURE_NAMES}


def _add(into: dict[str, Any], row: dict[str, Any]) -> None:
    for name in MEASURE_NAMES:
        into[name] += row[name]


def _ranked(groups: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [{"key": key, **measures} for key, measures in groups.items()]
    return sorted(rows, key=lambda row: (-row["net"], row["key"]))


def spend_report(*, user: User, filters: ReportFilter, from_ledger: bool = False) -> SpendReport:
    """Totals, spend over time by model, and the breakdowns by project, person, model,
    size and lane, in two grouped queries: one per (bucket, model, size, lane) and one per
    (project, person). Their rows are bounded by those cardinalities (a year by day is
    ≤ 366 × models × sizes × lanes), never by the ledger's size; the totals, the series
    and the model / size / lane breakdowns are sums over the first, project and person
    over the second. From the daily roll-ups, or the ledger (see the module docstring)."""
    if not from_ledger and rollups.rollups_ready():
        return _spend_report(*_spend_rollups(user=user, filters=filters), filters=filters)
    with _aggregating():
        return _spend_report(*_spend_ledger(user=user, filters=filters), filters=filters)


_Rows = Iterable[dict[str, Any]]


def _spend_rollups(*, user: User, filters: ReportFilter) -> tuple[_Rows, _Rows]:
    by_model = _rollups_in_scope(SpendRollup, user=user, filters=filters)
    bucket = F("day") if filters.grain == "day" else Trunc("day", filters.grain)
    by_time = (
        by_model.annotate(bucket=bucket)
        .values("bucket", "model_key", "size", "lane")
        .annotate(**_ROLLUP_MEASURES)
        .order_by()
    )
    by_who = (
        _rollups_in_scope(SpendPersonRollup, user=user, filters=filters)
        .values(project_name=F("project__name"), username=Coalesce("user__username", Value("")))
        .annotate(**_ROLLUP_MEASURES)
        .order_by()
    )
    return map(_in_usd, by_time), map(_in_usd, by_who)


def _spend_ledger(*, user: User, filters: ReportFilter) -> tuple[_Rows, _Rows]:
    scope = ledger_in_scope(user=user, filters=filters)
    bucket = Trunc("created_at", filters.grain, tzinfo=timezone.get_current_timezone())
    by_time = (
        scope.annotate(bucket=bucket)
        .values("bucket", "model_key", "size", "lane")
        .annotate(**_MEASURES)
        .order_by()
    )
    by_who = (
        scope.values(
            project_name=F("project__name"), username=Coalesce("user__username", Value(""))
        )
        .annotate(**_MEASURES)
        .order_by()
    )
    # Buckets as local days, like the roll-ups' (the ledger's are local midnights).
    days = ({**row, "bucket": timezone.localtime(row["bucket"]).date()} for row in by_time)
    return days, by_who


def _spend_report(by_time: _Rows, by_who: _Rows, *, filters: ReportFilter) -> SpendReport:
    totals = _empty()
    groups: dict[str, dict[str, dict[str, Any]]] = {by: {} for by in BREAKDOWNS}
    cells: dict[tuple[dt.date, str], Decimal] = {}
    for row in by_time:
        _add(totals, row)
        for by, key in (("model", row["model_key"]), ("size", row["size"]), ("lane", row["lane"])):
            _add(groups[by].setdefault(key, _empty()), row)
        cell = (row["bucket"], row["model_key"] or "other")
        cells[cell] = cells.get(cell, ZERO) + row["net"]
    for row in by_who:
        _add(groups["project"].setdefault(row["project_name"], _empty()), row)
        _add(groups["person"].setdefault(row["username"], _empty()), row)
    totals["real"] = totals["net"] - totals["simulated"]
    models = sorted({model for _, model in cells})
    bars = [
        Bar(day, _bucket_label(day, filters.grain), {m: cells.get((day, m), ZERO) for m in models})
        for day in buckets(filters)
    ]
    return SpendReport(
        totals=totals,
        series=SpendSeries(filters.grain, models, bars),
        breakdowns={by: _ranked(rows) for by, rows in groups.items()},
    )


def buckets(filters: ReportFilter) -> list[dt.date]:
    """The first day of every bucket the range touches."""
    day = filters.date_from
    if filters.grain == "week":
        day -= dt.timedelta(days=day.weekday())
    elif filters.grain == "month":
        day = day.replace(day=1)
    out = []
    while day < filters.date_to:
        out.append(day)
        if filters.grain == "day":
            day += dt.timedelta(days=1)
        elif filters.grain == "week":
            day += dt.timedelta(days=7)
        else:
            day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def _bucket_label(day: dt.date, grain: str) -> str:
    if grain == "month":
        return f"{day:%Y-%m}"
    if grain == "week":
        return f"week of {day:%Y-%m-%d}"
    return f"{day:%Y-%m-%d}"


# --- Savings -------------------------------------------------------------------------


@dataclass
class Rate:
    """Success rate of one model at its final size, and whether we measured it."""

    value: Decimal
    samples: int
    measured: bool


@dataclass
class SavingsModel:
    model_key: str
    final_size: str
    previewed: int = 0
    approved: int = 0
    delivered: int = 0
    actual: Decimal = ZERO
    simulated: Decimal = ZERO
    waste: Decimal = ZERO
    final_price: Decimal | None = None
    success: Rate | None = None
    billed_failures: Rate | None = None  # share of failed calls that were charged

    @property
    def attempts_per_success(self) -> Decimal | None:
        """Expected billed calls per delivered image: 1 + b·(1 − p)/p."""
        if self.success is None or self.billed_failures is None or not self.success.value:
            return None
        p, b = self.success.value, self.billed_failures.value
        return 1 + b * (1 - p) / p

    @property
    def direct(self) -> Decimal | None:
        """Every previewed variant rendered straight at the final size."""
        per = self.attempts_per_success
        if self.final_price is None or per is None:
            return None
        return (self.previewed * self.final_price * per).quantize(ZERO)


@dataclass
class SavingsPath:
    """One preview→final path (cross-model previews): previews on `preview_model_key` at
    `preview_size`, finals on `model_key` at `final_size`; against every previewed variant
    rendered straight at the final size on the final's model."""

    preview_model_key: str
    preview_size: str
    model_key: str  # the final's model
    final_size: str
    previewed: int = 0
    approved: int = 0
    delivered: int = 0
    actual: Decimal = ZERO
    simulated: Decimal = ZERO
    waste: Decimal = ZERO
    final_price: Decimal | None = None  # the final model's, standard lane
    attempts_per_success: Decimal | None = None  # the final model's at the final size

    @property
    def cross_model(self) -> bool:
        return self.preview_model_key != self.model_key

    @property
    def direct(self) -> Decimal | None:
        if self.final_price is None or self.attempts_per_success is None:
            return None
        return (self.previewed * self.final_price * self.attempts_per_success).quantize(ZERO)

    @property
    def saved(self) -> Decimal | None:
        return None if self.direct is None else self.direct - self.actual

    @property
    def saved_share(self) -> Decimal | None:
        return None if not self.direct or self.saved is None else self.saved / self.direct

    @property
    def formula(self) -> str:
        """The comparison written out, with this path's own figures."""
        if self.direct is None or self.saved is None:
            return f"No {self.final_size} price for {self.model_key}: not compared."
        per = self.attempts_per_success or Decimal(1)
        return (
            f"{self.previewed} previewed × {money(self.final_price or 0)} ({self.model_key} "
            f"{self.final_size}) × {per:.2f} billed calls per success = "
            f"{money(self.direct)} straight at {self.final_size}; actual {money(self.actual)}; "
            f"saved {money(self.direct)} − {money(self.actual)} = {money(self.saved)}"
        )


@dataclass
class SavingsLane:
    """Charges of the range in one lane, next to the same images at the standard lane's
    price (what the lane itself saved: nothing for the standard lane)."""

    lane: str
    images: int = 0
    paid: Decimal = ZERO
    at_standard: Decimal | None = ZERO  # None: a model × size without both prices

    @property
    def saved(self) -> Decimal | None:
        return None if self.at_standard is None else self.at_standard - self.paid


@dataclass
class SavingsPerson:
    username: str
    previewed: int = 0
    approved: int = 0
    delivered: int = 0
    spend: Decimal = ZERO
    waste: Decimal = ZERO

    @property
    def approval_rate(self) -> Decimal | None:
        return None if not self.previewed else Decimal(self.approved) / self.previewed


@dataclass
class Savings:
    filters: ReportFilter
    priced_at: dt.datetime
    models: list[SavingsModel] = field(default_factory=list)
    people: list[SavingsPerson] = field(default_factory=list)
    waste_in_range: Decimal = ZERO
    paths: list[SavingsPath] = field(default_factory=list)
    lanes: list[SavingsLane] = field(default_factory=list)

    @property
    def previewed(self) -> int:
        return sum(m.previewed for m in self.models)

    @property
    def approved(self) -> int:
        return sum(m.approved for m in self.models)

    @property
    def delivered(self) -> int:
        return sum(m.delivered for m in self.models)

    @property
    def actual(self) -> Decimal:
        return sum((m.actual for m in self.models), ZERO)

    @property
    def simulated(self) -> Decimal:
        return sum((m.simulated for m in self.models), ZERO)

    @property
    def waste(self) -> Decimal:
        return sum((m.waste for m in self.models), ZERO)

    @property
    def unpriced(self) -> list[str]:
        return [m.model_key for m in self.models if m.direct is None]

    @property
    def direct(self) -> Decimal:
        """Direct-final cost of the models we can price (see `unpriced`)."""
        return sum((m.direct for m in self.models if m.direct is not None), ZERO)

    @property
    def actual_priced(self) -> Decimal:
        """Actual cost of the same models as `direct`, for a like-for-like saving."""
        return sum((m.actual for m in self.models if m.direct is not None), ZERO)

    @property
    def saved(self) -> Decimal:
        return self.direct - self.actual_priced

    @property
    def saved_share(self) -> Decimal | None:
        return None if not self.direct else self.saved / self.direct

    @property
    def cost_per_final(self) -> Decimal | None:
        return None if not self.delivered else (self.actual / self.delivered).quantize(ZERO)

    @property
    def approval_rate(self) -> Decimal | None:
        return None if not self.previewed else Decimal(self.approved) / self.previewed


def savings_report(*, user: User, filters: ReportFilter, from_ledger: bool = False) -> Savings:
    """What the range's work cost next to what rendering it straight at the final size
    would have cost. A handful of queries whatever the data size:

    - the work: generations whose first preview was charged in the range ("everything
      previewed"; Generation.previewed_at — a generation counts in one range only);
      approved = sent to the final render, delivered = a final came back (their state now);
    - actual: the whole ledger of those generations (previews, finals, retries, refunds,
      any date), so a final charged the day after the range still counts;
    - direct: previewed × final price in force at the end of the range (standard lane) ×
      expected billed calls per success, 1 + b·(1 − p)/p, where p is the final size's
      success rate measured from attempts of the 30 days before the end (≥ 30 finished
      calls) or else the published first-try rate, and b the share of failed calls that
      were charged: waste charges ÷ failed attempts at the final size in the same window
      (≥ 30 failures), else 0 (failures assumed free).

    The work and its cost come from the savings roll-up, or the ledger (module docstring).
    """
    lanes: Iterable[tuple[Any, ...]]
    if not from_ledger and rollups.rollups_ready():
        work = _work_rollups(user=user, filters=filters)
        rolled = _rollups_in_scope(SpendRollup, user=user, filters=filters)
        waste = rolled.aggregate(waste=Coalesce(Sum("waste_e4"), 0))["waste"]
        savings = _savings_report(work, waste_in_range=from_e4(waste), filters=filters)
        lanes = [
            (model, size, lane, images, from_e4(paid))
            for model, size, lane, images, paid in rolled.values_list("model_key", "size", "lane")
            .annotate(Sum("images"), Sum("charges_e4"))
            .order_by()
        ]
    else:
        with _aggregating():
            rows = ledger_in_scope(user=user, filters=filters)
            in_range = rows.aggregate(waste=_sum(Q(waste=True)))
            work = _work_ledger(user=user, filters=filters)
            savings = _savings_report(work, waste_in_range=in_range["waste"], filters=filters)
            lanes = list(
                rows.filter(_CHARGE)
                .values_list("model_key", "size", "lane")
                .annotate(n=Count("created_at"), paid=_sum())
                .order_by()
            )
    savings.lanes = _lanes(lanes, at=savings.priced_at)
    return savings


# final model, final size, preview model, preview size, designer; previewed, approved,
# delivered; actual, simulated, waste
_Work = Iterable[tuple[str, str, str, str, str, int, int, int, Decimal, Decimal, Decimal]]


def _work_rollups(*, user: User, filters: ReportFilter) -> _Work:
    rows = (
        _rollups_in_scope(SavingsRollup, user=user, filters=filters)
        .values_list(
            "model_key", "final_size", "preview_model_key", "preview_size", "designer__username"
        )
        .annotate(
            Sum("previewed"),
            Sum("approved"),
            Sum("delivered"),
            Sum("net_e4"),
            Sum("simulated_e4"),
            Sum("waste_e4"),
        )
        .order_by()
    )
    for *key, previewed, approved, delivered, net, simulated, waste in rows:
        yield (
            *key,
            previewed,
            approved,
            delivered,
            from_e4(net),
            from_e4(simulated),
            from_e4(waste),
        )


def _work_ledger(*, user: User, filters: ReportFilter) -> _Work:
    # The generations first previewed in the range: a preview charge in it, and none before.
    cohort = (
        ledger_in_scope(user=user, filters=filters)
        .filter(
            _CHARGE,
            phase="preview",
            generation__isnull=False,
            generation__previewed_at__gte=filters.start,
        )
        .values("generation_id")
    )
    # One row per path × designer (a few hundred at most), for every table.
    counts = (
        Generation.objects.filter(pk__in=cohort)
        .annotate(final_model=_FINAL_MODEL)
        .values_list(
            "final_model",
            "submission__final_size",
            "submission__model_key",
            "submission__preview_size",
            "submission__created_by__username",
        )
        .annotate(
            previewed=Count("id"),
            approved=Count("id", filter=Q(state__in=APPROVED_STATES)),
            delivered=Count("id", filter=Q(state__in=DELIVERED_STATES)),
        )
        .order_by()
    )
    for *key, previewed, approved, delivered in counts:
        yield (*key, previewed, approved, delivered, ZERO, ZERO, ZERO)
    actual = (
        LedgerEntry.objects.filter(generation_id__in=cohort)
        .annotate(final_model=_FINAL_MODEL_OF_ROW)
        .values_list(
            "final_model",
            "generation__submission__final_size",
            "generation__submission__model_key",
            "generation__submission__preview_size",
            "generation__submission__created_by__username",
        )
        .annotate(net=_sum(), simulated=_sum(Q(simulated=True)), waste=_sum(Q(waste=True)))
        .order_by()
    )
    for *key, net, simulated, waste in actual:
        yield (*key, 0, 0, 0, net, simulated, waste)


def _savings_report(work: _Work, *, waste_in_range: Decimal, filters: ReportFilter) -> Savings:
    priced_at = min(filters.end, timezone.now())
    models: dict[tuple[str, str], SavingsModel] = {}
    paths: dict[tuple[str, str, str, str], SavingsPath] = {}
    people: dict[str, SavingsPerson] = {}
    for (
        model_key,
        final_size,
        preview_model_key,
        preview_size,
        username,
        previewed,
        approved,
        delivered,
        net,
        sim,
        waste,
    ) in work:
        model = models.setdefault((model_key, final_size), SavingsModel(model_key, final_size))
        key = (preview_model_key or model_key, preview_size, model_key, final_size)
        path = paths.setdefault(key, SavingsPath(*key))
        person = people.setdefault(username, SavingsPerson(username))
        for row in (model, path, person):
            row.previewed += previewed
            row.approved += approved
            row.delivered += delivered
        for row in (model, path):
            row.actual += net
            row.simulated += sim
            row.waste += waste
        person.spend += net
        person.waste += waste
    _price_and_rate(list(models.values()), at=priced_at)
    for path in paths.values():
        final = models[(path.model_key, path.final_size)]
        path.final_price, path.attempts_per_success = final.final_price, final.attempts_per_success
    return Savings(
        filters=filters,
        priced_at=priced_at,
        models=sorted(models.values(), key=lambda m: (-m.actual, m.model_key)),
        people=sorted(people.values(), key=lambda p: (-p.spend, p.username)),
        waste_in_range=waste_in_range,
        paths=sorted(
            paths.values(),
            key=lambda p: (p.model_key, p.final_size, p.preview_model_key, p.preview_size),
        ),
    )


# The final's model of a generation's submission ("" there = the preview's model).
_FINAL_MODEL: Final = Coalesce(
    NullIf(F("submission__final_model_key"), Value("")), F("submission__model_key")
)
_FINAL_MODEL_OF_ROW: Final = Coalesce(
    NullIf(F("generation__submission__final_model_key"), Value("")),
    F("generation__submission__model_key"),
)


def _lanes(rows: Iterable[tuple[Any, ...]], *, at: dt.datetime) -> list[SavingsLane]:
    """Charges by lane, and what the same images cost at the standard lane's price: a
    lane's charges × standard price ÷ the lane's price for that model × size (the list in
    force at `at`; a model × size without both prices leaves the figure unknown)."""
    grouped = [row for row in rows if row[3] or row[4]]
    keys = {(model, size) for model, size, *_ in grouped}
    prices: dict[tuple[str, str, str], Decimal] = {}
    entries = (
        PriceEntry.objects.filter(
            model_key__in={model for model, _ in keys},
            size__in={size for _, size in keys},
            kind=PriceKind.IMAGE,
            effective_from__lte=at,
        )
        .order_by("model_key", "size", "lane", "-effective_from")
        .values_list("model_key", "size", "lane", "usd_per_image")
    )
    for model_key, size, lane, usd in entries:
        prices.setdefault((model_key, size, lane), usd)
    lanes: dict[str, SavingsLane] = {}
    for model_key, size, lane, images, paid in grouped:
        row = lanes.setdefault(lane, SavingsLane(lane))
        row.images += images
        row.paid += paid
        if lane == Lane.STANDARD or row.at_standard is None:
            row.at_standard = None if row.at_standard is None else row.at_standard + paid
            continue
        standard = prices.get((model_key, size, Lane.STANDARD))
        own = prices.get((model_key, size, lane))
        row.at_standard = (
            None if standard is None or not own else row.at_standard + paid * standard / own
        )
    for row in lanes.values():
        if row.at_standard is not None:
            row.at_standard = row.at_standard.quantize(ZERO)
    order = {lane: rank for rank, lane in enumerate(Lane.values)}
    return sorted(lanes.values(), key=lambda row: (order.get(row.lane, 99), row.lane))


def _price_and_rate(models: list[SavingsModel], *, at: dt.datetime) -> None:
    if not models:
        return
    keys = {m.model_key for m in models}
    # The price list is small: fetch what could apply and keep the latest start per key.
    prices: dict[tuple[str, str], Decimal] = {}
    entries = (
        PriceEntry.objects.filter(model_key__in=keys, lane=Lane.STANDARD, effective_from__lte=at)
        .order_by("model_key", "size", "-effective_from")
        .values_list("model_key", "size", "usd_per_image")
    )
    for model_key, size, usd in entries:
        prices.setdefault((model_key, size), usd)
    sizes = {m.final_size for m in models}
    window = {"gte": at - HEALTH_WINDOW, "lt": at}
    health = (
        Attempt.objects.filter(
            model_key__in=keys,
            size__in=sizes,
            started_at__gte=window["gte"],
            started_at__lt=window["lt"],
            outcome__in=(Attempt.Outcome.SUCCEEDED, Attempt.Outcome.FAILED),
        )
        .values_list("model_key", "size")
        # COUNT(started_at), not COUNT(id): every column is in attempt_health_idx, so
        # PostgreSQL answers from the index alone (21 ms, not 260, for a month at 1M rows).
        .annotate(
            finished=Count("started_at"),
            succeeded=Count("started_at", filter=Q(outcome=Attempt.Outcome.SUCCEEDED)),
            failed=Count("started_at", filter=Q(outcome=Attempt.Outcome.FAILED)),
        )
        .order_by()
    )
    calls = {(key, size): (finished, ok, failed) for key, size, finished, ok, failed in health}
    # Billed failures are the ledger's waste charges (read from its covering index rather
    # than joining a million ledger rows to the attempts).
    waste_charges = (
        LedgerEntry.objects.filter(
            _CHARGE,
            waste=True,
            model_key__in=keys,
            size__in=sizes,
            created_at__gte=window["gte"],
            created_at__lt=window["lt"],
        )
        .values_list("model_key", "size")
        .annotate(n=Count("created_at"))
        .order_by()
    )
    billed = {(key, size): n for key, size, n in waste_charges}
    for model in models:
        model.final_price = prices.get((model.model_key, model.final_size))
        finished, succeeded, failed = calls.get((model.model_key, model.final_size), (0, 0, 0))
        if finished >= MIN_SAMPLES and succeeded:
            model.success = Rate(Decimal(succeeded) / finished, finished, measured=True)
        else:
            published = PUBLISHED_SUCCESS.get(model.final_size)
            model.success = None if published is None else Rate(published, finished, False)
        if failed >= MIN_SAMPLES:
            charged = billed.get((model.model_key, model.final_size), 0)
            model.billed_failures = Rate(Decimal(charged) / failed, failed, measured=True)
        else:
            model.billed_failures = Rate(ASSUMED_BILLED_FAILURE_SHARE, failed, measured=False)


# --- The ledger itself ---------------------------------------------------------------

LEDGER_COLUMNS: Final = (
    ("created_at", "time"),
    ("kind", "kind"),
    ("project__slug", "project"),
    ("user__username", "person"),
    ("generation_id", "generation"),
    ("attempt_id", "attempt"),
    ("phase", "phase"),
    ("model_key", "model"),
    ("provider", "provider"),
    ("size", "size"),
    ("lane", "lane"),
    ("unit_price", "unit_price_usd"),
    ("amount_usd", "amount_usd"),
    ("waste", "waste"),
    ("simulated", "simulated"),
    ("reason", "reason"),
)


def ledger_entries(*, user: User, filters: ReportFilter) -> QuerySet[LedgerEntry]:
    """The range's ledger rows, newest first, with what the list shows."""
    return (
        ledger_in_scope(user=user, filters=filters)
        .select_related("project", "user")
        .order_by("-created_at", "-pk")
    )


def ledger_rows(*, user: User, filters: ReportFilter, chunk_size: int = 2000) -> Iterator[tuple]:
    """The range's ledger as plain tuples (LEDGER_COLUMNS), oldest first, fetched in
    chunks: a server-side cursor on PostgreSQL, so memory stays flat for a year."""
    rows = (
        ledger_in_scope(user=user, filters=filters)
        .order_by("created_at", "pk")
        .values_list(*(column for column, _ in LEDGER_COLUMNS))
    )
    for row in rows.iterator(chunk_size=chunk_size):
        created_at, *rest = row
        yield (timezone.localtime(created_at).isoformat(), *rest)
