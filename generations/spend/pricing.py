"""Prices: what one image of a model × size × lane costs at a given moment.

The price list is data (`PriceEntry` rows with effective-from times, seeded with the
published prices by migration 0007 and edited by admins); a later entry for the same key
takes over from its start. Charges copy the price they used, so changing the list never
rewrites history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from generations import catalog
from generations.models import Lane, PriceEntry, PriceKind
from generations.strategies import UPSCALE_PRICE_KEY, Strategy
from generations.types import User

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


# --- The price list page (admins) --------------------------------------------------------

PRICE_SIZES: Final = ("512", "1K", "2K", "4K")
# An entry "from now" may reach the server a moment after the admin chose it.
_NOW_TOLERANCE: Final = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class PriceRow:
    """One entry of the list as the page shows it."""

    entry: PriceEntry
    status: str  # "scheduled", "in force" or "superseded"

    @property
    def removable(self) -> bool:
        return self.status == "scheduled"


def price_list(*, at: dt.datetime | None = None) -> list[PriceRow]:
    """Every entry, by model × size × lane and newest start first, marked scheduled (not
    yet started), in force (the latest started) or superseded. The list is small: one
    query, the statuses worked out here."""
    now = at or timezone.now()
    rows, seen = [], set()
    for entry in PriceEntry.objects.select_related("created_by").order_by(
        "model_key", "size", "lane", "-effective_from"
    ):
        key = (entry.model_key, entry.size, entry.lane)
        if entry.effective_from > now:
            status = "scheduled"
        elif key not in seen:
            status = "in force"
            seen.add(key)
        else:
            status = "superseded"
        rows.append(PriceRow(entry, status))
    return rows


# A scheduled change further ahead than this is a typo (year 9999), not a plan.
MAX_SCHEDULE_AHEAD: Final = dt.timedelta(days=2 * 366)


def price_entry_errors(
    *,
    model_key: str,
    size: str,
    lane: str,
    usd_per_image: Decimal | None,
    effective_from: dt.datetime | None,
    now: dt.datetime | None = None,
    exclude_pk: int | None = None,
    kind: str = PriceKind.IMAGE,
) -> dict[str, list[str]]:
    """What is wrong with a new (or still scheduled) price entry, by field: the one
    validation of the prices page and the admin. Empty when it may be saved."""
    now = now or timezone.now()
    start = effective_from or now
    errors: dict[str, list[str]] = {}

    def error(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    # The upscale's entry is priced like a model: the CPU work of a final made without one.
    known = [entry.key for entry in catalog.all_models()] + [UPSCALE_PRICE_KEY]
    if not model_key:
        error("model_key", "Name the model.")
    elif model_key not in known:
        error(
            "model_key",
            f"{model_key[:64]!r} is not a model in the catalogue: use one of {', '.join(known)}.",
        )
    if kind not in PriceKind.values:
        error("kind", "Choose a rendered image or an input image.")
    elif kind == PriceKind.INPUT_IMAGE:
        if size:
            error("size", "An input image has one price whatever the size: leave size empty.")
    elif size not in PRICE_SIZES:
        error("size", f"Unknown size {size[:8]!r}: use one of {', '.join(PRICE_SIZES)}.")
    if lane not in Lane.values:
        error("lane", f"Unknown lane {lane[:8]!r}: use {' or '.join(Lane.values)}.")
    if usd_per_image is not None and usd_per_image < 0:
        error("usd_per_image", "A price cannot be negative.")
    if start < now - _NOW_TOLERANCE:
        error(
            "effective_from",
            "A price cannot start in the past: charges already made keep the price they "
            "used. Choose now or a later time.",
        )
    elif start > now + MAX_SCHEDULE_AHEAD:
        error(
            "effective_from",
            "Schedule a price at most two years ahead "
            f"(until {now + MAX_SCHEDULE_AHEAD:%Y-%m-%d}).",
        )
    if not errors:
        clash = PriceEntry.objects.filter(
            model_key=model_key, size=size, lane=lane, effective_from=start
        )
        if exclude_pk is not None:
            clash = clash.exclude(pk=exclude_pk)
        if clash.exists():
            error(
                "effective_from",
                f"{model_key} {size} {lane} already has a price starting at that time.",
            )
    return errors


def price_entry_create(
    *,
    model_key: str,
    size: str,
    lane: str,
    usd_per_image: Decimal,
    user: User,
    effective_from: dt.datetime | None = None,
    note: str = "",
    kind: str = PriceKind.IMAGE,
) -> PriceEntry:
    """Add a price from `effective_from` (default now; a future time schedules a change).
    Starts in the past are refused: charges already made used the price then in force,
    and the list must keep saying so."""
    now = timezone.now()
    start = effective_from or now
    model_key = model_key.strip()
    kind = kind or PriceKind.IMAGE
    if kind == PriceKind.INPUT_IMAGE:
        size = ""  # one figure per input image, whatever the size of the render
    errors = price_entry_errors(
        model_key=model_key,
        size=size,
        lane=lane,
        usd_per_image=usd_per_image,
        effective_from=start,
        now=now,
        kind=kind,
    )
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            return PriceEntry.objects.create(
                model_key=model_key,
                size=size,
                kind=kind,
                lane=lane,
                usd_per_image=usd_per_image,
                effective_from=start,
                note=note.strip(),
                created_by=user,
            )
    except IntegrityError as exc:  # the same start added at the same moment by someone else
        raise ValidationError(
            {"effective_from": ["That model, size and lane already has a price starting then."]}
        ) from exc


def price_entry_delete(*, entry_id: int, user: User) -> PriceEntry:
    """Remove a scheduled price before it starts. Entries in force or superseded stay:
    they are the record of what charges used."""
    with transaction.atomic():
        entry = PriceEntry.objects.select_for_update().filter(pk=entry_id).first()
        if entry is None:
            raise ValidationError("That price entry does not exist.")
        if entry.effective_from <= timezone.now():
            raise ValidationError(
                "This price is already in force (or was): it stays in the list as the record "
                "of what charges used. Add a new entry to change the price."
            )
        entry.delete()
    return entry


# --- what a final costs by escalation strategy (generations.strategies) -------------------


def input_image_price(
    *, model_key: str, lane: str = Lane.STANDARD, at: dt.datetime | None = None
) -> PriceEntry | None:
    """The price of one input image sent to `model_key` (kind input_image, no size)."""
    return (
        PriceEntry.objects.filter(
            model_key=model_key,
            kind=PriceKind.INPUT_IMAGE,
            lane=lane,
            effective_from__lte=at or timezone.now(),
        )
        .order_by("-effective_from")
        .first()
    )


@dataclass(frozen=True)
class FinalPrice:
    """A final's price by strategy: the rendered image (an upscale's own entry for the
    upscale) plus each input image it sends. None where the list has no price."""

    strategy: Strategy
    image: Decimal | None
    input_images: int = 0
    input_unit: Decimal | None = None

    @property
    def inputs(self) -> Decimal:
        return (self.input_unit or Decimal(0)) * self.input_images

    @property
    def total(self) -> Decimal | None:
        return None if self.image is None else self.image + self.inputs


def final_inputs(*, model_key: str, strategy: str, references: int = 0) -> int:
    """How many input images a final sends: the approved preview (from the preview) and
    the submission's references, at most what the model takes (the preview first)."""
    chosen = Strategy(strategy)
    if chosen == Strategy.UPSCALE:
        return 0
    wanted = references + (1 if chosen == Strategy.FROM_PREVIEW else 0)
    try:
        limit = catalog.get_model(model_key).max_input_images
    except LookupError:
        limit = wanted
    return min(wanted, limit)


