"""The price list page: staff see current prices and their history, add entries (now or
scheduled), and remove only scheduled ones; history already in force never changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from generations.models import PriceEntry
from generations.spend import pricing
from tests.support.factories import UserFactory

PRO = "nano-banana-pro"


@pytest.fixture
def staff(db):
    return UserFactory(username="sam", is_staff=True)


def _form(**overrides):
    data = {"model_key": PRO, "size": "4K", "lane": "standard", "usd_per_image": "0.30"}
    return {**data, **overrides}


def test_staff_see_prices_in_force_and_superseded(client, staff):
    pricing.price_entry_create(
        model_key=PRO, size="4K", lane="standard", usd_per_image=Decimal("0.25"), user=staff
    )
    client.force_login(staff)
    response = client.get("/spend/prices/")
    assert response.status_code == 200
    rows = [
        (r.entry.model_key, r.entry.size, r.entry.lane, r.entry.usd_per_image, r.status)
        for r in response.context["rows"]
        if r.entry.model_key == PRO and r.entry.size == "4K"
    ]
    assert rows == [
        (PRO, "4K", "batch", Decimal("0.12"), "in force"),
        (PRO, "4K", "standard", Decimal("0.25"), "in force"),
        (PRO, "4K", "standard", Decimal("0.24"), "superseded"),
    ]
    assert pricing.list_price(model_key=PRO, size="4K") == Decimal("0.25")


def test_adding_a_price_now_takes_over_and_keeps_the_old_one(client, staff):
    client.force_login(staff)
    response = client.post("/spend/prices/", _form(note="new contract"), follow=True)
    assert "costs $0.3000 per image" in response.content.decode()
    assert pricing.list_price(model_key=PRO, size="4K") == Decimal("0.30")
    entry = PriceEntry.objects.get(usd_per_image=Decimal("0.30"))
    assert entry.created_by == staff and entry.note == "new contract"
    assert PriceEntry.objects.filter(model_key=PRO, size="4K", lane="standard").count() == 2


def test_a_future_price_is_scheduled_and_can_be_removed(client, staff):
    client.force_login(staff)
    start = timezone.localtime() + dt.timedelta(days=3)
    response = client.post(
        "/spend/prices/", _form(effective_from=f"{start:%Y-%m-%dT%H:%M}"), follow=True
    )
    assert "will cost $0.3000" in response.content.decode()
    assert pricing.list_price(model_key=PRO, size="4K") == Decimal("0.24")  # not yet
    later = timezone.now() + dt.timedelta(days=4)
    assert pricing.list_price(model_key=PRO, size="4K", at=later) == Decimal("0.30")
    entry = PriceEntry.objects.get(usd_per_image=Decimal("0.30"))
    row = next(r for r in client.get("/spend/prices/").context["rows"] if r.entry == entry)
    assert row.status == "scheduled" and row.removable
    client.post(f"/spend/prices/{entry.pk}/delete/")
    assert not PriceEntry.objects.filter(pk=entry.pk).exists()


def test_a_price_in_force_cannot_be_removed(client, staff):
    client.force_login(staff)
    entry = PriceEntry.objects.get(model_key=PRO, size="4K", lane="standard")
    response = client.post(f"/spend/prices/{entry.pk}/delete/", follow=True)
    assert "already in force" in response.content.decode()
    assert PriceEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"usd_per_image": "-0.01"}, "usd_per_image", "cannot be negative"),
        ({"size": "8K"}, "size", "Unknown size"),
        ({"lane": "express"}, "lane", "Unknown lane"),
        ({"effective_from": "2025-01-01T00:00"}, "effective_from", "cannot start in the past"),
        ({"usd_per_image": "abc"}, "usd_per_image", "Enter a number"),
    ],
)
def test_bad_entries_are_refused_with_a_clear_message(client, staff, data, field, message):
    client.force_login(staff)
    before = PriceEntry.objects.count()
    response = client.post("/spend/prices/", _form(**data))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert response.context["form"]["model_key"].value() == PRO  # what they typed stays
    assert PriceEntry.objects.count() == before


def test_two_entries_cannot_start_at_the_same_time(staff):
    start = timezone.now() + dt.timedelta(days=1)
    kwargs = {"model_key": PRO, "size": "4K", "lane": "batch", "user": staff}
    pricing.price_entry_create(usd_per_image=Decimal("0.1"), effective_from=start, **kwargs)
    with pytest.raises(ValidationError, match="already has a price starting"):
        pricing.price_entry_create(usd_per_image=Decimal("0.2"), effective_from=start, **kwargs)


@pytest.mark.parametrize("who", ["project_admin", "designer", "outsider"])
def test_only_site_admins_edit_the_price_list(client, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get("/spend/prices/").status_code == 403
    before = PriceEntry.objects.count()
    assert client.post("/spend/prices/", _form()).status_code == 403
    assert PriceEntry.objects.count() == before
