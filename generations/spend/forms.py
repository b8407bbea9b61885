"""Forms of the spend pages: the report filters and a new price-list entry."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.db.models import QuerySet

from generations import catalog
from generations.models import Lane, PriceKind, Project
from generations.spend import reports
from generations.spend.pricing import PRICE_SIZES
from generations.spend.reports import GRAINS, ReportFilter
from generations.strategies import UPSCALE_PRICE_KEY
from generations.widgets import BoundedDateField, DateInput

MAX_RANGE_DAYS = 3 * 366


class ReportFilterForm(forms.Form):
    """GET filters: local days [from, to), a project (or all the user may see), and the
    chart's bucket. Empty fields mean the last 30 days, every project, by day."""

    date_from = BoundedDateField(label="From", required=False, widget=DateInput)
    date_to = BoundedDateField(label="To (not included)", required=False, widget=DateInput)
    project = forms.ChoiceField(label="Project", required=False)
    grain = forms.ChoiceField(label="By", required=False, choices=[(g, g.title()) for g in GRAINS])

    def __init__(self, *args: Any, projects: QuerySet[Project], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.projects = {p.slug: p for p in projects.order_by("name")}
        project_field = cast(forms.ChoiceField, self.fields["project"])
        project_field.choices = [("", "All projects")] + [
            (slug, p.name) for slug, p in self.projects.items()
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: dt.date | None = data.get("date_from")
        end: dt.date | None = data.get("date_to")
        default = ReportFilter.default()
        if start is None:
            end = end or default.date_to
            start = end - dt.timedelta(days=reports.DEFAULT_DAYS)
        elif end is None:
            end = max(default.date_to, start + dt.timedelta(days=1))
        if end <= start:
            self.add_error("date_to", "The end must be after the start.")
        elif (end - start).days > MAX_RANGE_DAYS:
            self.add_error("date_to", "Choose at most three years at a time.")
        data["date_from"], data["date_to"] = start, end
        if not self.errors:
            # Show the range in effect in the date fields, not empty boxes.
            shown = {"date_from": start.isoformat(), "date_to": end.isoformat()}
            self.data = {**self.data, **shown}
        return data

    def report_filter(self) -> ReportFilter:
        data = self.cleaned_data
        return ReportFilter(
            date_from=data["date_from"],
            date_to=data["date_to"],
            project=self.projects.get(data.get("project") or ""),
            grain=data.get("grain") or "day",
        )


def _model_keys() -> list[tuple[str, str]]:
    models = [(m.key, f"{m.label} · {m.key}") for m in catalog.all_models()]
    return [
        *models,
        (UPSCALE_PRICE_KEY, f"Upscale of a preview (no model call) · {UPSCALE_PRICE_KEY}"),
    ]


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class PriceEntryForm(forms.Form):
    # An input image (the approved preview sent with a final) has one price per model,
    # whatever the size: its size is ignored.
    kind = forms.ChoiceField(
        label="Priced", choices=PriceKind.choices, initial=PriceKind.IMAGE, required=False
    )
    # A select of the catalogue's models (read at every use: they follow
    # settings.STUDIO_MODELS) and the upscale; a price for anything else is refused.
    model_key = forms.ChoiceField(
        label="Model",
        choices=_model_keys,
        error_messages={
            "invalid_choice": "That is not a model in the catalogue: choose one from the list."
        },
    )
    size = forms.CharField(
        label="Size", max_length=4, widget=forms.Select(choices=[(s, s) for s in PRICE_SIZES])
    )
    lane = forms.CharField(label="Lane", max_length=8, widget=forms.Select(choices=Lane.choices))
    usd_per_image = forms.DecimalField(
        label="USD per image",
        max_digits=10,
        decimal_places=4,
        widget=forms.NumberInput(attrs={"step": "0.0001"}),
    )
    effective_from = forms.DateTimeField(
        label="In force from",
        required=False,
        widget=DateTimeInput(),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text="Local time; empty = now. A later time schedules the change.",
    )
    note = forms.CharField(label="Note", max_length=200, required=False)
