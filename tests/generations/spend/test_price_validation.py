"""One validation for a price, on the prices page and in the admin (issue 16, defect 6):
only models in the catalogue, and a start from now to two years ahead — year 9999 is a
typo, and a price for a model nobody can render is a row no charge will ever use."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from generations.models import PriceEntry
from tests.support.factories import UserFactory


@pytest.fixture
def staff(db):
    return UserFactory(username="sam", is_staff=True)


@pytest.fixture
def root(client, db):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


BAD = [
    ({"model_key": "dall-e-9"}, "model_key", "not a model in the catalogue"),
    ({"model_key": "nano\x00banana"}, "model_key", "Null characters are not allowed"),
    ({"effective_from": "9999-12-31T23:59"}, "effective_from", "at most two years ahead"),
    ({"effective_from": "2999-01-01T00:00"}, "effective_from", "at most two years ahead"),
    ({"effective_from": "0001-01-01T00:00"}, "effective_from", "cannot start in the past"),
]


def _form(**overrides):
    data = {
        "model_key": "nano-banana-pro",
        "size": "4K",
        "lane": "standard",
        "usd_per_image": "0.30",
    }
    return {**data, **overrides}


@pytest.mark.parametrize(("data", "field", "message"), BAD)
def test_the_prices_page_refuses_unknown_models_and_absurd_starts(
    client, staff, data, field, message
):
    client.force_login(staff)
    before = PriceEntry.objects.count()
    response = client.post("/spend/prices/", _form(**data))
    assert response.status_code == 400
    if field == "model_key":  # a select here: anything not offered is one answer
        message = "not a model in the catalogue"
    assert message in " ".join(response.context["form"].errors[field])
    assert PriceEntry.objects.count() == before


@pytest.mark.parametrize(("data", "field", "message"), BAD)
def test_the_admin_refuses_them_with_the_same_messages(client, root, data, field, message):
    before = PriceEntry.objects.count()
    values = _form(**data)
    start = values.pop("effective_from", "2030-01-01T00:00")
    day, time = start.split("T")
    response = client.post(
        reverse("admin:generations_priceentry_add"),
        {**values, "effective_from_0": day, "effective_from_1": time, "note": ""},
    )
    assert response.status_code == 200, "the form again, with its errors"
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert PriceEntry.objects.count() == before


def test_the_admin_still_schedules_a_good_price(client, root):
    start = timezone.localtime(timezone.now() + dt.timedelta(days=30))
    response = client.post(
        reverse("admin:generations_priceentry_add"),
        {
            **_form(),
            "effective_from_0": f"{start:%Y-%m-%d}",
            "effective_from_1": f"{start:%H:%M:%S}",
            "note": "",
        },
    )
    assert response.status_code == 302
    assert PriceEntry.objects.filter(model_key="nano-banana-pro", usd_per_image="0.30").exists()
