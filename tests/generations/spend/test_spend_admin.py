"""The Django admin keeps the ledger append-only: rows are read-only, nothing is deleted,
and corrections are added through the ledger services. Prices in force are history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from generations.models import LedgerEntry, PriceEntry
from generations.spend.ledger import ledger_entry_insert
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def charge(project, designer):
    from generations.models import Attempt
    from tests.support.factories import GenerationFactory, SubmissionFactory

    generation = GenerationFactory(
        submission=SubmissionFactory(project=project, created_by=designer)
    )
    attempt = Attempt.objects.create(
        generation=generation, number=1, phase="preview", size="1K", provider="gemini",
        model_id="m", model_key=generation.submission.model_key, started_at=timezone.now(),
    )  # fmt: skip
    return ledger_entry_insert(LedgerEntry(
        kind="charge", project=project, user=designer, generation=generation, attempt=attempt,
        phase="preview", size="1K", amount_usd=Decimal("0.134"), created_at=timezone.now(),
    ))  # fmt: skip


def test_a_ledger_row_cannot_be_changed_or_deleted_in_the_admin(client, root, charge):
    change = reverse("admin:generations_ledgerentry_change", args=[charge.pk])
    page = client.get(change)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content, "no save button: read-only"
    client.post(change, {"amount_usd": "0", "reason": "edit"})
    delete = reverse("admin:generations_ledgerentry_delete", args=[charge.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.get(pk=charge.pk).amount_usd == Decimal("0.134")


def test_the_admin_refunds_a_charge_by_adding_a_correction(client, root, charge):
    add = reverse("admin:generations_ledgerentry_add")
    response = client.post(
        add, {"kind": "refund", "corrects": charge.pk, "reason": "duplicate at Google"}
    )
    assert response.status_code == 302
    refund = LedgerEntry.objects.get(kind="refund")
    assert (refund.amount_usd, refund.corrects, refund.created_by) == (
        Decimal("-0.134"),
        charge,
        root,
    )
    # A correction without a reason is refused with the form's message.
    again = client.post(add, {"kind": "adjustment", "project": charge.project_id, "reason": ""})
    assert again.status_code == 200 and b"This field is required" in again.content
    assert LedgerEntry.objects.count() == 2


def test_a_price_in_force_is_read_only_a_future_one_editable(client, root):
    past = PriceEntry.objects.filter(model_key="nano-banana-pro", size="4K").first()
    page = client.get(reverse("admin:generations_priceentry_change", args=[past.pk]))
    assert b'name="usd_per_image"' not in page.content
    future = PriceEntry.objects.create(
        model_key="nano-banana-pro", size="4K", usd_per_image=Decimal("0.30"),
        effective_from=timezone.now() + dt.timedelta(days=7),
    )  # fmt: skip
    page = client.get(reverse("admin:generations_priceentry_change", args=[future.pk]))
    assert b'name="usd_per_image"' in page.content
