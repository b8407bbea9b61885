"""Budgets and reservations: money is decided when work is asked for, not when it is paid.

A budget (per project, optionally per person in it) allows an amount per period — a
calendar month, or an ISO week from Monday, in settings.TIME_ZONE. What counts against
it: `spent` (the ledger in the period: charges and corrections, simulated ones included
so the demo enforces budgets as production would) plus `committed` (open reservations:
previews queued, finals approved, not yet ended).

Reservations open when work is asked for — submission (one per variant, the preview
price), approval (the final's price) and a manual retry — and fix the price: a charge
costs its reservation's amount. One reservation covers one billed attempt: the charge
uses it up ("charged"); a retry after a billed attempt reserves again (budget-checked).
A move that ends the phase closes it ("released", or "charged" on success) in its
transaction — except while an attempt of the phase still runs (a cancel mid-call): then
the attempt's outcome closes it, or its lease running out. flow.apply calls
`reservations_on_transition` for every move, so no path (worker, reaper, cancel,
fallback, auto-approve) can forget one. Hence: spent + reserved never exceeds a hard
budget, whatever the interleaving.

The hard limit is enforced atomically: the budget rows that apply are locked (FOR
UPDATE, project first, then the person's) before the sums are read and the reservation
written, in one transaction — two approvals racing at the edge: exactly one passes.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Field, Model, OuterRef, Q, Sum
from django.utils import timezone

from generations import catalog
from generations.models import (
    Attempt,
    Budget,
    BudgetAlert,
    BudgetPeriod,
    Generation,
    LedgerEntry,
    Membership,
    Notification,
    Phase,
    PriceEntry,
    Reservation,
    Role,
)
from generations.notifications import notify_people
from generations.permissions import Action, require_project_role
from generations.spend import pricing
from generations.spend.money import money, to_cents
from generations.states import RENDERING, State, TransitionError
from generations.types import User
from generations.webhooks.events import emit_budget_threshold

logger = logging.getLogger(__name__)

ZERO = Decimal(0)

# While a generation is in one of these, its phase's reservation stays open.
ACTIVE = {
    Phase.PREVIEW: frozenset({State.PREVIEW_QUEUED, State.PREVIEW_RENDERING}),
    Phase.FINAL: frozenset({State.FINAL_QUEUED, State.FINAL_RENDERING}),
}
# The states that end a phase with its success charged (a final that differs from its
# preview was rendered and paid for, like a delivered one).
_SUCCESS = {
    Phase.PREVIEW: frozenset({State.IN_REVIEW}),
    Phase.FINAL: frozenset({State.DELIVERED, State.FINAL_DIFFERS}),
}


class BudgetExceeded(TransitionError):
    """Asked-for work that a budget does not allow. The message says why, how much is
    left (of the tightest budget, signed: the figure the estimates show) and whom to ask;
    nothing was changed."""

    def __init__(self, message: str, *, left: Decimal, ask: list[str], short: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.left = left
        self.ask = ask
        self.short = short or message  # fits a card's one-line reason


# --- periods ---------------------------------------------------------------------------


def period_bounds(period: str, *, at: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the period containing `at`, as aware datetimes in TIME_ZONE."""
    local = timezone.localtime(at or timezone.now())
    day = local.date()
    if period == BudgetPeriod.WEEKLY:
        first = day - dt.timedelta(days=day.weekday())  # ISO weeks start on Monday
        after = first + dt.timedelta(days=7)
    else:
        first = day.replace(day=1)
        after = (first + dt.timedelta(days=32)).replace(day=1)
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(after, dt.time(), tzinfo=tz)
    return start, end


# --- what counts against a budget ------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    budget: Budget
    start: dt.datetime
    end: dt.datetime
    spent: Decimal
    committed: Decimal

    @property
    def used(self) -> Decimal:
        return self.spent + self.committed

    @property
    def left(self) -> Decimal:
        return self.budget.amount_usd - self.used

    @property
    def percent(self) -> int:
        if not self.budget.amount_usd:
            return 100
        return int(self.used * 100 / self.budget.amount_usd)

    @property
    def whose(self) -> str:
        if self.budget.user_id is None:
            return f"{self.budget.project}’s"
        return f"your ({self.budget.user})"


