"""What a final costs by escalation strategy: the image, plus the preview sent as an
input image when it is made from it, or the upscale's own entry; all editable data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generations.models import PriceEntry, PriceKind
from generations.spend import pricing
from generations.strategies import Strategy
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db
PRO = "nano-banana-pro"


@pytest.fixture(autouse=True)
def _prices(price_list):
    """The seeded list, even after a transactional test flushed it."""


@pytest.mark.parametrize(
    ("strategy", "image", "inputs", "total"),
    [
        (Strategy.FROM_PREVIEW, "0.24", "0.0011", "0.2411"),
        (Strategy.FROM_PROMPT, "0.24", "0", "0.24"),
        (Strategy.UPSCALE, "0.002", "0", "0.002"),
    ],
)
def test_a_final_is_priced_by_its_strategy(strategy, image, inputs, total):
    price = pricing.final_price(model_key=PRO, size="4K", strategy=strategy)
    assert (price.image, price.inputs, price.total) == (
        Decimal(image),
        Decimal(inputs),
        Decimal(total),
    )


def test_the_page_pricing_agrees_with_the_one_by_one_pricing():
    images = pricing.prices_in_force({(PRO, "4K"), ("upscale", "4K")})
    inputs = pricing.input_image_prices({PRO, "nano-banana-2"})
    assert inputs == {PRO: Decimal("0.0011"), "nano-banana-2": Decimal("0.0003")}
    for strategy in Strategy:
        assert pricing.final_price_from(
            model_key=PRO, size="4K", strategy=strategy, images=images, inputs=inputs
        ) == pricing.final_price(model_key=PRO, size="4K", strategy=strategy)


def test_an_input_image_price_is_edited_like_any_price_and_has_no_size():
    admin = UserFactory(username="sam", is_staff=True)
    entry = pricing.price_entry_create(
        model_key=PRO,
        size="4K",  # ignored: one figure per input image
        lane="standard",
        usd_per_image=Decimal("0.0015"),
        user=admin,
        kind=PriceKind.INPUT_IMAGE,
    )
    assert (entry.kind, entry.size) == (PriceKind.INPUT_IMAGE, "")
    assert pricing.final_price(model_key=PRO, size="4K", strategy="from_preview").total == (
        Decimal("0.2415")
    )
    # The image prices are untouched by it.
    assert pricing.list_price(model_key=PRO, size="4K") == Decimal("0.24")
    standard = PriceEntry.objects.filter(model_key=PRO, kind=PriceKind.INPUT_IMAGE, lane="standard")
    assert standard.count() == 2


def test_a_model_without_an_input_image_price_still_prices_its_image():
    price = pricing.final_price(model_key="mystery", size="4K", strategy="from_preview")
    assert price.total is None
    PriceEntry.objects.filter(kind=PriceKind.INPUT_IMAGE, model_key=PRO).delete()
    price = pricing.final_price(model_key=PRO, size="4K", strategy="from_preview")
    assert (price.input_unit, price.total) == (None, Decimal("0.24"))


def test_the_price_page_adds_an_input_image_price(client):
    client.force_login(UserFactory(username="sam", is_staff=True))
    data = {"kind": "input_image", "model_key": PRO, "size": "1K", "lane": "standard",
            "usd_per_image": "0.002"}  # fmt: skip
    response = client.post("/spend/prices/", data, follow=True)
    assert response.status_code == 200
    assert pricing.input_image_price(model_key=PRO).usd_per_image == Decimal("0.002")
    assert "each input image" in response.content.decode()
