"""Money as people read it, for every template: one filter over spend.money. Nothing
here decides anything."""

from __future__ import annotations

from decimal import Decimal

from django import template

from generations.spend.money import money as money_text

register = template.Library()


@register.filter
def money(value: Decimal | int | float | None, unknown: str = "—") -> str:
    """{{ amount|money }}: "$1,234.50", "−$0.67" (to the cent, half up). No amount is
    "—", or what the template says it means: {{ price|money:"price unknown" }}."""
    if value is None or value == "":
        return unknown
    return money_text(value)


@register.filter
def money_exact(value: Decimal | int | float | None) -> str:
    """{{ amount|money_exact }}: the four decimals stored, for the ledger and the price list."""
    if value is None or value == "":
        return "—"
    return money_text(value, exact=True)
