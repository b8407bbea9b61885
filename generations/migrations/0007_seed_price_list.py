"""Seed the price list with the published prices (DESIGN.md, USD per image, paid tier).
Batch is half the standard price. Admins edit the list from here on."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import migrations

PUBLISHED = {
    "nano-banana-pro": {"1K": "0.134", "2K": "0.134", "4K": "0.24"},
    "nano-banana-2": {"512": "0.045", "1K": "0.067", "2K": "0.101", "4K": "0.151"},
    "nano-banana": {"1K": "0.039"},
    "local": {"512": "0", "1K": "0", "2K": "0", "4K": "0"},
}
SINCE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOTE = "published price (seed)"


def seed(apps, schema_editor):
    PriceEntry = apps.get_model("generations", "PriceEntry")
    for model_key, prices in PUBLISHED.items():
        for size, price in prices.items():
            standard = Decimal(price)
            for lane, usd in (("standard", standard), ("batch", standard / 2)):
                PriceEntry.objects.get_or_create(
                    model_key=model_key,
                    size=size,
                    lane=lane,
                    effective_from=SINCE,
                    defaults={"usd_per_image": usd, "note": NOTE},
                )


def unseed(apps, schema_editor):
    apps.get_model("generations", "PriceEntry").objects.filter(
        effective_from=SINCE, note=NOTE
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("generations", "0006_spend_and_image_pipeline")]
    operations = [migrations.RunPython(seed, unseed)]
