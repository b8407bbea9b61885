"""How an amount of money is written, everywhere people read one: pages, flash messages,
refusals, notifications.

For people an amount is to the cent, rounded half up ($0.005 is $0.01), with thousands
separators and a real minus sign (U+2212): "$1,234.50", "−$0.67". Exact figures — the
four decimals the ledger and the price list store — only where exactness is the point:
the ledger and price list pages (`exact=True`); the CSV exports and the admin keep the
raw decimals. Nothing here decides anything about money.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Final

CENT: Final = Decimal("0.01")
EXACT: Final = Decimal("0.0001")  # the ledger's and the price list's decimal places
MINUS: Final = "\u2212"


def to_cents(amount: Decimal | int) -> Decimal:
    """The amount people are shown: to the cent, half up."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal | int | float, *, exact: bool = False) -> str:
    """0.134 -> "$0.13", 0.005 -> "$0.01", -0.668 -> "−$0.67", 1234.5 -> "$1,234.50";
    with exact=True, four decimals: 0.134 -> "$0.1340"."""
    if isinstance(amount, float):
        amount = Decimal(repr(amount))  # the float's shortest text, not its binary noise
    places = 4 if exact else 2
    value = Decimal(amount).quantize(EXACT if exact else CENT, rounding=ROUND_HALF_UP)
    sign = MINUS if value < 0 else ""  # -0.001 rounds to 0.00: no sign
    return f"{sign}${abs(value):,.{places}f}"