def final_price(
    *,
    model_key: str,
    size: str,
    strategy: str,
    at: dt.datetime | None = None,
    lane: str = Lane.STANDARD,
    references: int = 0,
) -> FinalPrice:
    """What one final of `model_key` at `size` costs made by `strategy` (already resolved
    for the model: generations.strategies.resolve), going by `lane` (the economy lane's
    entries: half the standard ones as published), with its submission's `references`.
    An upscale makes no model call: it has no lane but the standard one."""
    chosen = Strategy(strategy)
    if chosen == Strategy.UPSCALE:
        return FinalPrice(chosen, list_price(model_key=UPSCALE_PRICE_KEY, size=size, at=at))
    image = list_price(model_key=model_key, size=size, lane=lane, at=at)
    count = final_inputs(model_key=model_key, strategy=chosen, references=references)
    if not count:
        return FinalPrice(chosen, image)
    entry = input_image_price(model_key=model_key, lane=lane, at=at)
    return FinalPrice(
        chosen, image, input_images=count, input_unit=None if entry is None else entry.usd_per_image
    )


def input_image_prices(
    model_keys: set[str], *, lane: str = Lane.STANDARD, at: dt.datetime | None = None
) -> dict[str, Decimal]:
    """`input_image_price` for many models in one query; a model without one is absent."""
    if not model_keys:
        return {}
    rows = (
        PriceEntry.objects.filter(
            kind=PriceKind.INPUT_IMAGE,
            lane=lane,
            effective_from__lte=at or timezone.now(),
            model_key__in=model_keys,
        )
        .order_by("model_key", "-effective_from")
        .values_list("model_key", "usd_per_image")
    )
    found: dict[str, Decimal] = {}
    for model_key, usd in rows:
        found.setdefault(model_key, usd)
    return found


def final_price_from(
    *,
    model_key: str,
    size: str,
    strategy: str,
    images: dict[tuple[str, str], Decimal],
    inputs: dict[str, Decimal],
    references: int = 0,
) -> FinalPrice:
    """`final_price` from prices already read (`prices_in_force` with the upscale's key,
    `input_image_prices`): for pages that price many finals at once."""
    chosen = Strategy(strategy)
    if chosen == Strategy.UPSCALE:
        return FinalPrice(chosen, images.get((UPSCALE_PRICE_KEY, size)))
    image = images.get((model_key, size))
    count = final_inputs(model_key=model_key, strategy=chosen, references=references)
    if not count:
        return FinalPrice(chosen, image)
    return FinalPrice(chosen, image, input_images=count, input_unit=inputs.get(model_key))
