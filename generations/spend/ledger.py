"""The ledger: what was spent, by whom, on what — append-only.

One charge per billable provider call, written by the worker in the same transaction as
the state move that records the call's outcome (generations.rendering). The database
holds the rule: a partial unique constraint allows one charge per attempt, and the
insert tolerates the conflict (in a savepoint), so a re-delivered task, a retry or a race
cannot charge twice — nor count twice in the daily roll-ups (generations.spend.rollups), which
LedgerEntry.save writes with the row. Corrections (refunds, adjustments) are new rows
with a reason, never edits.

What is billed:
- a success: always — even when its result is discarded because the generation was
  cancelled or reaped meanwhile (the provider was paid; tagged as waste);
- a failure: when the provider's billing policy bills that error kind
  (`settings.STUDIO_BILLED_FAILURES`, or an error that knows it is billed); tagged waste;
- an abandoned attempt (lease expired, worker killed): not charged — we never learned
  whether the provider finished, and "a worker killed mid-render costs nothing but time".
  That is final: a late result that arrives after its lease was reaped is discarded and
  not charged (noted on the attempt). The reaper already handed the attempt's reservation
  to the next attempt; charging the late call too would spend money no budget check
  allowed. (The lease is the call's timeout plus a grace, so only a worker stuck after
  its call can be that late; an invoice that shows it is corrected by an adjustment.)

What a charge costs: the amount of the reservation it uses up (generations.spend.budgets),
i.e. the price in force when the work was asked for — submission for a preview, approval
for a final — not when the attempt started. A retry after a billed attempt reserves again.

Gemini and blocked prompts: Gemini bills image models per output image (the image's
output tokens). A prompt blocked by `promptFeedback.blockReason` produces no output, so
nothing of the per-image price is billed (its input tokens are fractions of a cent and
not part of a per-image price list). An image withheld by an `IMAGE_*` finishReason may
have been generated and billed as output tokens; the invoice decides, so the default
policy bills no failure and an operator who sees them billed sets
`STUDIO_BILLED_FAILURES={"gemini": ["content_blocked"]}`.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from generations.models import Attempt, Generation, Lane, LedgerEntry, Project
from generations.permissions import Action, acting_role
from generations.spend import pricing
from generations.spend.budgets import budget_check_threshold, reservation_charge
from generations.spend.rollups import SavingsCohort, rollup_ledger_entry
from generations.strategies import UPSCALE_PRICE_KEY, Strategy
from generations.types import User

logger = logging.getLogger(__name__)

ZERO = Decimal(0)


def failure_billed(*, provider: str, error_kind: str, error_billed: bool = False) -> bool:
    """Whether the provider bills a failed call of this kind (see the module docstring)."""
    if error_billed:
        return True
    policy: dict[str, list[str]] = getattr(settings, "STUDIO_BILLED_FAILURES", {})
    return error_kind in policy.get(provider, ())


def ledger_charge_attempt(
    *,
    attempt: Attempt,
    generation: Generation,
    waste: bool = False,
    finished_now: bool = False,
    cohort: SavingsCohort | None = None,
) -> LedgerEntry:
    """Charge one provider call, once. Returns the charge (the existing one when the
    attempt was already charged). Call it inside the transaction of the state move.

    `finished_now`: the caller has just ended the attempt in this transaction (its
    running → outcome update matched, which only one writer can do), so no charge of it
    can exist yet: no look-up and no savepoint (a duplicate would be a bug; the unique
    constraint would roll the whole outcome back). `cohort`: what the savings roll-up
    needs of the generation, known to the caller that holds its row (rollups.SavingsCohort).
    """
    submission = generation.submission
    # The model of the attempt's phase (cross-model previews: the final's is another).
    model_key = attempt.model_key or submission.model_of(attempt.phase)
    # An upscale (no model call) is charged at its own entry of the list, under its key.
    if attempt.strategy == Strategy.UPSCALE:
        model_key = UPSCALE_PRICE_KEY
    if not finished_now:
        existing = LedgerEntry.objects.filter(attempt_id=attempt.pk, kind=LedgerEntry.Kind.CHARGE)
        if existing.exists():
            # Charged already (a re-delivered task): the reservation it used stays as it is.
            return existing.get()
        try:
            # A savepoint: a charge inserted meanwhile (one_charge_per_attempt) rolls back
            # only this charge, its reservation and roll-ups, and the move's transaction
            # stays usable on PostgreSQL.
            with transaction.atomic():
                return _charge(attempt, generation, model_key=model_key, waste=waste, cohort=cohort)
        except IntegrityError:
            if not existing.exists():
                raise  # not the duplicate charge: some other rule was broken
            return existing.get()
    return _charge(attempt, generation, model_key=model_key, waste=waste, cohort=cohort)


def _charge(
    attempt: Attempt,
    generation: Generation,
    *,
    model_key: str,
    waste: bool,
    cohort: SavingsCohort | None = None,
) -> LedgerEntry:
    submission = generation.submission
    # A hosted model simulated locally (no key) is priced as the hosted model, flagged
    # simulated; the local model itself is in the price list at 0.
    simulated = attempt.provider == pricing.LOCAL_PROVIDER and model_key not in (
        pricing.LOCAL_PROVIDER,
        UPSCALE_PRICE_KEY,
    )
    # The lane the call went by (the economy lane: the Batch API's price).
    lane = attempt.lane or Lane.STANDARD
    # The reservation fixed the price when the work was asked for: a price changed since
    # does not change what this attempt costs, and the charge never exceeds what the
    # budget allowed. Closing it reads the list's entry then in force in the same
    # statement. Without one (work from before reservations), the list decides.
    reservation = reservation_charge(
        generation_id=generation.pk,
        phase=attempt.phase,
        attempt_number=attempt.number,
        price_key=(model_key, attempt.size, lane),
    )
    if reservation is None:
        at = attempt.started_at
        entry = pricing.price_in_force(model_key=model_key, size=attempt.size, lane=lane, at=at)
        entry_id, listed = (None, None) if entry is None else (entry.pk, entry.usd_per_image)
    else:
        at = reservation.created_at
        entry_id, listed = reservation.price_entry_id, reservation.price_usd
    inputs, inputs_note = _input_images_charge(attempt, model_key=model_key, at=at, lane=lane)
    if reservation is not None:
        # The reservation is the whole price, input images included (budgets.final_unit).
        amount = reservation.amount_usd
        unit = max(amount - inputs, ZERO)
        if listed is not None and listed != unit:
            entry_id = None  # the list changed under the same start; the reservation stands
    else:
        unit = listed if listed is not None else ZERO
        amount = unit + inputs
    unpriced = entry_id is None and not unit
    reason = ""
    if unpriced:
        # Charge 0 rather than crash a worker that holds a finished image; say so loudly.
        reason = f"no price in the list for {model_key} {attempt.size} at {at}"
        logger.error("ledger: %s (attempt %s charged 0)", reason, attempt.pk)
    reason = "; ".join(filter(None, [reason, inputs_note]))
    charge = ledger_entry_insert(
        LedgerEntry(
            kind=LedgerEntry.Kind.CHARGE,
            project_id=generation.project_id,
            user_id=submission.created_by_id,
            generation_id=generation.pk,
            attempt_id=attempt.pk,
            phase=attempt.phase,
            model_key=model_key,
            provider=attempt.provider,
            size=attempt.size,
            lane=lane,
            unit_price=None if unpriced else unit,
            price_entry_id=entry_id,
            amount_usd=amount,
            waste=waste,
            simulated=simulated,
            reason=reason,
            # A first preview charge is dated as its move dated previewed_at.
            created_at=cohort.previewed_at
            if cohort is not None and cohort.first_charge and cohort.previewed_at
            else timezone.now(),
        ),
        cohort=cohort,
    )
    # What counts against a budget is spent + reserved: a charge that uses up a
    # reservation of its amount moves money from one to the other and crosses no
    # threshold (the reservation was checked when made). Anything else is new spend.
    if charge.amount_usd and reservation is None:
        budget_check_threshold(project_id=generation.project_id, user_id=submission.created_by_id)
    return charge


def _input_images_charge(
    attempt: Attempt, *, model_key: str, at: dt.datetime, lane: str = Lane.STANDARD
) -> tuple[Decimal, str]:
    """What the input images a request carried (the approved preview of a final made from
    it) cost, and the ledger's note on it. Gemini bills them as input tokens (usageMetadata
    on the attempt, to check the invoice against); the list holds one figure per image."""
    if not attempt.input_images:
        return ZERO, ""
    entry = pricing.input_image_price(model_key=model_key, lane=lane, at=at)
    unit = entry.usd_per_image if entry is not None else ZERO
    plural = "s" if attempt.input_images != 1 else ""
    missing = "" if entry else f" (no input_image price for {model_key})"
    note = f"includes {attempt.input_images} input image{plural} at {unit} USD each{missing}"
    return unit * attempt.input_images, note


def _require_admin(user: User, project: Project) -> None:
    if acting_role(user, Action.MANAGE_SETTINGS, project=project) is None:
        raise PermissionDenied("Only an admin of the project can correct its ledger.")


def ledger_refund(*, entry: LedgerEntry, reason: str, user: User) -> LedgerEntry:
    """Undo a charge with a new row of the opposite amount (once per charge)."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the charge is refunded."})
    _require_admin(user, entry.project)
    if entry.kind != LedgerEntry.Kind.CHARGE:
        raise ValidationError("Only a charge can be refunded.")
    with transaction.atomic():
        # The charge's row is the lock: two admins refunding at once refund once.
        LedgerEntry.objects.select_for_update().get(pk=entry.pk)
        refunded = sum(
            (-row.amount_usd for row in entry.corrections.filter(kind=LedgerEntry.Kind.REFUND)),
            ZERO,
        )
        remaining = entry.amount_usd - refunded
        if remaining <= 0:
            raise ValidationError(f"Charge #{entry.pk} is already refunded.")
        return ledger_entry_insert(
            LedgerEntry(
                kind=LedgerEntry.Kind.REFUND,
                project_id=entry.project_id,
                user_id=entry.user_id,
                generation_id=entry.generation_id,
                phase=entry.phase,
                model_key=entry.model_key,
                provider=entry.provider,
                size=entry.size,
                lane=entry.lane,
                amount_usd=-remaining,
                simulated=entry.simulated,
                corrects=entry,
                reason=reason,
                created_by=user,
                created_at=timezone.now(),
            )
        )


def ledger_adjust(
    *, project: Project, amount: Decimal, reason: str, user: User, person: User | None = None
) -> LedgerEntry:
    """A signed correction to a project's (or one person's) spend, with a reason."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the spend is adjusted."})
    if not amount:
        raise ValidationError({"amount": "An adjustment of 0 changes nothing."})
    _require_admin(user, project)
    return ledger_entry_insert(
        LedgerEntry(
            kind=LedgerEntry.Kind.ADJUSTMENT,
            project=project,
            user=person,
            amount_usd=amount,
            reason=reason,
            created_by=user,
            created_at=timezone.now(),
        )
    )


def ledger_entry_insert(entry: LedgerEntry, *, cohort: SavingsCohort | None = None) -> LedgerEntry:
    """The one way a row enters the ledger: the row and its daily roll-ups are one write,
    so that the reports never fall behind the rows they sum. Inside a transaction no
    savepoint of its own: a failure here fails the caller's block (each caller lets it
    propagate, or holds a savepoint of its own, as ledger_charge_attempt does)."""
    with transaction.atomic(savepoint=False):
        entry.save(force_insert=True)
        rollup_ledger_entry(entry=entry, cohort=cohort)
    return entry
