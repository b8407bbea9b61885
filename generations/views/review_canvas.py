"""The review canvas: the review queue one item at a time, the picture as large as the
window allows, the other variants of its prompt as a strip, and the decision, comment,
pins and price beside it. Worked with the keyboard (static/js/review-canvas.js) or with
plain links and forms without it. It walks the same queue as the grid (views/review.py),
with the same filters, the batch one included."""

from __future__ import annotations

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
from generations.forms import BulkApproveForm, CommentForm, DecisionForm
from generations.review.canvas import ReviewCanvas, review_canvas
from generations.states import TransitionError
from generations.views.common import (
    comment_submit,
    flash_error,
    render_partials,
    safe_next,
)
from generations.views.review import _SUCCESS, _Chosen, _decide, _filters
from generations.views.types import HtmxHttpRequest

TEMPLATE = "generations/review_canvas.html"
CANVAS = "review-canvas"  # the id of the region J/K and decisions swap
STAGE = "canvas-stage"  # the picture and the strip, which look again while renditions come
_FILTERS = ("project", "designer", "batch")


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def review_canvas_page(request: HtmxHttpRequest) -> HttpResponse:
    params = request.GET
    found = _filters(request, params)
    canvas = _canvas(request, found, at=_id(params.get("at")), after=_id(params.get("after")))
    context = _context(request, found, canvas)
    if request.htmx and request.htmx.target == STAGE:
        return render(request, f"{TEMPLATE}#stage", context)
    if request.htmx and request.htmx.target == CANVAS:
        return render(request, f"{TEMPLATE}#canvas", context)
    return render(request, TEMPLATE, context)


@require_POST
def review_canvas_decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Approve, request changes or reject the item on the canvas, then show the next one
    waiting; a decision that needs a comment and has none keeps the item, with the error."""
    selectors.generation_card(user=request.user, pk=pk)  # 404 if not visible
    form = DecisionForm(request.POST)
    decision = comment = error = ""
    if not form.is_valid():
        error = "Choose approve, request changes or reject."
    else:
        decision, comment = form.cleaned_data["decision"], form.cleaned_data["comment"]
        try:
            _decide(request.user, pk, decision, comment, lane=form.cleaned_data["lane"])
        except ValidationError as invalid:
            error = " ".join(invalid.messages)
        except (TransitionError, PermissionDenied) as refused:
            flash_error(request, refused)
        else:
            messages.success(request, _SUCCESS[decision].format(pk=pk))
    params = _next_params(request)
    if not request.htmx:
        if error:
            messages.error(request, error)
            return redirect(_url(params, at=pk))
        return redirect(_url(params, after=pk))
    found = _filters(request, params)
    if error:
        canvas = _canvas(request, found, at=pk)
        extra = {"comment": comment, "error": error, "mode": decision}
    else:
        canvas = _canvas(request, found, after=pk)
        extra = {}
    return _answer(request, found, canvas, params, extra)


@require_POST
def review_canvas_comment(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A comment on the item on the canvas, pinned to a spot of its picture when one was
    clicked; the item stays in front, with the new pin."""
    selectors.generation_card(user=request.user, pk=pk)  # 404 if not visible
    form = comment_submit(request, pk, success=f"Comment added to #{pk}.")
    params = _next_params(request)
    if not request.htmx:
        for errors in form.errors.values():
            messages.error(request, " ".join(str(error) for error in errors))
        return redirect(_url(params, at=pk))
    found = _filters(request, params)
    canvas = _canvas(request, found, at=pk)
    return _answer(request, found, canvas, params, {"comment_form": form})


def _canvas(
    request: HtmxHttpRequest, found: _Chosen, *, at: int | None = None, after: int | None = None
) -> ReviewCanvas:
    return review_canvas(
        user=request.user,
        projects=found.chosen,
        designer_id=found.designer_id,
        batch_id=found.batch.pk if found.batch else None,
        at=at,
        after=after,
    )


def _answer(
    request: HtmxHttpRequest,
    found: _Chosen,
    canvas: ReviewCanvas,
    params: QueryDict,
    extra: dict[str, Any],
) -> HttpResponse:
    """The canvas region and the messages; the address bar follows the item shown."""
    context = {**_context(request, found, canvas, params=params), **extra}
    response = render_partials(request, TEMPLATE, ["canvas"], context)
    response["HX-Push-Url"] = _url(params, at=canvas.item.pk if canvas.item else None)
    return response


def _context(
    request: HtmxHttpRequest,
    found: _Chosen,
    canvas: ReviewCanvas,
    *,
    params: QueryDict | None = None,
) -> dict[str, Any]:
    query = _only_filters(request.GET if params is None else params)
    without_batch = query.copy()
    without_batch.pop("batch", None)
    item = canvas.item
    return {
        "projects": found.projects,
        "filter_form": found.form,
        "batch": found.batch,
        "canvas": canvas,
        "generation": item,
        "filter_query": query.urlencode(),
        "without_batch_query": without_batch.urlencode(),
        "here": _url(query),  # where forms come back to: the canvas with its filters
        "previous_url": _url(query, at=canvas.previous_id) if canvas.previous_id else "",
        "next_url": _url(query, at=canvas.next_id) if canvas.next_id else "",
        "comment_form": CommentForm(),
        "bulk_approve": BulkApproveForm(),
        "grid_url": f"{reverse('review')}?{query.urlencode()}" if query else reverse("review"),
    }


def _only_filters(params: QueryDict) -> QueryDict:
    query = QueryDict(mutable=True)
    for name in _FILTERS:
        value = params.get(name)
        if value:
            query[name] = str(value)
    return query


def _next_params(request: HtmxHttpRequest) -> QueryDict:
    """The filters of the canvas a form was posted from (its `next` URL)."""
    target = safe_next(request) or reverse("review_canvas")
    return _only_filters(QueryDict(urlsplit(target).query))


def _url(params: QueryDict, *, at: int | None = None, after: int | None = None) -> str:
    query = _only_filters(params)
    if at is not None:
        query["at"] = str(at)
    if after is not None:
        query["after"] = str(after)
    base = reverse("review_canvas")
    return f"{base}?{query.urlencode()}" if query else base


def _id(raw: str | None) -> int | None:
    """A positive id from the address bar, or None for anything else."""
    return int(raw) if raw and raw.isdecimal() and len(raw) < 12 else None
