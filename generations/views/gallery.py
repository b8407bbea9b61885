"""The gallery: every generation I may see, newest first, filtered and searched, in
keyset pages that cost the same few queries at any depth."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from generations import selectors
from generations.forms import GalleryFilterForm
from generations.views.common import page_with_actions
from generations.views.types import HtmxHttpRequest

TEMPLATE = "generations/gallery.html"
RESULTS = "gallery-results"  # the id of the region the filters swap


@page_with_actions
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def gallery(request: HtmxHttpRequest) -> HttpResponse:
    projects = list(selectors.projects_visible(user=request.user))
    people = selectors.people_in(projects=projects)
    form = GalleryFilterForm(request.GET, projects=projects, people=people)
    filters = selectors.GalleryFilters()
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.GalleryFilters(
            project=next((p for p in projects if p.slug == data["project"]), None),
            state=data["state"],
            model_key=data["model"],
            designer_id=next((p.pk for p in people if p.get_username() == data["designer"]), None),
            date_from=data["date_from"],
            date_to=data["date_to"],
            q=data["q"].strip(),
        )
    page = selectors.gallery_page(
        user=request.user,
        filters=filters,
        after=request.GET.get("after"),
        before=request.GET.get("before"),
    )
    query = request.GET.copy()
    for key in ("after", "before"):
        query.pop(key, None)
    context = {
        "filter_form": form,
        "filters": filters,
        "page": page,
        "filter_query": query.urlencode(),
    }
    if request.htmx and request.htmx.target == RESULTS:
        return render(request, f"{TEMPLATE}#results", context)
    return render(request, TEMPLATE, context)