def standing(budget: Budget, *, at: dt.datetime | None = None) -> Standing:
    start, end = period_bounds(budget.period, at=at)
    ledger = LedgerEntry.objects.filter(
        project_id=budget.project_id, created_at__gte=start, created_at__lt=end
    )
    open_ = Reservation.objects.filter(project_id=budget.project_id, status=Reservation.Status.OPEN)
    if budget.user_id is not None:
        ledger = ledger.filter(user_id=budget.user_id)
        open_ = open_.filter(user_id=budget.user_id)
    spent = ledger.aggregate(total=Sum("amount_usd"))["total"] or ZERO
    committed = open_.aggregate(total=Sum("amount_usd"))["total"] or ZERO
    return Standing(budget, start, end, spent, committed)


def budgets_for(*, project_id: int, user_id: int | None, lock: bool = False) -> list[Budget]:
    """The budgets that apply to work by `user_id` in the project: the project's first,
    then the person's (the fixed order every locker uses, so they never deadlock)."""
    who = Q(user__isnull=True)
    if user_id is not None:
        who |= Q(user_id=user_id)
    rows = Budget.objects.filter(who, project_id=project_id).select_related("project", "user")
    if lock:
        rows = rows.select_for_update(of=("self",))
    # NULL user first: the project's budget, then the person's.
    return sorted(rows.order_by("pk"), key=lambda b: (b.user_id is not None, b.pk))


def standings(*, project_id: int, user_id: int | None) -> list[Standing]:
    return [standing(b) for b in budgets_for(project_id=project_id, user_id=user_id)]


def headroom(*, project_id: int, user_id: int | None) -> Standing | None:
    """The tightest budget that applies (least left), or None when none does."""
    found = standings(project_id=project_id, user_id=user_id)
    return min(found, key=lambda s: s.left) if found else None


def headrooms(pairs: set[tuple[int, int | None]]) -> dict[tuple[int, int | None], Standing]:
    """`headroom` for many (project, person) pairs: one query when no budget applies."""
    if not pairs:
        return {}
    rows = list(
        Budget.objects.filter(project_id__in={project_id for project_id, _ in pairs})
        .select_related("project", "user")
        .order_by("pk")
    )
    if not rows:
        return {}
    states = {budget.pk: standing(budget) for budget in rows}
    found: dict[tuple[int, int | None], Standing] = {}
    for project_id, user_id in pairs:
        applying = [
            states[b.pk]
            for b in rows
            if b.project_id == project_id and b.user_id in (None, user_id)
        ]
        if applying:
            found[(project_id, user_id)] = min(applying, key=lambda s: s.left)
    return found


def admins_to_ask(project_id: int) -> list[str]:
    names = (
        Membership.objects.filter(project_id=project_id, role=Role.ADMIN)
        .select_related("user")
        .order_by("user__username")
    )
    return [_name(m.user) for m in names]


def _name(user: User) -> str:
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full or user.get_username()


# --- reserving -------------------------------------------------------------------------


def phase_price(*, model_key: str, size: str) -> Decimal:
    """What one image of a phase is reserved at: the list price now (0 if unknown, as
    the charge would be). Simulated hosted models are priced as the hosted model."""
    return pricing.list_price(model_key=model_key, size=size) or ZERO


def final_unit(generation: Generation) -> Decimal:
    """What a generation's final is reserved at: by the escalation strategy it will use
    (the approval's, else the project's, as the model allows), input images included,
    at the price of the lane it goes by."""
    submission = generation.submission
    resolved = catalog.escalation(
        asked=generation.escalation_strategy or generation.project.escalation_strategy,
        model_key=submission.final_model,
        preview_key=submission.model_key,
    )
    price = pricing.final_price(
        model_key=submission.final_model,
        size=submission.final_size,
        strategy=resolved.strategy,
        # The economy lane's price when the final goes by it (set by the approval).
        lane=generation.final_lane,
        references=submission.references.count(),
    )
    return price.total or ZERO


