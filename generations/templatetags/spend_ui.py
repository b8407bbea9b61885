"""Formatting for the spend pages: money, shares. Nothing here decides anything."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import template

from generations.permissions import is_site_admin, may_see_admin_reports

register = template.Library()


@register.filter
def usd(value: Any, places: int = 2) -> str:
    """$1,234.50; a refund is −$0.13. Empty for no value."""
    if value is None or value == "":
        return "—"
    amount = Decimal(value).quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP)
    sign = "−" if amount < 0 else ""
    return f"{sign}${abs(amount):,.{int(places)}f}"


@register.filter
def percent(value: Any) -> str:
    if value is None:
        return "—"
    share = round(Decimal(value) * 100)
    return f"{'−' if share < 0 else ''}{abs(share)} %"  # the minus sign, as in usd


@register.simple_tag(takes_context=True)
def spend_access(context: template.Context) -> str:
    """'all' (staff: every report and the price list), 'projects' (a project admin: the
    reports of their projects) or '' — for the header's link."""
    user = getattr(context.get("request"), "user", None)
    if is_site_admin(user):
        return "all"
    return "projects" if may_see_admin_reports(user) else ""
