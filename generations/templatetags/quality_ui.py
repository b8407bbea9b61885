"""Template helpers of the quality-drift report."""

from __future__ import annotations

from django import template

from generations.permissions import may_see_admin_reports

register = template.Library()


@register.simple_tag(takes_context=True)
def may_see_quality(context: template.Context) -> bool:
    """Whether the header links to the drift report (staff, superusers, project admins)."""
    request = context.get("request")
    return may_see_admin_reports(getattr(request, "user", None))
