"""Batches: plan from a CSV or a prompt matrix, review the plan and its estimate, queue it,
then follow its progress and send its previews to review in order."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from generations import selectors
from generations.batches import planning
from generations.batches import selectors as batch_selectors
from generations.batches import services as batch_services
from generations.forms import BatchCsvForm, BatchMatrixForm, SubmissionForm
from generations.models import Batch, Project
from generations.permissions import Action, acting_role
from generations.spend import budgets
from generations.states import State
from generations.views.common import page_with_actions
from generations.views.types import HtmxHttpRequest

LIST_TEMPLATE = "generations/batches.html"
TEMPLATE = "generations/batch.html"


def _can_submit(request: HtmxHttpRequest, project: Project) -> bool:
    return acting_role(request.user, Action.SUBMIT, project=project) is not None


def _matrix_form(project: Project, data: Any = None) -> BatchMatrixForm:
    defaults = SubmissionForm.defaults(project)
    initial = {**defaults, "aspect_ratios": ["1:1"], "variants": 1}
    return BatchMatrixForm(data, initial=initial, project=project)


def _list_page(
    request: HtmxHttpRequest,
    project: Project,
    *,
    csv_form: BatchCsvForm | None = None,
    matrix_form: BatchMatrixForm | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    can_submit = _can_submit(request, project)
    context = {
        "project": project,
        "can_submit": can_submit,
        "can_manage": acting_role(request.user, Action.MANAGE_SETTINGS, project=project)
        is not None,
        "csv_form": (csv_form or BatchCsvForm()) if can_submit else None,
        "matrix_form": (matrix_form or _matrix_form(project)) if can_submit else None,
        "problems": problems or [],
        "batches": batch_selectors.batches_of(user=request.user, project=project),
        "max_rows": planning.max_rows(),
    }
    return render(request, LIST_TEMPLATE, context, status=status)


@page_with_actions
@require_GET
def batch_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_get(user=request.user, slug=slug)
    return _list_page(request, project)


@require_POST
def batch_plan_csv(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_get(user=request.user, slug=slug)
    if not _can_submit(request, project):
        raise PermissionDenied(f"You may not submit in {project.name}.")
    form = BatchCsvForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        too_large = planning.size_refusal(upload.size or 0)
        if too_large:
            return _list_page(request, project, csv_form=form, problems=[too_large], status=400)
        data = upload.read()
        try:
            batch = batch_services.batch_plan_csv(
                project=project, user=request.user, filename=upload.name or "", data=data
            )
        except ValidationError as invalid:
            return _list_page(
                request, project, csv_form=form, problems=invalid.messages, status=400
            )
        return redirect("batch", pk=batch.pk)
    return _list_page(request, project, csv_form=form, status=400)


@require_POST
def batch_plan_matrix(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_get(user=request.user, slug=slug)
    if not _can_submit(request, project):
        raise PermissionDenied(f"You may not submit in {project.name}.")
    form = _matrix_form(project, request.POST)
    if form.is_valid():
        try:
            batch = batch_services.batch_plan_matrix(
                project=project,
                user=request.user,
                template=form.cleaned_data["template"],
                lists=form.cleaned_data["lists"],
                aspect_ratios=form.cleaned_data["aspect_ratios"],
                model_key=form.cleaned_data["model_key"],
                preview_size=form.cleaned_data["preview_size"],
                variants=form.cleaned_data["variants"],
            )
        except ValidationError as invalid:
            return _list_page(
                request, project, matrix_form=form, problems=invalid.messages, status=400
            )
        return redirect("batch", pk=batch.pk)
    return _list_page(request, project, matrix_form=form, status=400)


@page_with_actions
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def batch_page(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    batch = batch_selectors.batch_get(user=request.user, pk=pk)
    if batch.is_draft:
        return _plan_page(request, batch)
    context = _progress_context(request, batch)
    if request.htmx and request.htmx.target == "batch-progress":
        return render(request, f"{TEMPLATE}#progress", context)
    if request.htmx and request.htmx.target == "batch-items":
        return render(request, f"{TEMPLATE}#items", context)
    return render(request, TEMPLATE, context)


def _plan_page(
    request: HtmxHttpRequest, batch: Batch, *, errors: list[str] | None = None, status: int = 200
) -> HttpResponse:
    draft = batch_selectors.batch_draft(batch=batch, user=request.user)
    context = {
        "batch": batch,
        "project": batch.project,
        "draft": draft,
        "errors": errors or [],
        "can_queue": not draft.refused and bool(draft.rows),
    }
    return render(request, TEMPLATE, context, status=status)


def _progress_context(request: HtmxHttpRequest, batch: Batch) -> dict[str, Any]:
    state = request.GET.get("state", "")
    state = state if state in State.values else ""
    return {
        "batch": batch,
        "project": batch.project,
        "progress": batch_selectors.batch_progress(batch=batch),
        "state": state,
        "page": batch_selectors.batch_generations(
            user=request.user, batch=batch, state=state, after=request.GET.get("after")
        ),
        "review_url": f"{reverse('review')}?batch={batch.pk}",
        "may_review": acting_role(request.user, Action.APPROVE, project=batch.project) is not None,
    }


@require_POST
def batch_queue(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    batch = batch_selectors.batch_get(user=request.user, pk=pk)
    try:
        queued = batch_services.batch_queue(batch_id=batch.pk, user=request.user)
    except ValidationError as invalid:
        return _refused(request, batch, invalid.messages)
    except budgets.BudgetExceeded as refused:
        return _refused(request, batch, [refused.message])
    count = queued.generation_count
    messages.success(
        request,
        f"Queued batch #{queued.pk}: {queued.row_count:,} rows, "
        f"{count:,} preview{'s' if count != 1 else ''}.",
    )
    return redirect("batch", pk=queued.pk)


def _refused(request: HtmxHttpRequest, batch: Batch, errors: list[str]) -> HttpResponse:
    batch.refresh_from_db()
    if not batch.is_draft:
        messages.info(request, " ".join(errors))
        return redirect("batch", pk=batch.pk)
    return _plan_page(request, batch, errors=errors, status=400)


@require_POST
def batch_discard(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    batch = batch_selectors.batch_get(user=request.user, pk=pk)
    slug = batch.project.slug
    try:
        batch_services.batch_discard(batch_id=batch.pk, user=request.user)
    except ValidationError as invalid:
        messages.error(request, " ".join(invalid.messages))
        return redirect("batch", pk=batch.pk)
    messages.success(request, "Discarded the plan; nothing was queued.")
    return redirect("batch_list", slug=slug)
