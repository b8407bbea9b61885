"""Daily roll-ups of the ledger, so that a year of spend reports reads thousands of rows,
not a million (generations.spend.reports; figures in docs/benchmarks.md).

Three derived tables (generations.models) — the ledger and the generations stay the truth,
and `manage.py spend_rollup_check [--rebuild]` recomputes the roll-ups from them:

- SpendRollup: the ledger's sums per local day × project × model × size × lane;
- SpendPersonRollup: the same sums per local day × project × person;
- SavingsRollup: the work of a day — generations whose first preview was charged that
  day (Generation.previewed_at) — per project × designer × path (the final's model and
  size, the preview's model and size: cross-model previews): how many are previewed /
  approved / delivered now, and what their whole ledger cost (every row, whenever
  charged, counted on the day the work was previewed).

They change in the transaction of the write that changes their source: a ledger insert
(LedgerEntry.save, and ledger_charge_attempt when its insert happened) and a state move
into or out of the approved / delivered states (flow.apply). Every change is an
INSERT … ON CONFLICT DO UPDATE of increments, so concurrent writers never lose one.

Days are local days of settings.TIME_ZONE, and each row names the zone it was counted in:
after TIME_ZONE changes, rows of two zones coexist and the reports read the ledger
(`rollups_ready`) until `spend_rollup_check --rebuild` recounts them in the new zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from django.db import connection, transaction
from django.db.models import (
    Count,
    DecimalField,
    F,
    Min,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, NullIf, TruncDate
from django.utils import timezone

from generations.models import (
    Generation,
    LedgerEntry,
    Phase,
    SavingsRollup,
    SpendPersonRollup,
    SpendRollup,
)
from generations.states import State

# Approval sent it to the final render; delivered = a final came back (native or fallback).
APPROVED_STATES: Final = frozenset(
    {
        State.FINAL_QUEUED,
        State.FINAL_RENDERING,
        State.FINAL_DIFFERS,
        State.DELIVERED,
        State.DELIVERED_FALLBACK,
        State.FINAL_FAILED,
    }
)
DELIVERED_STATES: Final = frozenset({State.DELIVERED, State.DELIVERED_FALLBACK})

E4: Final = Decimal("0.0001")  # the unit of the *_e4 columns: a ten-thousandth of a dollar
ZERO: Final = Decimal("0.0000")
_MONEY: DecimalField[Decimal, Decimal] = DecimalField(max_digits=16, decimal_places=4)
_CHARGE: Final = Q(kind=LedgerEntry.Kind.CHARGE)


def ledger_sum(condition: Q | None = None) -> Coalesce:
    """SUM(amount_usd) of the ledger rows matching `condition`, 0 for none."""
    return Coalesce(Sum("amount_usd", filter=condition), Value(ZERO), output_field=_MONEY)


# What a set of ledger rows adds up to, in SQL — the spend reports' columns and, per day,
# the roll-ups' sums (`entry_sums` is the same for one row, in Python). Amounts are signed:
# refunds and adjustments are negative rows.
LEDGER_MEASURES: Final[dict[str, Any]] = {
    # COUNT(created_at), not COUNT(id): every column a report reads is in ledger_report_idx,
    # so PostgreSQL answers from the index alone (no visit to the table's rows).
    "images": Count("created_at", filter=_CHARGE),
    "charges": ledger_sum(_CHARGE),
    "refunds": ledger_sum(Q(kind=LedgerEntry.Kind.REFUND)),
    "adjustments": ledger_sum(Q(kind=LedgerEntry.Kind.ADJUSTMENT)),
    # Billed calls that produced nothing (and any correction the ledger marks as such).
    "waste": ledger_sum(Q(waste=True)),
    # Priced as the hosted model but rendered locally: no money moved.
    "simulated": ledger_sum(Q(simulated=True)),
}
# Each measure's column in SpendRollup / SpendPersonRollup.
ROLLUP_COLUMNS: Final = {
    name: name if name == "images" else f"{name}_e4" for name in LEDGER_MEASURES
}
SPEND_SUMS: Final = (
    "entries",
    "images",
    "charges_e4",
    "refunds_e4",
    "adjustments_e4",
    "waste_e4",
    "simulated_e4",
)
SAVINGS_COUNTS: Final = ("previewed", "approved", "delivered")
SAVINGS_MONEY: Final = ("net_e4", "waste_e4", "simulated_e4")


def to_e4(amount: Decimal) -> int:
    return int(amount / E4)


def from_e4(units: int) -> Decimal:
    return Decimal(units) * E4  # Decimal("0.0000") for 0, like a SUM of the ledger


def zone() -> str:
    """The zone whose local days the roll-ups count (the reports' zone)."""
    return timezone.get_current_timezone_name()


def rollups_ready() -> bool:
    """Whether the roll-ups hold local days of the current zone only (or nothing): the
    reports read them then, and the ledger otherwise. One query: the least and greatest
    zone of each table, probes of their unique indexes (which start with the zone)."""
    q = connection.ops.quote_name
    sql = " UNION ALL ".join(
        f"SELECT MIN(time_zone), MAX(time_zone) FROM {q(model._meta.db_table)}"  # noqa: S608
        for model in (SpendRollup, SpendPersonRollup, SavingsRollup)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        zones = {name for row in cursor.fetchall() for name in row if name is not None}
    return zones <= {zone()}


# --- Writing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Increment:
    """One roll-up row's increments: INSERT the key with `add`, or add `add` to the row
    that has the key."""

    model: type[Model]
    conflict: str
    key: dict[str, Any]
    add: dict[str, int]

    def sql(self) -> tuple[str, list[Any]]:
        q = connection.ops.quote_name
        table = q(self.model._meta.db_table)
        # Every sum, 0 when not given (the columns' defaults are Django's, not the database's).
        names = (*SAVINGS_COUNTS, *SAVINGS_MONEY) if self.model is SavingsRollup else SPEND_SUMS
        add = {name: self.add.get(name, 0) for name in names}
        columns = [*self.key, *add]
        updates = ", ".join(f"{q(c)} = {table}.{q(c)} + excluded.{q(c)}" for c in add)
        sql = (
            f"INSERT INTO {table} ({', '.join(q(c) for c in columns)}) "  # noqa: S608 - our names
            f"VALUES ({', '.join(['%s'] * len(columns))}) "
            f"ON CONFLICT ({self.conflict}) DO UPDATE SET {updates}"
        )
        return sql, [*self.key.values(), *add.values()]


def _increment(
    model: type[Model], *, conflict: str, key: dict[str, Any], add: dict[str, int]
) -> None:
    """INSERT the key with `add`, or add `add` to the row that has the key — atomically,
    on PostgreSQL and SQLite alike (a concurrent writer waits, then adds to our sum)."""
    _apply([Increment(model, conflict, key, add)])


def _apply(increments: list[Increment]) -> None:
    """Write increments to roll-up rows. On PostgreSQL, increments of different tables go
    as one statement (each upsert a data-modifying WITH clause: one round trip for the
    ledger row's three roll-ups); two of one table go apart (a statement may not update
    one row twice, and both may have the same key)."""
    combined = connection.vendor == "postgresql" and len(
        {increment.model for increment in increments}
    ) == len(increments)
    statements = [increment.sql() for increment in increments]
    with connection.cursor() as cursor:
        if combined and len(statements) > 1:
            *first, (last_sql, last_params) = statements
            clauses = ", ".join(f"u{n} AS ({sql})" for n, (sql, _) in enumerate(first))
            cursor.execute(
                f"WITH {clauses} {last_sql}",
                [value for _, params in first for value in params] + last_params,
            )
            return
        for sql, params in statements:
            cursor.execute(sql, params)


_SPEND_KEY: Final = "time_zone, day, project_id, model_key, size, lane"
# Matches the expression of the unique index spend_person_rollup_key.
_PERSON_KEY: Final = "time_zone, day, project_id, (COALESCE(user_id, 0))"
_SAVINGS_KEY: Final = (
    "time_zone, day, project_id, designer_id, model_key, final_size, preview_model_key, "
    "preview_size"
)


def entry_sums(entry: LedgerEntry) -> dict[str, int]:
    """One ledger row as roll-up sums."""
    amount = to_e4(entry.amount_usd)
    kind = LedgerEntry.Kind(entry.kind)
    return {
        "entries": 1,
        "images": int(kind == LedgerEntry.Kind.CHARGE),
        "charges_e4": amount if kind == LedgerEntry.Kind.CHARGE else 0,
        "refunds_e4": amount if kind == LedgerEntry.Kind.REFUND else 0,
        "adjustments_e4": amount if kind == LedgerEntry.Kind.ADJUSTMENT else 0,
        "waste_e4": amount if entry.waste else 0,
        "simulated_e4": amount if entry.simulated else 0,
    }


@dataclass(frozen=True)
class SavingsCohort:
    """What the savings roll-up needs of a ledger row's generation, from a caller that
    holds the generation's row in the row's transaction and so knows it without a read
    (the worker recording its own attempt): the generation's cohort columns as the
    caller's move left them (`_GENERATION_KEY`), and whether the row is the generation's
    first preview charge — then the caller's move set previewed_at to the row's
    created_at, and nothing was charged to the generation before it."""

    generation: dict[str, Any]
    first_charge: bool = False

    @property
    def previewed_at(self) -> dt.datetime | None:
        value: dt.datetime | None = self.generation["previewed_at"]
        return value

    @classmethod
    def of(cls, generation: Generation, *, first_charge: bool = False) -> SavingsCohort:
        submission = generation.submission
        return cls(
            {
                "previewed_at": generation.previewed_at,
                "state": generation.state,
                "project_id": generation.project_id,
                "submission__created_by_id": submission.created_by_id,
                "submission__model_key": submission.model_key,
                "submission__final_model_key": submission.final_model_key,
                "submission__final_size": submission.final_size,
                "submission__preview_size": submission.preview_size,
            },
            first_charge=first_charge,
        )


def rollup_ledger_entry(*, entry: LedgerEntry, cohort: SavingsCohort | None = None) -> None:
    """Count a ledger row just inserted. Call it in the insert's transaction. `cohort`:
    the caller knows the row's generation (see SavingsCohort): nothing is read."""
    sums = entry_sums(entry)
    day = timezone.localdate(entry.created_at)
    where = {"time_zone": zone(), "day": day, "project_id": entry.project_id}
    savings: list[Increment] = []
    if entry.generation_id is not None:
        # First: it may lock the generation's row, which movers take before any roll-up.
        savings = _savings_on_ledger(entry, sums, generation_id=entry.generation_id, cohort=cohort)
    spend_key = {**where, "model_key": entry.model_key, "size": entry.size, "lane": entry.lane}
    _apply(
        [
            Increment(SpendRollup, _SPEND_KEY, spend_key, sums),
            Increment(SpendPersonRollup, _PERSON_KEY, {**where, "user_id": entry.user_id}, sums),
            *savings,
        ]
    )


_GENERATION_KEY: Final = (
    "previewed_at",
    "state",
    "project_id",
    "submission__created_by_id",
    "submission__model_key",
    "submission__final_model_key",
    "submission__final_size",
    "submission__preview_size",
)


def _savings_key(generation: dict[str, Any], previewed_at: dt.datetime) -> dict[str, Any]:
    return {
        "time_zone": zone(),
        "day": timezone.localdate(previewed_at),
        "project_id": generation["project_id"],
        "designer_id": generation["submission__created_by_id"],
        # The final's model ("" on the submission = the preview's), then the preview's.
        "model_key": generation["submission__final_model_key"]
        or generation["submission__model_key"],
        "final_size": generation["submission__final_size"],
        "preview_model_key": generation["submission__model_key"],
        "preview_size": generation["submission__preview_size"],
    }


def _money(sums: dict[str, int], sign: int = 1) -> dict[str, int]:
    net = sums["charges_e4"] + sums["refunds_e4"] + sums["adjustments_e4"]
    return {
        "net_e4": sign * net,
        "waste_e4": sign * sums["waste_e4"],
        "simulated_e4": sign * sums["simulated_e4"],
    }


def _savings_on_ledger(
    entry: LedgerEntry,
    sums: dict[str, int],
    *,
    generation_id: int,
    cohort: SavingsCohort | None = None,
) -> list[Increment]:
    """The savings roll-up's increments for a ledger row of a generation."""
    if cohort is not None:
        first = cohort.previewed_at
        if cohort.first_charge:
            # Its whole ledger is this row: it joins the work of its day with its state.
            key = _savings_key(cohort.generation, entry.created_at)
            counts = _counts(cohort.generation["state"])
            return [Increment(SavingsRollup, _SAVINGS_KEY, key, {**counts, **_money(sums)})]
        if first is None:
            return []  # not in any day's work yet
        key = _savings_key(cohort.generation, first)
        return [Increment(SavingsRollup, _SAVINGS_KEY, key, _money(sums))]
    # The generation's row is the lock: a first preview charge moving the generation into
    # its cohort and another row of its ledger written meanwhile are counted once each.
    generation = (
        Generation.objects.select_for_update(of=("self",))
        .filter(pk=generation_id)
        .values(*_GENERATION_KEY)
        .get()
    )
    first = generation["previewed_at"]
    previews = entry.kind == LedgerEntry.Kind.CHARGE and entry.phase == Phase.PREVIEW
    if previews and (first is None or entry.created_at < first):
        # It joins the work of this day (or of an earlier one): its whole contribution
        # moves — the counts of its state and every row of its ledger so far.
        whole = _ledger_sums(generation_id=generation_id)
        counts = _counts(generation["state"])
        increments = []
        if first is not None:
            before = {name: whole[name] - sums[name] for name in whole}
            increments.append(
                Increment(
                    SavingsRollup,
                    _SAVINGS_KEY,
                    _savings_key(generation, first),
                    {**{n: -c for n, c in counts.items()}, **_money(before, -1)},
                )
            )
        Generation.objects.filter(pk=generation_id).update(previewed_at=entry.created_at)
        increments.append(
            Increment(
                SavingsRollup,
                _SAVINGS_KEY,
                _savings_key(generation, entry.created_at),
                {**counts, **_money(whole)},
            )
        )
        return increments
    if first is not None:
        return [
            Increment(SavingsRollup, _SAVINGS_KEY, _savings_key(generation, first), _money(sums))
        ]
    return []


def _counts(state: str) -> dict[str, int]:
    return {
        "previewed": 1,
        "approved": int(state in APPROVED_STATES),
        "delivered": int(state in DELIVERED_STATES),
    }


def _ledger_sums(*, generation_id: int) -> dict[str, int]:
    rows = LedgerEntry.objects.filter(generation_id=generation_id).only(
        "kind", "amount_usd", "waste", "simulated"
    )
    total = dict.fromkeys(SPEND_SUMS, 0)
    for row in rows:
        for name, value in entry_sums(row).items():
            total[name] += value
    return total


def rollup_on_transition(*, generation_id: int, source: State, target: State) -> None:
    """Follow a move into or out of the approved / delivered states (flow.apply, in the
    move's transaction, which holds the generation's row)."""
    approved = int(target in APPROVED_STATES) - int(source in APPROVED_STATES)
    delivered = int(target in DELIVERED_STATES) - int(source in DELIVERED_STATES)
    if not approved and not delivered:
        return  # most moves (claims, retries, review) cost no query
    generation = (
        Generation.objects.filter(pk=generation_id, previewed_at__isnull=False)
        .values(*_GENERATION_KEY)
        .first()
    )
    if generation is None:
        return  # no preview charged yet: not in any day's work
    _increment(
        SavingsRollup,
        conflict=_SAVINGS_KEY,
        key=_savings_key(generation, generation["previewed_at"]),
        add={"approved": approved, "delivered": delivered},
    )


# --- Checking and rebuilding ---------------------------------------------------------

_Rows = dict[tuple[Any, ...], dict[str, int]]
_Rollup = type[SpendRollup] | type[SpendPersonRollup] | type[SavingsRollup]
_TABLES: Final[dict[str, tuple[_Rollup, tuple[str, ...]]]] = {
    "spend": (SpendRollup, ("time_zone", "day", "project_id", "model_key", "size", "lane")),
    "spend by person": (SpendPersonRollup, ("time_zone", "day", "project_id", "user_id")),
    "savings": (
        SavingsRollup,
        (
            "time_zone",
            "day",
            "project_id",
            "designer_id",
            "model_key",
            "final_size",
            "preview_model_key",
            "preview_size",
        ),
    ),
}


@dataclass
class Drift:
    """How the stored roll-ups differ from a recount of the ledger and the generations."""

    previewed_at: int = 0  # generations whose first preview charge is misrecorded
    rows: dict[str, int] = field(default_factory=dict)  # table -> keys whose sums differ

    @property
    def clean(self) -> bool:
        return not self.previewed_at and not any(self.rows.values())


def rollups_check() -> Drift:
    """Compare every roll-up row (and Generation.previewed_at) with a recount from the
    ledger and the generations. Reads only."""
    drift = Drift(previewed_at=_misrecorded_previews().count())
    expected = _recount(first=_first_preview_charge(OuterRef("pk")))
    for name, (model, key) in _TABLES.items():
        drift.rows[name] = _differences(_stored(model, key), expected[name])
    return drift


def rollups_rebuild() -> Drift:
    """Recount the roll-ups from the ledger and the generations, replacing what is stored;
    returns the drift that was repaired. Writers wait meanwhile (PostgreSQL: the roll-up
    tables are locked first, so no increment falls between the recount and the write)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                tables = ", ".join(model._meta.db_table for model, _ in _TABLES.values())
                cursor.execute(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE")
        drift = Drift(
            previewed_at=_misrecorded_previews().update(
                previewed_at=_first_preview_charge(OuterRef("pk"))
            )
        )
        expected = _recount(first=F("previewed_at"))
        for name, (model, key) in _TABLES.items():
            drift.rows[name] = _differences(_stored(model, key), expected[name])
            _replace(model, key, expected[name])
    return drift


def _replace(model: type[Model], key: tuple[str, ...], rows: _Rows) -> None:
    model._default_manager.all().delete()
    model._default_manager.bulk_create(
        (model(**dict(zip(key, k, strict=True)), **sums) for k, sums in rows.items()),
        batch_size=5000,
    )


def _first_preview_charge(generation: Any) -> Subquery:
    return Subquery(
        LedgerEntry.objects.filter(
            generation=generation, kind=LedgerEntry.Kind.CHARGE, phase=Phase.PREVIEW
        )
        .order_by()
        .values("generation")
        .annotate(first=Min("created_at"))
        .values("first")[:1]
    )


def _misrecorded_previews() -> QuerySet[Generation]:
    first = _first_preview_charge(OuterRef("pk"))
    return Generation.objects.annotate(first=first).filter(
        (Q(first__isnull=True) & Q(previewed_at__isnull=False))
        | (Q(first__isnull=False) & (Q(previewed_at__isnull=True) | ~Q(previewed_at=F("first"))))
    )


def _stored(model: _Rollup, key: tuple[str, ...]) -> _Rows:
    names = SPEND_SUMS if model is not SavingsRollup else (*SAVINGS_COUNTS, *SAVINGS_MONEY)
    return {
        tuple(row[: len(key)]): dict(zip(names, row[len(key) :], strict=True))
        for row in model.objects.values_list(*key, *names).iterator(chunk_size=10_000)
    }


def _differences(stored: _Rows, expected: _Rows) -> int:
    # A row of zeros (a generation that moved to an earlier day's work) is no row at all.
    def nonzero(rows: _Rows) -> _Rows:
        return {k: v for k, v in rows.items() if any(v.values())}

    stored, expected = nonzero(stored), nonzero(expected)
    return sum(stored.get(k) != expected.get(k) for k in stored.keys() | expected.keys())


_LEDGER_SUMS: Final[dict[str, Any]] = {
    "entries": Count("created_at"),
    **{ROLLUP_COLUMNS[name]: measure for name, measure in LEDGER_MEASURES.items()},
}
# A generation's whole ledger (joined from the generation).
_SAVINGS_SUMS: Final[dict[str, Any]] = {
    "net_e4": Sum("ledger__amount_usd", default=Decimal(0)),
    "waste_e4": Sum("ledger__amount_usd", filter=Q(ledger__waste=True), default=Decimal(0)),
    "simulated_e4": Sum("ledger__amount_usd", filter=Q(ledger__simulated=True), default=Decimal(0)),
}


def _grouped(rows: QuerySet[Any, dict[str, Any]], key: tuple[str, ...], here: str) -> _Rows:
    """Grouped rows as roll-up rows: (zone, *key) -> sums in integer units."""
    out: _Rows = {}
    for row in rows.order_by().iterator(chunk_size=10_000):
        out[(here, *(row[k] for k in key))] = {
            name: value if isinstance(value, int) else to_e4(value)
            for name, value in row.items()
            if name not in key
        }
    return out


def _recount(*, first: Any) -> dict[str, _Rows]:
    """Every roll-up row, recounted: the spend tables from the ledger, savings from the
    generations whose first preview charge is `first` (an expression on Generation)."""
    here, tz = zone(), timezone.get_current_timezone()
    ledger = LedgerEntry.objects.annotate(day=TruncDate("created_at", tzinfo=tz))
    by_model = ("day", "project_id", "model_key", "size", "lane")
    by_person = ("day", "project_id", "user_id")
    spend = _grouped(ledger.values(*by_model).annotate(**_LEDGER_SUMS), by_model, here)
    people = _grouped(ledger.values(*by_person).annotate(**_LEDGER_SUMS), by_person, here)

    work = (
        "day",
        "project_id",
        "designer_id",
        "model_key",
        "final_size",
        "preview_model_key",
        "preview_size",
    )
    cohort = {
        "day": TruncDate("first", tzinfo=tz),
        "designer_id": F("submission__created_by_id"),
        "model_key": Coalesce(
            NullIf(F("submission__final_model_key"), Value("")), F("submission__model_key")
        ),
        "final_size": F("submission__final_size"),
        "preview_model_key": F("submission__model_key"),
        "preview_size": F("submission__preview_size"),
    }
    counts = (
        Generation.objects.annotate(first=first)
        .filter(first__isnull=False)
        .annotate(**cohort)
        .values(*work)
        .annotate(
            previewed=Count("id"),
            approved=Count("id", filter=Q(state__in=APPROVED_STATES)),
            delivered=Count("id", filter=Q(state__in=DELIVERED_STATES)),
        )
    )
    savings = {
        key: {**row, **dict.fromkeys(SAVINGS_MONEY, 0)}
        for key, row in _grouped(counts, work, here).items()
    }
    # The money of each day's work: its generations' whole ledgers (a separate query, so
    # that joining the ledger does not multiply the counts above).
    money = (
        Generation.objects.annotate(first=first)
        .filter(first__isnull=False)
        .annotate(**cohort)
        .values(*work)
        .annotate(**_SAVINGS_SUMS)
    )
    for key, sums in _grouped(money, work, here).items():
        savings[key].update(sums)
    return {"spend": spend, "spend by person": people, "savings": savings}
