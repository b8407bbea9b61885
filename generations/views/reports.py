"""Spend pages for admins: the spend report, savings, the ledger, CSV exports, and the
price list. Staff and superusers see every project; a project admin sees only the
projects they administer (another project answers 404); everyone else gets 403."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from generations import charts
from generations.permissions import administered_projects, is_site_admin, may_see_admin_reports
from generations.spend import pricing, reports
from generations.spend.forms import PriceEntryForm, ReportFilterForm
from generations.spend.money import money
from generations.spend.reports import ReportFilter
from generations.types import User
from generations.views.common import attach_errors, flash_error, page_with_actions
from generations.views.types import HtmxHttpRequest

LEDGER_PER_PAGE = 50
# Chart geometry (SVG user units); colours are the stacking order of the legend.
CHART = charts.Frame(760, 260, left=56, right=8, top=8, bottom=28)
PALETTE = ("#3b6fd8", "#f2a93b", "#2a9d78", "#c4466b", "#7a5cc4", "#5a8f29", "#888f9c")


def _filters(request: HtmxHttpRequest) -> tuple[ReportFilterForm, ReportFilter]:
    """The filter form and what it selects. 403 for someone with no report; 404 for a
    project they may not see (as if it did not exist); bad dates fall back to the default
    range with the form's errors shown."""
    if not may_see_admin_reports(request.user):
        raise PermissionDenied("Spend reports are for admins.")
    form = ReportFilterForm(request.GET, projects=administered_projects(request.user))
    slug = request.GET.get("project", "")
    if slug and slug not in form.projects:
        raise Http404("No such project.")
    if form.is_valid():
        return form, form.report_filter()
    return form, ReportFilter.default(project=form.projects.get(slug))


def _render(
    request: HtmxHttpRequest, template: str, context: dict[str, Any], form: ReportFilterForm
) -> HttpResponse:
    if request.htmx:
        template += "#report"
    status = 400 if form.errors else 200
    return render(request, template, {**context, "form": form}, status=status)


