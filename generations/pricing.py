"""What an image costs, for display (compare's metadata table).

PLACEHOLDER until the spend issue lands its price list (admin-edited, with effective
dates) and ledger: DESIGN.md's published prices, USD per image, paid tier, as a table
here. Prices are data, never constants — the spend work should replace `list_price` (same
keyword-only signature, `None` for "unknown") with a lookup of the price in force at a
given time, and `image_cost` with the charge the ledger recorded. Compare and the review
queue (`selectors.approval_price`) read them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

# (model key, size) -> USD per image. Models rendered by our own local provider cost 0.
_PUBLISHED: Final[dict[tuple[str, str], Decimal]] = {
    ("nano-banana-pro", "1K"): Decimal("0.134"),
    ("nano-banana-pro", "2K"): Decimal("0.134"),
    ("nano-banana-pro", "4K"): Decimal("0.24"),
    ("nano-banana-2", "512"): Decimal("0.045"),
    ("nano-banana-2", "1K"): Decimal("0.067"),
    ("nano-banana-2", "2K"): Decimal("0.101"),
    ("nano-banana-2", "4K"): Decimal("0.151"),
    ("nano-banana", "1K"): Decimal("0.039"),
}
_FREE_MODELS: Final = frozenset({"local"})
LOCAL_PROVIDER: Final = "local"


def list_price(*, model_key: str, size: str) -> Decimal | None:
    """The published price of one image of `model_key` at `size`, or None if unknown."""
    if model_key in _FREE_MODELS:
        return Decimal(0)
    return _PUBLISHED.get((model_key, size))


def image_cost(*, model_key: str, size: str, provider: str) -> Decimal | None:
    """What rendering one image cost: nothing when our local provider rendered it (a
    hosted model without a key is simulated locally), else its list price."""
    if provider == LOCAL_PROVIDER:
        return Decimal(0)
    return list_price(model_key=model_key, size=size)