def budget_reserve(
    *,
    generations: list[Generation],
    phase: Phase,
    project_id: int,
    user_id: int | None,
    unit: Decimal,
    what: str,
) -> list[Reservation]:
    """Check the budgets that apply and reserve `unit` for each generation's phase, or
    raise BudgetExceeded. Must run inside the transaction that asks for the work."""
    return budget_reserve_each(
        items=[(generation, unit) for generation in generations],
        phase=phase,
        project_id=project_id,
        user_id=user_id,
        what=what,
    )


def budget_reserve_each(
    *,
    items: list[tuple[Generation, Decimal]],
    phase: Phase,
    project_id: int,
    user_id: int | None,
    what: str,
) -> list[Reservation]:
    """Reserve each generation's own amount (a batch mixes models and sizes): all of them
    against the budgets at once, under one lock, or none (BudgetExceeded)."""
    total = sum((amount for _, amount in items), ZERO)
    budgets = budgets_for(project_id=project_id, user_id=user_id, lock=True) if total else []
    short_of = [state for state in map(standing, budgets) if total > state.left]
    if short_of:
        # The tightest, as `headroom` picks it for the estimates: one figure for what is left.
        raise _refusal(min(short_of, key=lambda s: s.left), total=total, what=what)
    now = timezone.now()
    rows = [
        Reservation(
            generation=generation,
            phase=phase,
            project_id=project_id,
            user_id=user_id,
            amount_usd=amount,
            created_at=now,
        )
        for generation, amount in items
    ]
    Reservation.objects.bulk_create(rows, batch_size=1000)
    if total:
        _alert_if_crossed(budgets)
    return rows


def _refusal(state: Standing, *, total: Decimal, what: str) -> BudgetExceeded:
    budget = state.budget
    ask = admins_to_ask(budget.project_id)
    whom = ", ".join(ask) if ask else "an administrator"
    scope = (
        f"{budget.project}’s {budget.get_period_display().lower()} budget"
        if budget.user_id is None
        else f"your {budget.get_period_display().lower()} budget in {budget.project}"
    )
    # What is left as the estimates show it: signed (overspent, it is below zero).
    left = state.left
    message = (
        f"Over budget: {what} would cost {money(total)}, but "
        f"{'only ' if to_cents(left) > 0 else ''}{money(left)} is left of "
        f"{scope} ({money(budget.amount_usd)}; {money(state.spent)} spent, "
        f"{money(state.committed)} reserved for work under way). "
        f"Ask {whom} to raise the budget."
    )
    short = f"over budget: {money(left)} left, {money(total)} needed; ask {whom}"
    return BudgetExceeded(message, left=left, ask=ask, short=short)


def reservations_on_transition(
    generation: Generation, source: State, target: State, *, attempt_running: bool = False
) -> None:
    """flow.apply's hook: close the reservation of a phase the move ends, and reserve
    (budget-checked) for a phase the move starts. Moves within a phase cost no query,
    but a retry whose reservation a billed attempt used up reserves again.

    A reservation is closed only once no attempt that could be billed for it is running:
    a move out of a rendering state while the attempt's call is still under way (a cancel;
    or the worker's own success, recorded right after) leaves it open, and the attempt's
    outcome closes it (`reservation_charge` or `reservations_settle`). `attempt_running`:
    the mover knows one runs (the worker moving its own lease's job), so nothing is read."""
    for phase, active in ACTIVE.items():
        if source in active and target not in active:
            if source in RENDERING and (attempt_running or _attempt_running(generation.pk, phase)):
                continue  # held until the running attempt's outcome is recorded
            charged = target in _SUCCESS[phase]
            _close_open(
                generation.pk,
                phase,
                charged=charged,
                reason=f"{State(source).label} → {State(target).label}",
            )
        elif target in active and source not in active:
            submission = generation.submission
            size = submission.preview_size if phase is Phase.PREVIEW else submission.final_size
            unit = (
                phase_price(model_key=submission.model_key, size=size)
                if phase is Phase.PREVIEW
                else final_unit(generation)
            )
            what = (
                f"approving #{generation.pk} ({size} final)"
                if source == State.IN_REVIEW
                else f"retrying #{generation.pk} ({size})"
            )
            budget_reserve(
                generations=[generation],
                phase=phase,
                project_id=generation.project_id,
                user_id=submission.created_by_id,
                unit=unit,
                what=what,
            )
        elif source in RENDERING and source in active and target in active:
            _reserve_retry(generation, phase)


