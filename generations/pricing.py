"""Prices: what one image of a model × size × lane costs at a given moment.

The price list is data (`PriceEntry` rows with effective-from times, seeded with the
published prices by migration 0007 and edited by admins); a later entry for the same key
takes over from its start. Charges copy the price they used, so changing the list never
rewrites history.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Final

from django.utils import timezone

from generations.models import Lane, PriceEntry

LOCAL_PROVIDER: Final = "local"


def price_in_force(
    *, model_key: str, size: str, lane: str = Lane.STANDARD, at: dt.datetime | None = None
) -> PriceEntry | None:
    """The price entry that applies to one image at `at` (default: now), or None when the
    list has no price for it."""
    return (
        PriceEntry.objects.filter(
            model_key=model_key, size=size, lane=lane, effective_from__lte=at or timezone.now()
        )
        .order_by("-effective_from")
        .first()
    )


def list_price(
    *, model_key: str, size: str, lane: str = Lane.STANDARD, at: dt.datetime | None = None
) -> Decimal | None:
    """USD per image of `model_key` at `size` in force at `at`, or None if unknown."""
    entry = price_in_force(model_key=model_key, size=size, lane=lane, at=at)
    return None if entry is None else entry.usd_per_image


def image_cost(*, model_key: str, size: str, provider: str) -> Decimal | None:
    """What rendering one image costs now: nothing when our local provider rendered it (a
    hosted model without a key is simulated locally), else its list price."""
    if provider == LOCAL_PROVIDER:
        return Decimal(0)
    return list_price(model_key=model_key, size=size)
