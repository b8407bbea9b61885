"""The review list: what waits for my approval, oldest first."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from generations import selectors
from generations.forms import ApproveForm, RejectForm
from generations.views.types import HtmxHttpRequest

PER_PAGE = 24


@require_GET
def review_list(request: HtmxHttpRequest) -> HttpResponse:
    projects = selectors.review_projects(user=request.user)
    queryset = selectors.generations_in_review(user=request.user, projects=projects)
    page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "generations/review.html",
        {
            "projects": projects,
            "page": page,
            "approve_form": ApproveForm(),
            "reject_form": RejectForm(),
        },
    )