def _attempt_running(generation_id: int, phase: Phase) -> bool:
    return Attempt.objects.filter(
        generation_id=generation_id, phase=phase, outcome=Attempt.Outcome.RUNNING
    ).exists()


def _open_reservation(generation_id: int, phase: Phase | str) -> Reservation | None:
    """The phase's open reservation, locked (callers hold the generation's row first)."""
    return (
        Reservation.objects.select_for_update()
        .filter(generation_id=generation_id, phase=phase, status=Reservation.Status.OPEN)
        .first()
    )


def _close_open(generation_id: int, phase: Phase | str, *, charged: bool, reason: str) -> int:
    return Reservation.objects.filter(
        generation_id=generation_id, phase=phase, status=Reservation.Status.OPEN
    ).update(
        status=Reservation.Status.CHARGED if charged else Reservation.Status.RELEASED,
        closed_at=timezone.now(),
        closed_reason=reason[:200],
    )


def _reserve_retry(generation: Generation, phase: Phase) -> None:
    """A retry within the phase (worker or reaper): the reservation carries over unless a
    billed attempt used it up; then the retry is new spend, checked against the budgets at
    the price the phase was reserved at (BudgetExceeded: the caller ends the job)."""
    if _open_reservation(generation.pk, phase) is not None:
        return
    last = (
        Reservation.objects.filter(generation_id=generation.pk, phase=phase)
        .order_by("-pk")
        .values_list("amount_usd", flat=True)
        .first()
    )
    if last is None:  # work from before reservations: nothing was reserved to carry over
        return
    submission = generation.submission
    size = submission.preview_size if phase is Phase.PREVIEW else submission.final_size
    budget_reserve(
        generations=[generation],
        phase=phase,
        project_id=generation.project_id,
        user_id=submission.created_by_id,
        unit=last,
        what=f"retrying #{generation.pk} ({size}) after a billed attempt",
    )


@dataclass(frozen=True)
class Charged:
    """A reservation a charge used up: its amount (the charge) and when it was made, with
    the price entry of `price_key` that was in force then (None when the list had none)."""

    amount_usd: Decimal
    created_at: dt.datetime
    price_entry_id: int | None
    price_usd: Decimal | None


