"""Formatting for the spend pages: shares (money is money_ui's). Nothing here decides anything."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from generations.permissions import is_site_admin, may_see_admin_reports
from generations.spend.money import MINUS

register = template.Library()


@register.filter
def percent(value: Any) -> str:
    if value is None:
        return "—"
    share = round(Decimal(value) * 100)
    return f"{MINUS if share < 0 else ''}{abs(share)} %"


@register.simple_tag(takes_context=True)
def spend_access(context: template.Context) -> str:
    """'all' (staff: every report and the price list), 'projects' (a project admin: the
    reports of their projects) or '' — for the header's link."""
    user = getattr(context.get("request"), "user", None)
    if is_site_admin(user):
        return "all"
    return "projects" if may_see_admin_reports(user) else ""