@require_GET
@vary_on_headers("HX-Request")
def spend_report(request: HtmxHttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    report = reports.spend_report(user=request.user, filters=filters)
    context = {
        "filters": filters,
        "query": _query(filters),
        "totals": report.totals,
        "chart": spend_chart(report.series),
        "breakdowns": [(label, report.breakdowns[by]) for by, label in reports.BREAKDOWNS.items()],
        "section": "spend",
    }
    return _render(request, "generations/reports/spend.html", context, form)


@require_GET
@vary_on_headers("HX-Request")
def savings_report(request: HtmxHttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    context = {
        "filters": filters,
        "query": _query(filters),
        "savings": reports.savings_report(user=request.user, filters=filters),
        "min_samples": reports.MIN_SAMPLES,
        "window_days": reports.HEALTH_WINDOW.days,
        "published": reports.PUBLISHED_SUCCESS,
        "section": "savings",
    }
    return _render(request, "generations/reports/savings.html", context, form)


@require_GET
@vary_on_headers("HX-Request")
def ledger_list(request: HtmxHttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    entries = reports.ledger_entries(user=request.user, filters=filters)
    context = {
        "filters": filters,
        "query": _query(filters),
        "page": Paginator(entries, LEDGER_PER_PAGE).get_page(request.GET.get("page")),
        "section": "ledger",
    }
    return _render(request, "generations/reports/ledger.html", context, form)


def _query(filters: ReportFilter) -> str:
    """The filters as a query string, for links between the pages and to the exports."""
    parts = [f"date_from={filters.date_from}", f"date_to={filters.date_to}"]
    if filters.project is not None:
        parts.append(f"project={filters.project.slug}")
    parts.append(f"grain={filters.grain}")
    return "&".join(parts)


# --- The chart -------------------------------------------------------------------------


def spend_chart(series: reports.SpendSeries) -> dict[str, Any]:
    """Stacked bars by model as SVG coordinates, so the template only draws."""
    colours = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(series.models)}
    top = charts.nice_ceiling(series.peak)
    labelled = set(charts.labelled(len(series.bars)))
    bars = []
    for index, bar in enumerate(series.bars):
        x, bar_w = CHART.band(index, len(series.bars))
        # Negative nets (a bucket of refunds) are listed in the tables, not drawn.
        drawn = [model for model in series.models if bar.by_model[model] > 0]
        stacked = CHART.stack(float(bar.by_model[model] / top) for model in drawn)
        segments = [
            {"model": m, "value": bar.by_model[m], "colour": colours[m], "y": y, "h": height}
            for m, (y, height) in zip(drawn, stacked, strict=True)
        ]
        bars.append(
            {
                "x": x,
                "w": bar_w,
                "label": bar.label,
                "total": bar.total,
                "segments": segments,
                "tick": index in labelled,
                "tick_x": x + bar_w / 2,
                "short": bar.label.removeprefix("week of ")[5:]
                if series.grain != "month"
                else bar.label,
            }
        )
    grid = [{"y": CHART.y_of(i / 4), "value": top * i / 4} for i in range(5)]
    return {
        "width": CHART.width,
        "height": CHART.height,
        "left": CHART.left,
        "right": CHART.plot_right,
        "baseline": CHART.baseline,
        "bars": bars,
        "grid": grid,
        "legend": [(m, colours[m]) for m in series.models],
        "grain": series.grain,
        "empty": not any(bar.total for bar in series.bars),
    }


# --- CSV -------------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write() hands the line back, for streaming csv rows."""

    def write(self, value: str) -> str:
        return value


_CSV_PLACES = Decimal("0.0001")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas (CSV injection): a text cell that starts like one
    gets a leading apostrophe. Numbers stay numbers (a refund is a negative amount)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    if value is None:
        return ""
    if isinstance(value, Decimal):
        # The same text on every database (SQLite sums decimals with float noise).
        return value.quantize(_CSV_PLACES)
    return value


def _csv_response(
    header: Iterable[str], rows: Iterable[Iterable[Any]], filename: str
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(list(header))
        for row in rows:
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


MEASURE_HEADER = [f"{name}_usd" if name != "images" else name for name in reports.MEASURE_NAMES]


@require_GET
def export_csv(request: HtmxHttpRequest, report: str) -> StreamingHttpResponse:
    _, filters = _filters(request)
    user, slug = request.user, filters.slug
    if report == "ledger":
        header = [name for _, name in reports.LEDGER_COLUMNS]
        return _csv_response(
            header, reports.ledger_rows(user=user, filters=filters), f"ledger_{slug}.csv"
        )
    if report == "spend":
        return _csv_response(
            ["section", "key", "model", *MEASURE_HEADER],
            _spend_rows(user, filters),
            f"spend_{slug}.csv",
        )
    if report == "savings":
        savings = reports.savings_report(user=user, filters=filters)
        return _csv_response(
            [
                "section", "key", "final_size", "previewed", "approved", "delivered",
                "actual_usd", "simulated_usd", "waste_usd", "final_price_usd",
                "success_rate", "success_rate_source", "billed_failure_share",
                "billed_calls_per_success", "direct_final_usd",
            ],
            _savings_rows(savings),
            f"savings_{slug}.csv",
        )  # fmt: skip
    raise Http404("No such export.")


def _spend_rows(user: User, filters: ReportFilter) -> Iterator[list[Any]]:
    report = reports.spend_report(user=user, filters=filters)
    yield ["total", "", "", *(report.totals[name] for name in reports.MEASURE_NAMES)]
    for bar in report.series.bars:
        for model, net in bar.by_model.items():
            yield [filters.grain, bar.start.isoformat(), model, "", "", "", "", net, "", ""]
    for by, rows in report.breakdowns.items():
        for row in rows:
            yield [by, row["key"], "", *(row[name] for name in reports.MEASURE_NAMES)]


def _savings_rows(savings: reports.Savings) -> Iterator[list[Any]]:
    for m in savings.models:
        success, billed = m.success, m.billed_failures
        yield [
            "model", m.model_key, m.final_size, m.previewed, m.approved, m.delivered,
            m.actual, m.simulated, m.waste, m.final_price,
            success.value if success else None,
            ("measured" if success.measured else "published") if success else None,
            billed.value if billed else None, m.attempts_per_success, m.direct,
        ]  # fmt: skip
    for p in savings.people:
        yield ["person", p.username, "", p.previewed, p.approved, p.delivered, p.spend, "",
               p.waste, "", "", "", "", "", ""]  # fmt: skip
    for path in savings.paths:
        yield [
            "path", f"{path.preview_model_key} {path.preview_size} → {path.model_key}",
            path.final_size, path.previewed, path.approved, path.delivered, path.actual,
            path.simulated, path.waste, path.final_price, "", "", "",
            path.attempts_per_success, path.direct,
        ]  # fmt: skip
    for lane in savings.lanes:
        # images, what was paid, and (last column) the same images at the standard price
        yield ["lane", lane.lane, "", lane.images, "", "", lane.paid, "", "", "", "", "", "",
               "", lane.at_standard]  # fmt: skip
    yield [
        "total", "", "", savings.previewed, savings.approved, savings.delivered,
        savings.actual, savings.simulated, savings.waste, "", "", "", "", "", savings.direct,
    ]  # fmt: skip


# --- The price list ----------------------------------------------------------------------


def _require_price_admin(request: HtmxHttpRequest) -> None:
    if not is_site_admin(request.user):
        raise PermissionDenied("Only site admins edit the price list.")


@page_with_actions
@require_http_methods(["GET", "POST"])
def price_list(request: HtmxHttpRequest) -> HttpResponse:
    _require_price_admin(request)
    form = PriceEntryForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            entry = pricing.price_entry_create(user=request.user, **form.cleaned_data)
        except ValidationError as error:
            attach_errors(form, error)
        else:
            when = timezone.localtime(entry.effective_from)
            verb = "will cost" if entry.effective_from > timezone.now() else "costs"
            price = money(entry.usd_per_image, exact=True)  # as the price list shows it
            messages.success(
                request,
                f"{entry.model_key} {entry.size} {entry.lane} {verb} {price} "
                f"per image from {when:%Y-%m-%d %H:%M}.",
            )
            return redirect("price_list")
    context = {
        "form": form,
        "rows": pricing.price_list(),
        "section": "prices",
    }
    return render(
        request, "generations/reports/prices.html", context, status=400 if form.errors else 200
    )


@require_POST
def price_entry_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    _require_price_admin(request)
    try:
        entry = pricing.price_entry_delete(entry_id=pk, user=request.user)
    except ValidationError as error:
        flash_error(request, error)
    else:
        messages.success(
            request,
            f"Removed the scheduled price of {entry.model_key} {entry.size} {entry.lane}.",
        )
    return redirect("price_list")