def reservation_charge(
    *, generation_id: int, phase: str, attempt_number: int, price_key: tuple[str, str, str]
) -> Charged | None:
    """Close the phase's open reservation as charged for a billed attempt and return what
    it fixed: its amount is the charge (the price was fixed when the work was reserved),
    and the price entry of `price_key` (model, size, lane) in force when it was made, for
    the ledger row. One statement (UPDATE … RETURNING): the update takes the row's lock,
    as a SELECT … FOR UPDATE would; at most one reservation of a phase is open (a unique
    constraint). None when nothing is reserved (work from before reservations). Call it
    in the transaction of the charge."""
    q = connection.ops.quote_name
    reservations, prices = q(Reservation._meta.db_table), q(PriceEntry._meta.db_table)
    in_force = (
        f"FROM {prices} p WHERE p.model_key = %s AND p.size = %s AND p.lane = %s "
        f"AND p.effective_from <= {reservations}.created_at ORDER BY p.effective_from DESC LIMIT 1"
    )
    sql = (
        f"UPDATE {reservations} SET status = %s, closed_at = %s, closed_reason = %s "  # noqa: S608
        "WHERE generation_id = %s AND phase = %s AND status = %s "
        f"RETURNING amount_usd, created_at, (SELECT p.id {in_force}), "
        f"(SELECT p.usd_per_image {in_force})"
    )
    closed_at = Reservation._meta.get_field("closed_at").get_db_prep_value(
        timezone.now(), connection
    )
    reason = f"charged for attempt {attempt_number}"
    status = (Reservation.Status.CHARGED, Reservation.Status.OPEN)
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [status[0], closed_at, reason, generation_id, phase, status[1], *price_key, *price_key],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    amount, created_at, entry_id, usd = row
    return Charged(
        amount_usd=_from_db(Reservation, "amount_usd", amount),
        created_at=_from_db(Reservation, "created_at", created_at),
        price_entry_id=entry_id,
        price_usd=None if usd is None else _from_db(PriceEntry, "usd_per_image", usd),
    )


