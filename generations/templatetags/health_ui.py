"""Provider health figures in templates: the page's units, and the one line the approval
screens show (generations.health.approval_figure), asked once per model × size a request."""

from __future__ import annotations

from django import template

from generations import health, offpeak

register = template.Library()


@register.filter
def health_percent(share: float | None) -> str:
    return health.percent(share)


@register.filter
def health_duration(ms: float | None) -> str:
    return health.duration(ms)


@register.simple_tag(takes_context=True)
def approval_health(context: template.Context, model_key: str, size: str) -> str:
    """“Nano Banana Pro 4K: 48 % first-try success this week, p50 6 min (120 tries).”"""
    request = context.get("request")
    memo: dict[tuple[str, str], str] = {}
    if request is not None:
        memo = request.__dict__.setdefault("_studio_approval_health", {})
    if (model_key, size) not in memo:
        memo[(model_key, size)] = health.approval_figure(model_key=model_key, size=size).text
    return memo[(model_key, size)]


@register.simple_tag(takes_context=True)
def offpeak_for(context: template.Context, model_key: str, size: str) -> offpeak.Plan | None:
    """When an off-peak approval of this model × size would run (None: no good hours known)."""
    request = context.get("request")
    memo: dict[tuple[str, str], offpeak.Plan | None] = {}
    if request is not None:
        memo = request.__dict__.setdefault("_studio_offpeak", {})
    if (model_key, size) not in memo:
        memo[(model_key, size)] = offpeak.offpeak_plan(model_key=model_key, size=size)
    return memo[(model_key, size)]
