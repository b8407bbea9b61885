"""The ledger: one charge per billable call at the price in force when the call started,
waste tagged, corrections as new rows, history never edited."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from generations import services
from generations.models import (
    Attempt,
    Generation,
    LedgerEntry,
    LedgerImmutable,
    PriceEntry,
    Reservation,
)
from generations.providers.base import ContentBlocked, ServerError
from generations.rendering import jobs
from generations.rendering.sweeper import generations_sweep
from generations.spend import ledger
from generations.states import State
from tests.support.fakes import OK, ScriptedProvider

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch):
    quick = {"timeout": 5, "tries": 2, "base_delay": 1}
    settings.STUDIO_ATTEMPT_POLICY = {"1K": dict(quick), "2K": dict(quick), "4K": dict(quick)}
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    monkeypatch.setattr("generations.rendering.sweeper.kick", lambda generation_id: None)


def _submit(designer, project, *, model_key="nano-banana-2", variants=1) -> Generation:
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt="a lighthouse at dusk",
        model_key=model_key,
        aspect_ratio="1:1",
        preview_size="1K",
        variants=variants,
    )
    return submission.generations.order_by("variant").first()


def _render(generation, *outcomes) -> str:
    Generation.objects.filter(pk=generation.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )
    return jobs.generation_render(
        generation_id=generation.pk, worker="w", provider=ScriptedProvider(*outcomes)
    )


def _charges(generation) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(generation=generation, kind="charge"))


def test_a_rendered_preview_is_charged_once_at_its_list_price_to_the_submitter(designer, project):
    generation = _submit(designer, project)

    assert _render(generation, OK) == State.IN_REVIEW

    (charge,) = _charges(generation)
    assert charge.amount_usd == charge.unit_price == Decimal("0.067")
    assert charge.price_entry.usd_per_image == Decimal("0.067")
    assert (charge.user, charge.project, charge.size, charge.phase) == (
        designer,
        project,
        "1K",
        "preview",
    )
    assert not charge.waste
    # No key in tests: the hosted model was simulated locally, priced as the hosted one.
    assert charge.simulated and charge.provider == "local"
    reservation = Reservation.objects.get(generation=generation)
    assert reservation.status == Reservation.Status.CHARGED


def test_the_local_model_costs_nothing_and_is_not_simulated(designer, project):
    generation = _submit(designer, project, model_key="local")
    _render(generation, OK)
    (charge,) = _charges(generation)
    assert charge.amount_usd == 0 and not charge.simulated


def test_a_charge_keeps_the_price_it_used_when_the_list_changes(designer, project):
    generation = _submit(designer, project)
    _render(generation, OK)
    PriceEntry.objects.create(
        model_key="nano-banana-2",
        size="1K",
        usd_per_image=Decimal("0.5"),
        effective_from=timezone.now() + dt.timedelta(seconds=1),
    )
    (charge,) = _charges(generation)
    assert charge.amount_usd == Decimal("0.067")


def test_the_price_is_the_one_in_force_when_the_call_started(designer, project):
    """A new price that starts while the call runs does not apply to it."""
    generation = _submit(designer, project)

    def price_changes_mid_call(request):
        PriceEntry.objects.create(
            model_key="nano-banana-2",
            size="1K",
            usd_per_image=Decimal("0.9"),
            effective_from=timezone.now(),
        )
        return OK

    _render(generation, price_changes_mid_call)
    (charge,) = _charges(generation)
    assert charge.amount_usd == Decimal("0.067")
    second = _submit(designer, project)
    _render(second, OK)
    assert _charges(second)[0].amount_usd == Decimal("0.9")


def test_charging_an_attempt_again_returns_the_same_charge_and_keeps_the_transaction_usable(
    designer, project
):
    generation = _submit(designer, project)
    _render(generation, OK)
    (charge,) = _charges(generation)
    with transaction.atomic():
        again = ledger.ledger_charge_attempt(attempt=charge.attempt, generation=generation)
        # On PostgreSQL a caught IntegrityError would have aborted the transaction.
        assert Generation.objects.filter(pk=generation.pk).exists()
    assert again.pk == charge.pk
    assert len(_charges(generation)) == 1


def test_failures_are_not_billed_by_default(designer, project):
    generation = _submit(designer, project)
    assert _render(generation, ServerError("503")) == State.PREVIEW_QUEUED
    assert _render(generation, ContentBlocked("no")) == State.PREVIEW_FAILED
    assert _charges(generation) == []
    assert Reservation.objects.get(generation=generation).status == Reservation.Status.RELEASED


def test_a_failure_the_provider_bills_is_charged_as_waste(designer, project, settings):
    settings.STUDIO_BILLED_FAILURES = {"local": ["content_blocked"]}
    generation = _submit(designer, project)
    _render(generation, ContentBlocked("IMAGE_SAFETY"))
    (charge,) = _charges(generation)
    assert charge.waste and charge.amount_usd == Decimal("0.067")
    assert charge.attempt.outcome == Attempt.Outcome.FAILED


def test_a_result_discarded_because_the_generation_was_cancelled_is_charged_as_waste(
    designer, project
):
    generation = _submit(designer, project)

    def cancel_meanwhile(request):
        services.generation_cancel(generation_id=generation.pk, user=designer)
        return OK

    assert _render(generation, cancel_meanwhile) == "discarded"
    (charge,) = _charges(generation)
    assert charge.waste
    # The cancel kept the reservation for the running call; the call's charge used it up
    # (released at the cancel, the same money could have been reserved twice).
    reservation = Reservation.objects.get(generation=generation)
    assert reservation.status == Reservation.Status.CHARGED
    assert charge.amount_usd == reservation.amount_usd


def test_an_abandoned_attempt_is_not_charged(designer, project):
    generation = _submit(designer, project)
    Generation.objects.filter(pk=generation.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )
    claim = jobs._claim(generation.pk, worker="dies")
    assert claim is not None
    Generation.objects.filter(pk=generation.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert generations_sweep().reaped == 1
    assert Attempt.objects.get(pk=claim.attempt.pk).outcome == Attempt.Outcome.ABANDONED
    assert _charges(generation) == []


def test_an_unknown_price_charges_zero_with_the_reason_and_the_worker_carries_on(
    designer, project, caplog
):
    PriceEntry.objects.filter(model_key="nano-banana-2", size="1K").delete()
    generation = _submit(designer, project)

    assert _render(generation, OK) == State.IN_REVIEW

    (charge,) = _charges(generation)
    assert charge.amount_usd == 0 and charge.price_entry is None
    assert "no price in the list for nano-banana-2 1K" in charge.reason
    assert "no price in the list" in caplog.text


# --- corrections ---------------------------------------------------------------------


def test_an_admin_refunds_a_charge_with_a_new_row_once(designer, project, project_admin):
    generation = _submit(designer, project)
    _render(generation, OK)
    (charge,) = _charges(generation)

    refund = ledger.ledger_refund(entry=charge, reason="provider outage", user=project_admin)

    assert refund.kind == "refund" and refund.amount_usd == -charge.amount_usd
    assert refund.corrects == charge and refund.created_by == project_admin
    charge.refresh_from_db()
    assert charge.amount_usd == Decimal("0.067"), "the charge itself is untouched"
    with pytest.raises(ValidationError, match="already refunded"):
        ledger.ledger_refund(entry=charge, reason="again", user=project_admin)


def test_corrections_need_a_reason_and_an_admin(designer, project, project_admin):
    generation = _submit(designer, project)
    _render(generation, OK)
    (charge,) = _charges(generation)
    with pytest.raises(ValidationError):
        ledger.ledger_refund(entry=charge, reason=" ", user=project_admin)
    with pytest.raises(PermissionDenied):
        ledger.ledger_refund(entry=charge, reason="mine", user=designer)
    with pytest.raises(PermissionDenied):
        ledger.ledger_adjust(project=project, amount=Decimal("-1"), reason="x", user=designer)
    adjustment = ledger.ledger_adjust(
        project=project, amount=Decimal("-1.50"), reason="credit from Google", user=project_admin
    )
    assert adjustment.kind == "adjustment" and adjustment.amount_usd == Decimal("-1.50")


def test_ledger_rows_cannot_be_edited_or_deleted(designer, project):
    generation = _submit(designer, project)
    _render(generation, OK)
    (charge,) = _charges(generation)
    charge.amount_usd = Decimal(0)
    with pytest.raises(LedgerImmutable):
        charge.save()
    with pytest.raises(LedgerImmutable):
        charge.delete()
    assert LedgerEntry.objects.get(pk=charge.pk).amount_usd == Decimal("0.067")


def test_postgresql_refuses_updates_and_deletes_of_ledger_rows(designer, project):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    generation = _submit(designer, project)
    _render(generation, OK)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(generation=generation).update(amount_usd=0)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(generation=generation).delete()
    assert LedgerEntry.objects.get(generation=generation).amount_usd == Decimal("0.067")