def _from_db(model: type[Model], name: str, value: Any) -> Any:
    """A column of a raw row as the ORM would read it (SQLite: a float, an ISO string)."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field):  # a relation's reverse side has no column
        raise TypeError(f"{model.__name__}.{name} is not a column")
    column = field.get_col(model._meta.db_table)
    for convert in connection.ops.get_db_converters(column):
        value = convert(value, column, connection)
    return value


def reservations_settle(*, generation_id: int, phase: str, reason: str) -> int:
    """An attempt ended without a charge (an unbilled failure, or abandoned): release the
    phase's reservation if it was only held for that attempt — the generation left the
    phase (cancelled, or failed) and nothing of the phase runs any more."""
    state = Generation.objects.filter(pk=generation_id).values_list("state", flat=True).first()
    if state in ACTIVE[Phase(phase)] or _attempt_running(generation_id, Phase(phase)):
        return 0
    return _close_open(generation_id, phase, charged=False, reason=reason)


def reservations_sweep() -> int:
    """Belt and braces: release any open reservation whose generation left the phase it
    was made for (the hook should have closed it; log it if not) — except one held for an
    attempt still running (a cancel mid-call): that attempt's outcome, or its lease
    running out (the reaper), closes it."""
    released = 0
    for phase, active in ACTIVE.items():
        running = Attempt.objects.filter(
            generation_id=OuterRef("generation_id"), phase=phase, outcome=Attempt.Outcome.RUNNING
        )
        stray = (
            Reservation.objects.filter(status=Reservation.Status.OPEN, phase=phase)
            .exclude(generation__state__in=active)
            .exclude(Exists(running))
        )
        count = stray.update(
            status=Reservation.Status.RELEASED,
            closed_at=timezone.now(),
            closed_reason="released by the sweeper: the generation left the phase",
        )
        if count:
            logger.warning("released %d stray %s reservation(s)", count, phase)
        released += count
    return released


# --- the soft threshold ----------------------------------------------------------------


def budget_check_threshold(*, project_id: int, user_id: int | None) -> None:
    """Tell the project's admins, once per period, that a budget crossed its soft
    threshold (after a reservation or a charge)."""
    _alert_if_crossed(budgets_for(project_id=project_id, user_id=user_id))


def _alert_if_crossed(budgets: list[Budget]) -> None:
    for budget in budgets:
        state = standing(budget)
        if state.used * 100 < budget.amount_usd * budget.soft_threshold_pct:
            continue
        try:
            with transaction.atomic():  # a savepoint: the unique constraint says "once"
                BudgetAlert.objects.create(
                    budget=budget, period_start=state.start.date(), created_at=timezone.now()
                )
        except IntegrityError:
            continue  # already told this period
        _notify_admins(state)


def _notify_admins(state: Standing) -> None:
    budget = state.budget
    whose = budget.project.name if budget.user_id is None else f"{budget.user} in {budget.project}"
    text = (
        f"Budget of {whose} is {state.percent}% used ({money(state.used)} of "
        f"{money(budget.amount_usd)} this {'week' if budget.period == 'weekly' else 'month'}; "
        f"threshold {budget.soft_threshold_pct}%)."
    )
    admins = Membership.objects.filter(project_id=budget.project_id, role=Role.ADMIN)
    notify_people(
        recipients=admins.values_list("user_id", flat=True),
        kind=Notification.Kind.BUDGET_THRESHOLD,
        text=text,
    )
    emit_budget_threshold(
        project=budget.project,
        person=budget.user.get_username() if budget.user is not None else None,
        period=budget.period,
        period_start=state.start.date(),
        amount_usd=budget.amount_usd,
        used_usd=state.used,
        percent=state.percent,
        threshold_pct=budget.soft_threshold_pct,
    )


# --- estimates where money is decided ---------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """What a submission is about to cost: its previews now, and what escalating all of
    them to finals would cost later; against the tightest budget that applies."""

    variants: int
    preview_size: str
    final_size: str
    preview_unit: Decimal | None
    final_unit: Decimal | None  # the final's image plus the input images it sends
    budget: Standing | None
    # The pair (cross-model previews): the models' labels, the same one when not paired.
    preview_model: str = ""
    final_model: str = ""
    final_note: str = ""  # how the final will be made, when not as asked
    final_inputs: int = 0  # input images the final sends (the preview, the references)
    # Reference images: how many are attached, how many the model takes, the price of one
    # sent with one render (the list's input_image figure; None when it has none).
    references: int = 0
    reference_limit: int = 0
    reference_unit: Decimal | None = None
    model_label: str = ""

    @property
    def cross_model(self) -> bool:
        return self.preview_model != self.final_model

    @property
    def references_over(self) -> int:
        return max(0, self.references - self.reference_limit)

    @property
    def references_cost(self) -> Decimal:
        """What the references add to the previews: price × count × variants."""
        return (self.reference_unit or ZERO) * self.references * self.variants

    @property
    def previews(self) -> Decimal | None:
        if self.preview_unit is None:
            return None
        return self.preview_unit * self.variants + self.references_cost

    @property
    def finals(self) -> Decimal | None:
        # final_unit already holds every input image a final sends, references included.
        if self.final_unit is None:
            return None
        return self.final_unit * self.variants

    @property
    def fits(self) -> bool:
        return self.budget is None or (self.previews or ZERO) <= self.budget.left

    @property
    def finals_fit(self) -> bool:
        total = (self.previews or ZERO) + (self.finals or ZERO)
        return self.budget is None or total <= self.budget.left


def submission_estimate(
    *,
    project: Any,
    user: User,
    model_key: str,
    preview_size: str,
    variants: int,
    final_model_key: str = "",
    references: int = 0,
) -> Estimate:
    """Previews on `model_key` now; finals later on `final_model_key` ("" = the same),
    priced as the approval will reserve them (`final_unit`): by the project's escalation
    strategy as the final's model allows, input images included."""
    final_model_key = final_model_key or model_key
    final_size = project.final_size
    resolved = catalog.escalation(
        asked=project.escalation_strategy, model_key=final_model_key, preview_key=model_key
    )
    final = pricing.final_price(
        model_key=final_model_key, size=final_size, strategy=resolved.strategy,
        references=references,
    )  # fmt: skip
    # References go with every preview (and the final): the preview model's limit.
    try:
        model = catalog.get_model(model_key)
    except LookupError:
        limit, label = 0, model_key
    else:
        limit, label = model.max_input_images, model.label.split(" (")[0]
    entry = pricing.input_image_price(model_key=model_key) if limit else None
    return Estimate(
        variants=variants,
        preview_size=preview_size,
        final_size=final_size,
        preview_unit=pricing.list_price(model_key=model_key, size=preview_size),
        final_unit=final.total,
        budget=headroom(project_id=project.pk, user_id=user.pk),
        preview_model=_label(model_key),
        final_model=_label(final_model_key),
        final_note=resolved.note,
        final_inputs=final.input_images,
        references=references,
        reference_limit=limit,
        reference_unit=None if entry is None else entry.usd_per_image,
        model_label=label,
    )


