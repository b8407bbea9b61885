"""The provider health page: success, 429 share and latency by model × size × hour of day,
for the people who may see the admin reports (site staff and project admins)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from generations import health
from generations.permissions import may_see_admin_reports
from generations.views.types import HtmxHttpRequest


@require_GET
@vary_on_headers("HX-Request")
def provider_health(request: HtmxHttpRequest) -> HttpResponse:
    if not may_see_admin_reports(request.user):
        raise Http404("No such page.")  # the page's existence is not revealed
    report = health.provider_health(window=request.GET.get("window", health.DEFAULT_WINDOW))
    template = "generations/provider_health.html"
    if request.htmx:
        template += "#report"
    return render(
        request,
        template,
        {
            "report": report,
            "windows": [(key, label) for key, (label, _) in health.WINDOWS.items()],
            "rows": [(series, health.hour_chart(series)) for series in report.series],
            "min_tries": health.MIN_TRIES,
            "zone": timezone.get_default_timezone_name(),
            "cache_minutes": round(settings.STUDIO_HEALTH_CACHE_SECONDS / 60),
        },
    )
