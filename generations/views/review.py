"""The review queue: what waits for my decision, oldest first, grouped by prompt, worked
through with the keyboard (static/js/review.js) — or with plain forms without it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from generations import selectors
from generations.forms import BulkApproveForm, DecisionForm, ReviewFilterForm
from generations.models import Batch, Generation, Project
from generations.permissions import visible_generations
from generations.review.decisions import (
    generation_approve,
    generation_approve_many,
    generation_reject,
    generation_request_changes,
)
from generations.review.selectors import (
    generations_in_review,
    review_batch,
    review_item,
    review_projects,
    review_queue,
)
from generations.states import TransitionError
from generations.types import User
from generations.views.common import flash_error, page_with_actions, render_partials, safe_next
from generations.views.types import HtmxHttpRequest

TEMPLATE = "generations/review.html"
QUEUE = "review-queue"  # the id of the region the filters swap
_SUCCESS = {
    "approve": "Approved #{pk}: the final is queued.",
    "changes": "Changes requested on #{pk}. The designer sees your comment.",
    "reject": "Rejected #{pk}. The designer sees your comment.",
}


@page_with_actions
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def review_list(request: HtmxHttpRequest) -> HttpResponse:
    context = _queue_context(request, request.GET)
    if request.htmx and request.htmx.target == QUEUE:
        return render(request, f"{TEMPLATE}#queue", context)
    return render(request, TEMPLATE, context)


@require_POST
def review_decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Approve, request changes or reject one item. With htmx: the item as it is now (the
    decision, or the comment and the error), the queue's count and the messages."""
    selectors.generation_card(user=request.user, pk=pk)  # 404 if not visible
    form = DecisionForm(request.POST)
    decision = comment = error = ""
    if not form.is_valid():
        # Nothing is done; say what was wrong (a comment over the limit, no decision).
        error = " ".join(
            str(message) if field != "decision" else "Choose approve, request changes or reject."
            for field, texts in form.errors.items()
            for message in texts
        )
    else:
        decision, comment = form.cleaned_data["decision"], form.cleaned_data["comment"]
        try:
            _decide(
                request.user,
                pk,
                decision,
                comment,
                form.cleaned_data["strategy"],
                lane=form.cleaned_data["lane"],
            )
        except ValidationError as invalid:
            error = " ".join(invalid.messages)
        except (TransitionError, PermissionDenied) as refused:
            flash_error(request, refused)
        else:
            messages.success(request, _SUCCESS[decision].format(pk=pk))
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(safe_next(request) or reverse("review"))
    item = review_item(user=request.user, pk=pk)
    context = {
        "generation": item,
        "comment": comment if error else "",
        "error": error,
        "mode": decision if error else "",
        **_count_context(request),
    }
    return render_partials(request, TEMPLATE, ["item", "queue-count"], context)


@require_POST
def review_approve_selected(request: HtmxHttpRequest) -> HttpResponse:
    """Approve every selected item, each on its own; say which could not be."""
    # Ids as the database holds them (a 40-digit number overflows its integers).
    wanted = [
        int(raw)
        for raw in request.POST.getlist("ids")
        if raw.isascii() and raw.isdecimal() and len(raw) < 19
    ][:200]
    visible = set(
        visible_generations(request.user).filter(pk__in=wanted).values_list("pk", flat=True)
    )
    refused = {pk: f"No such generation #{pk}." for pk in wanted if pk not in visible}
    how = BulkApproveForm(request.POST)
    if how.is_valid():
        approved, not_approved = generation_approve_many(
            generation_ids=[pk for pk in wanted if pk in visible],
            user=request.user,
            strategy=how.cleaned_data["strategy"],
            lane=how.cleaned_data["lane"],
        )
        refused.update(not_approved)
    else:  # a tampered select: nothing approved, and say so
        approved = []
        messages.error(request, "Nothing approved: choose a listed final and lane.")
    if approved:
        count = len(approved)
        ids = ", ".join(f"#{generation.pk}" for generation in approved)
        messages.success(request, f"Approved {count} generation{'s' if count != 1 else ''}: {ids}.")
    for reason in refused.values():
        messages.error(request, reason)
    if not wanted:
        messages.info(request, "Select items first: X selects the current one.")
    if not request.htmx:
        return redirect(safe_next(request) or reverse("review"))
    items = [review_item(user=request.user, pk=pk) for pk in wanted if pk in visible]
    context = {"items": items, "bulk_approve": how, **_count_context(request)}
    return render_partials(request, TEMPLATE, ["bulk-bar", "oob-items", "queue-count"], context)


def _decide(
    user: User, pk: int, decision: str, comment: str, strategy: str = "", *, lane: str = ""
) -> Generation:
    if decision == "approve":
        return generation_approve(
            generation_id=pk, user=user, note=comment, strategy=strategy, lane=lane
        )
    if decision == "changes":
        return generation_request_changes(generation_id=pk, user=user, comment=comment)
    return generation_reject(generation_id=pk, user=user, comment=comment)


@dataclass(frozen=True)
class _Chosen:
    """What the filters select: my review projects, the chosen ones, the designer, the
    batch (a link from a batch page: its previews in row order)."""

    form: ReviewFilterForm
    projects: list[Project]
    chosen: list[Project]
    designer_id: int | None = None
    batch: Batch | None = None


def _filters(request: HtmxHttpRequest, params: QueryDict) -> _Chosen:
    projects = review_projects(user=request.user)
    people = selectors.people_in(projects=projects)
    form = ReviewFilterForm(params, projects=projects, people=people)
    chosen, designer_id, batch = projects, None, None
    if form.is_valid():
        slug, username = form.cleaned_data["project"], form.cleaned_data["designer"]
        if slug:
            chosen = [project for project in projects if project.slug == slug]
        if username:
            designer_id = next(p.pk for p in people if p.get_username() == username)
        if form.cleaned_data["batch"]:
            batch = review_batch(pk=form.cleaned_data["batch"], projects=chosen)
    return _Chosen(form, projects, chosen, designer_id, batch)


def _queue_context(request: HtmxHttpRequest, params: QueryDict) -> dict[str, Any]:
    found = _filters(request, params)
    queue = review_queue(
        user=request.user,
        projects=found.chosen,
        designer_id=found.designer_id,
        batch_id=found.batch.pk if found.batch else None,
        after=params.get("after"),
    )
    query = params.copy()
    query.pop("after", None)
    without_batch = query.copy()
    without_batch.pop("batch", None)
    return {
        "projects": found.projects,
        "filter_form": found.form,
        "queue": queue,
        "batch": found.batch,
        "filter_query": query.urlencode(),
        "without_batch_query": without_batch.urlencode(),
        "here": request.get_full_path(),
        "bulk_approve": BulkApproveForm(),
    }


def _count_context(request: HtmxHttpRequest) -> dict[str, Any]:
    """The queue's count after a decision, with the filters of the page it came from
    (its `next` URL)."""
    target = safe_next(request) or reverse("review")
    found = _filters(request, QueryDict(urlsplit(target).query))
    waiting = generations_in_review(user=request.user, projects=found.chosen)
    if found.designer_id is not None:
        waiting = waiting.filter(submission__created_by_id=found.designer_id)
    if found.batch is not None:
        waiting = waiting.filter(submission__batch=found.batch)
    return {"queue_count": waiting.count(), "oob": True, "here": target}
