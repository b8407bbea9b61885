"""Home (my projects) and a project's studio: the submit form and the recent cards."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from generations import references, selectors, services
from generations.forms import SubmissionForm
from generations.models import Project
from generations.permissions import Action, acting_role
from generations.spend import budgets
from generations.views.common import attach_errors, page_with_actions, render_partials
from generations.views.types import HtmxHttpRequest

TEMPLATE = "generations/project.html"


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    projects = list(selectors.projects_visible(user=request.user))
    if len(projects) == 1:
        return redirect("project", slug=projects[0].slug)
    return render(request, "generations/home.html", {"projects": projects})


@page_with_actions
@require_GET
def project_studio(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_get(user=request.user, slug=slug)
    form = None
    if _can_submit(request, project):
        # Where the person left it: the options of their last submission here.
        last = selectors.submission_settings_last(user=request.user, project=project)
        form = SubmissionForm(initial={**SubmissionForm.defaults(project), **last}, project=project)
    return render(request, TEMPLATE, _context(request, project, form))


@require_POST
def submission_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_get(user=request.user, slug=slug)
    if not _can_submit(request, project):
        raise PermissionDenied(f"You may not submit in {project.name}.")
    form = SubmissionForm(request.POST, project=project)
    if form.is_valid():
        fields = dict(form.cleaned_data)
        tokens = fields.pop("references")
        try:
            # Files sent with the form (no script) become uploads first: each one whole and
            # valid, kept in the form if the submission is refused.
            uploaded = references.upload_create_from_files(
                project=project, user=request.user, files=request.FILES.getlist("reference_files")
            )
            tokens = [*tokens, *(upload.token for upload in uploaded)]
            form.data = _with_tokens(form.data, tokens)
            pictures = references.pictures_resolve(
                user=request.user, project=project, tokens=tokens
            )
            submission = services.submission_create(
                project=project, user=request.user, pictures=pictures, **fields
            )
        except ValidationError as error:
            attach_errors(form, error)
        except budgets.BudgetExceeded as refused:
            form.add_error(None, refused.message)  # why, what is left, whom to ask
        else:
            count = submission.variants
            messages.success(
                request,
                f"Queued {count} preview{'s' if count != 1 else ''} at {submission.preview_size}.",
            )
            if not request.htmx:
                return redirect("project", slug=project.slug)
            # A fresh form that keeps the settings, plus the new cards at the top of the list.
            kept = {k: v for k, v in form.cleaned_data.items() if k not in ("prompt", "references")}
            context = {
                "project": project,
                "form": SubmissionForm(initial=kept, project=project),
                "estimate": _estimate(request, project, kept),
                "pickable": references.pickable(user=request.user, project=project),
                "new_generations": selectors.generations_of_submission(
                    user=request.user, submission=submission
                ),
            }
            return render_partials(request, TEMPLATE, ["submit-form", "new-cards"], context)
    if request.htmx:
        # 200, so htmx swaps the form with its errors in place (it ignores 4xx bodies).
        context = {
            "project": project,
            "form": form,
            "estimate": _estimate(request, project, form),
            **_pictures(request, project, form),
        }
        return render_partials(request, TEMPLATE, ["submit-form"], context)
    return render(request, TEMPLATE, _context(request, project, form), status=400)


@require_GET
def submission_estimate(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The cost of what the submit form is about to ask, as its options change."""
    project = selectors.project_get(user=request.user, slug=slug)
    if not _can_submit(request, project):
        raise PermissionDenied(f"You may not submit in {project.name}.")
    form = SubmissionForm(request.GET, project=project)
    return render(
        request,
        f"{TEMPLATE}#estimate",
        {"project": project, "estimate": _estimate(request, project, form)},
    )


@require_POST
def upload_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Pictures dropped, pasted or chosen on the submit form (static/js/references.js):
    stored as the project's uploads; answers their chips, or the refusal (400)."""
    project = selectors.project_get(user=request.user, slug=slug)
    try:
        uploaded = references.upload_create_from_files(
            project=project, user=request.user, files=request.FILES.getlist("reference_files")
        )
    except ValidationError as error:
        return HttpResponse(" ".join(error.messages), status=400, content_type="text/plain")
    return render(request, "generations/_reference_chips.html", {"chosen": uploaded})


def _tokens(form: SubmissionForm | None) -> list[str]:
    """The picture tokens a bound form was sent (chips and picks)."""
    getlist = getattr(form.data, "getlist", None) if form is not None else None
    return [str(token) for token in getlist("references")] if getlist else []


def _with_tokens(data: Any, tokens: list[str]) -> Any:
    data = data.copy()
    data.setlist("references", list(dict.fromkeys(tokens)))
    return data


def _pictures(
    request: HtmxHttpRequest, project: Project, form: SubmissionForm | None
) -> dict[str, Any]:
    """The submit form's pictures: those it holds (chips) and those it offers to pick."""
    tokens = _tokens(form)
    return {
        "chosen": references.chosen(user=request.user, project=project, tokens=tokens),
        "pickable": references.pickable(user=request.user, project=project)
        if form is not None
        else [],
    }


def _estimate(
    request: HtmxHttpRequest, project: Project, form: SubmissionForm | dict[str, Any]
) -> budgets.Estimate | None:
    """From the form's choices (what it was given, else its defaults); None when they do
    not name a model, a size and a number of variants."""
    if isinstance(form, SubmissionForm):
        form.is_valid()
        values = {**SubmissionForm.defaults(project), **form.initial}
        # What was sent, except what the form refused (an unknown model, a NUL byte…).
        values.update({key: form.data.get(key) for key in form.data if key not in form.errors})
        values.update({k: v for k, v in getattr(form, "cleaned_data", {}).items() if v})
    else:
        values = form
    try:
        variants = int(values.get("variants") or 0)
    except (TypeError, ValueError):
        return None
    if not (values.get("model_key") and values.get("preview_size") and 1 <= variants <= 4):
        return None
    tokens = _tokens(form) if isinstance(form, SubmissionForm) else []
    return budgets.submission_estimate(
        project=project,
        user=request.user,
        model_key=str(values["model_key"]),
        preview_size=str(values["preview_size"]),
        variants=variants,
        final_model_key=str(values.get("final_model_key") or ""),
        references=len(set(tokens)),
    )


def _can_submit(request: HtmxHttpRequest, project: Project) -> bool:
    return acting_role(request.user, Action.SUBMIT, project=project) is not None


def _context(
    request: HtmxHttpRequest, project: Project, form: SubmissionForm | None
) -> dict[str, Any]:
    return {
        "project": project,
        "form": form,
        "estimate": _estimate(request, project, form) if form is not None else None,
        "can_manage": acting_role(request.user, Action.MANAGE_SETTINGS, project=project)
        is not None,
        "page": selectors.generations_recent(
            user=request.user, project=project, page=request.GET.get("page")
        ),
        **_pictures(request, project, form),
    }
