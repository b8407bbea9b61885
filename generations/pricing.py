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


def prices_in_force(
    keys: set[tuple[str, str]], *, lane: str = Lane.STANDARD, at: dt.datetime | None = None
) -> dict[tuple[str, str], Decimal]:
    """USD per image for many (model_key, size) pairs in one query (pages list many);
    a pair without a price is absent."""
    if not keys:
        return {}
    rows = (
        PriceEntry.objects.filter(
            lane=lane,
            effective_from__lte=at or timezone.now(),
            model_key__in={model_key for model_key, _ in keys},
            size__in={size for _, size in keys},
        )
        .order_by("model_key", "size", "-effective_from")
        .values_list("model_key", "size", "usd_per_image")
    )
    found: dict[tuple[str, str], Decimal] = {}
    for model_key, size, usd in rows:
        found.setdefault((model_key, size), usd)  # the newest entry in force comes first
    return {key: usd for key, usd in found.items() if key in keys}
