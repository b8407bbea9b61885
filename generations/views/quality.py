"""The quality-drift report for admins: weekly medians per model × size as charts, drops
flagged against the trailing baseline, and the same series as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from generations.forms import DriftFilterForm
from generations.models import Project
from generations.permissions import administered_projects, may_see_admin_reports
from generations.quality import drift, fidelity
from generations.views.types import HtmxHttpRequest

TEMPLATE = "generations/quality_drift.html"


@dataclass
class SeriesView:
    series: drift.Series
    chart: drift.Chart
    flagged: list[tuple[drift.Week, str]]  # (week, "−31 % vs baseline 0.42 → 0.29 (n=12)")
    rows: list[tuple[drift.Week, drift.Point, str]]


def _report_for(request: HtmxHttpRequest) -> tuple[DriftFilterForm, drift.DriftReport | None]:
    """404 unless staff or a project admin (the page's existence is not revealed)."""
    if not may_see_admin_reports(request.user):
        raise Http404("No such page.")
    projects = list(administered_projects(request.user).order_by("name"))
    form = DriftFilterForm(request.GET, projects=projects)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    chosen = [p for p in projects if p.slug == data["project"]] if data["project"] else None
    report = drift.drift_report(
        user=request.user, start=data["date_from"], end=data["date_to"], projects=chosen
    )
    return form, report


@require_GET
@vary_on_headers("HX-Request")
def quality_drift(request: HtmxHttpRequest) -> HttpResponse:
    form, report = _report_for(request)
    chosen = form.cleaned_data.get("metric") if report is not None else ""
    metric = drift.metric_get(chosen or drift.METRIC_KEYS[0])
    query = request.GET.copy()
    metric_links = []
    for item in drift.METRICS:
        query["metric"] = item.key
        metric_links.append((item, f"?{query.urlencode()}", item.key == metric.key))
    thresholds = report.thresholds if report else drift.DriftThresholds.from_settings()
    context: dict[str, Any] = {
        "form": form,
        "thresholds": thresholds,
        "drop_percent": round(thresholds.drop * 100),
        "report": report,
        "metric": metric,
        "metric_links": metric_links,
        "csv_query": request.GET.urlencode(),
        "series_views": [_series_view(s, metric) for s in report.series] if report else [],
    }
    if report is not None:
        context["flag_count"] = sum(len(view.flagged) for view in context["series_views"])
        context["fidelity_rows"] = fidelity.fidelity_by_strategy(
            user=request.user,
            start=report.start,
            end=report.end,
            projects=_chosen_projects(request, form),
        )
    status = 200 if report is not None else 400
    if request.htmx:
        return render(request, f"{TEMPLATE}#report", context, status=status)
    return render(request, TEMPLATE, context, status=status)


def _chosen_projects(request: HtmxHttpRequest, form: DriftFilterForm) -> list[Project] | None:
    slug = form.cleaned_data.get("project")
    if not slug:
        return None
    return list(administered_projects(request.user).filter(slug=slug))


def _series_view(series: drift.Series, metric: drift.Metric) -> SeriesView:
    return SeriesView(
        series=series,
        chart=drift.chart_of(series, metric),
        flagged=[
            (week, drift.describe_point(week.points[metric.key], metric))
            for week in series.flagged(metric.key)
        ],
        rows=[
            (
                week,
                week.points[metric.key],
                drift.describe_point(week.points[metric.key], metric),
            )
            for week in series.weeks
            if week.points[metric.key].n
        ],
    )


class _Echo:
    """csv.writer's file: hands each formatted line back instead of keeping it."""

    def write(self, value: str) -> str:
        return value


@require_GET
def quality_drift_csv(request: HtmxHttpRequest) -> HttpResponseBase:
    form, report = _report_for(request)
    if report is None:
        errors = " ".join(str(e) for field in form.errors.values() for e in field)
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        for row in drift.report_rows(report):
            yield writer.writerow(row)

    stamp = timezone.localdate().isoformat()
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="quality-drift-{stamp}.csv"'
    return response
