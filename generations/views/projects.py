"""A project's settings and members, edited in the site by its admins."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from generations import projects, selectors
from generations.forms import BudgetForm, MemberForm, ProjectSettingsForm
from generations.models import Project, Role
from generations.permissions import Action, acting_role, require_project_role
from generations.spend import budgets
from generations.spend.money import money
from generations.views.common import attach_errors, page_with_actions
from generations.views.types import HtmxHttpRequest


def _project_for(request: HtmxHttpRequest, slug: str, action: Action) -> Project:
    """404 for a project the user cannot see, 403 for one they may not manage."""
    project = selectors.project_get(user=request.user, slug=slug)
    require_project_role(request.user, action, project)
    return project


@page_with_actions
@require_http_methods(["GET", "POST"])
def project_settings(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = _project_for(request, slug, Action.MANAGE_SETTINGS)
    form = ProjectSettingsForm(
        request.POST if request.method == "POST" else None,
        initial=ProjectSettingsForm.initial_for(project),
    )
    if request.method == "POST" and form.is_valid():
        try:
            projects.project_settings_update(
                project=project, user=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            attach_errors(form, error)
        else:
            messages.success(request, f"Saved the settings of {project.name}.")
            return redirect("project_settings", slug=project.slug)
    status = 400 if form.errors else 200
    return _settings_page(request, project, form=form, status=status)


@require_POST
def project_budget_set(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Set, change or remove the project's budget or one member's."""
    project = _project_for(request, slug, Action.MANAGE_SETTINGS)
    budget_form = BudgetForm(request.POST)
    if budget_form.is_valid():
        try:
            budget = budgets.budget_set(
                project=project, user=request.user, **budget_form.cleaned_data
            )
        except ValidationError as error:
            attach_errors(budget_form, error)
        else:
            who = budget_form.cleaned_data["username"].strip() or project.name
            if budget is None:
                messages.success(request, f"Removed the budget of {who}.")
            else:
                period = budget.get_period_display().lower()
                messages.success(request, f"Budget of {who}: {money(budget.amount_usd)} {period}.")
            return redirect("project_settings", slug=project.slug)
    return _settings_page(request, project, budget_form=budget_form, status=400)


def _settings_page(
    request: HtmxHttpRequest,
    project: Project,
    *,
    form: ProjectSettingsForm | None = None,
    budget_form: BudgetForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "project": project,
        "form": form or ProjectSettingsForm(initial=ProjectSettingsForm.initial_for(project)),
        "budget_form": budget_form or BudgetForm(),
        "budgets": budgets.project_budgets(project=project),
        "section": "settings",
    }
    return render(request, "generations/project_settings.html", context, status=status)


@page_with_actions
@require_http_methods(["GET", "POST"])
def project_members(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Everyone's roles, and one form per person (plus one to add someone): set exactly
    the ticked roles; none removes them from the project."""
    project = _project_for(request, slug, Action.MANAGE_MEMBERS)
    add_form = MemberForm(prefix="add")
    if request.method == "POST":
        adding = "add-username" in request.POST
        form = MemberForm(request.POST, prefix="add" if adding else None)
        if form.is_valid():
            username, roles = form.cleaned_data["username"], set(form.cleaned_data["roles"])
            try:
                kept = projects.membership_set_roles(
                    project=project, user=request.user, username=username, roles=roles
                )
            except ValidationError as error:
                attach_errors(form, error)
            else:
                messages.success(request, _summary(username, kept, project))
                if acting_role(request.user, Action.MANAGE_MEMBERS, project=project) is None:
                    # They took away their own admin role: off to what they may still see.
                    if acting_role(request.user, Action.VIEW, project=project) is None:
                        return redirect("home")
                    return redirect("project", slug=project.slug)
                return redirect("project_members", slug=project.slug)
        if adding:
            add_form = form
        else:
            errors = [str(message) for field in form.errors.values() for message in field]
            messages.error(request, " ".join(errors))
    context = {
        "project": project,
        "members": projects.project_members(project=project),
        "roles": Role.choices,
        "add_form": add_form,
        "section": "members",
    }
    status = 400 if add_form.errors else 200
    return render(request, "generations/project_members.html", context, status=status)


def _summary(username: str, roles: frozenset[Role], project: Project) -> str:
    if not roles:
        return f"Removed {username} from {project.name}."
    names = ", ".join(role.label.lower() for role in Role if role in roles)
    return f"{username} is now {names} in {project.name}."
