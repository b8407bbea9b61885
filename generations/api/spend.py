"""Spend summaries, for those who may see the spend pages: site staff (every project)
and project admins (their projects). Anyone else: 403; another project: 404."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from ninja import Query, Router

from generations.api.auth import scoped, user_of
from generations.api.schemas import ErrorOut, SpendOut, SpendQuery
from generations.permissions import administered_projects, may_see_admin_reports
from generations.spend import reports
from generations.spend.forms import ReportFilterForm

router = Router(tags=["spend"])


@router.get(
    "/spend", response={200: SpendOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    url_name="spend_summary", **scoped("read"),
)  # fmt: skip
def spend_summary(request: HttpRequest, query: Query[SpendQuery]) -> dict[str, Any]:
    """Totals (real and simulated money, refunds, waste), net spend per bucket by model,
    and breakdowns by project, person, model, size and lane — the spend page's figures,
    over local days [date_from, date_to)."""
    # A parameter the document does not declare is refused, not silently ignored (the
    # document closes the query: schemathesis sends `?=` and expects a 4xx).
    unknown = sorted(set(request.GET) - set(SpendQuery.model_fields))
    if unknown:
        raise ValidationError({name or "(empty)": ["Unknown parameter."] for name in unknown})
    user = user_of(request)
    if not may_see_admin_reports(user):
        raise PermissionDenied("Spend summaries are for site staff and project admins.")
    data = {name: str(value) for name, value in query.dict(exclude_none=True).items()}
    form = ReportFilterForm(data, projects=administered_projects(user))
    if query.project and query.project not in form.projects:
        raise Http404("No such project.")
    if not form.is_valid():
        raise ValidationError({name: list(errors) for name, errors in form.errors.items()})
    filters = form.report_filter()
    report = reports.spend_report(user=user, filters=filters)
    return {
        "date_from": filters.date_from,
        "date_to": filters.date_to,
        "project": filters.project.slug if filters.project else None,
        "grain": filters.grain,
        "totals": report.totals,
        "series": [
            {"start": bar.start, "label": bar.label, "by_model": bar.by_model, "total": bar.total}
            for bar in report.series.bars
        ],
        "breakdowns": report.breakdowns,
    }