def _label(model_key: str) -> str:
    try:
        return catalog.get_model(model_key).label
    except LookupError:
        return model_key


@dataclass(frozen=True)
class BatchEstimate:
    """What a batch is about to cost: every row's previews now (what queueing reserves),
    what approving all of them would add later, against the tightest budget that applies."""

    rows: int
    generations: int
    previews: Decimal
    finals: Decimal
    unpriced: list[str]  # "model at size" with no price in force (reserved at 0)
    budget: Standing | None

    @property
    def fits(self) -> bool:
        return self.budget is None or self.previews <= self.budget.left

    @property
    def finals_fit(self) -> bool:
        return self.budget is None or self.previews + self.finals <= self.budget.left


def batch_units(*, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Decimal]:
    """The price of one image per (model, size), in one query; 0 where none is in force
    (as `phase_price` and the charge would be)."""
    found = pricing.prices_in_force(pairs)
    return {pair: found.get(pair, ZERO) for pair in pairs}


def batch_estimate(*, project: Any, user: User, rows: list[tuple[str, str, int]]) -> BatchEstimate:
    """`rows`: (model_key, preview_size, variants) per planned row."""
    final_size = project.final_size
    pairs = {(model, size) for model, size, _ in rows} | {
        (model, final_size) for model, _, _ in rows
    }
    found = pricing.prices_in_force(pairs)
    previews = finals = ZERO
    for model, size, variants in rows:
        previews += found.get((model, size), ZERO) * variants
        finals += found.get((model, final_size), ZERO) * variants
    return BatchEstimate(
        rows=len(rows),
        generations=sum(variants for _, _, variants in rows),
        previews=previews,
        finals=finals,
        unpriced=sorted(
            f"{model} at {size}" for model, size in pairs if (model, size) not in found
        ),
        budget=headroom(project_id=project.pk, user_id=user.pk),
    )


# --- project admins set budgets ----------------------------------------------------------


def budget_set(
    *,
    project: Any,
    user: User,
    username: str,
    period: str,
    amount_usd: Decimal | None,
    soft_threshold_pct: int,
) -> Budget | None:
    """Set the project's budget (no username) or one member's; no amount removes it."""
    require_project_role(user, Action.MANAGE_SETTINGS, project)
    errors: dict[str, str] = {}
    person = None
    username = username.strip()
    if username:
        person = get_user_model().objects.filter(username=username).first()
        if person is None or not Membership.objects.filter(project=project, user=person).exists():
            errors["username"] = f"“{username}” is not a member of {project.name}."
    if period not in BudgetPeriod.values:
        errors["period"] = "Choose monthly or weekly."
    if amount_usd is not None and amount_usd < 0:
        errors["amount_usd"] = "A budget cannot be negative."
    if not 1 <= soft_threshold_pct <= 100:
        errors["soft_threshold_pct"] = "Give a percentage from 1 to 100."
    if errors:
        raise ValidationError(errors)
    lookup = {"project": project, "user": person}
    if amount_usd is None:
        Budget.objects.filter(**lookup).delete()
        return None
    budget, _ = Budget.objects.update_or_create(
        **lookup,
        defaults={
            "period": period,
            "amount_usd": amount_usd,
            "soft_threshold_pct": soft_threshold_pct,
        },
    )
    return budget


def project_budgets(*, project: Any) -> list[Standing]:
    """Every budget of the project with where it stands this period: the project's first."""
    rows = Budget.objects.filter(project=project).select_related("project", "user")
    ordered = sorted(rows, key=lambda b: (b.user_id is not None, b.user.username if b.user else ""))
    return [standing(budget) for budget in ordered]
