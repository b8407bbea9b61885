"""A project's webhooks, for its admins: endpoints, their secret, the delivery log, replay."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from generations import selectors
from generations.forms import DeliveryFilterForm, WebhookEndpointForm
from generations.models import Project, WebhookEndpoint, WebhookEvent
from generations.permissions import Action, require_project_role
from generations.views.common import attach_errors, page_with_actions
from generations.views.types import HtmxHttpRequest
from generations.webhooks import endpoints

LIST_TEMPLATE = "generations/webhooks.html"
TEMPLATE = "generations/webhook.html"


def _project_for(request: HtmxHttpRequest, slug: str) -> Project:
    """404 for a project the user cannot see, 403 for one whose webhooks they may not
    manage."""
    project = selectors.project_get(user=request.user, slug=slug)
    require_project_role(request.user, Action.MANAGE_WEBHOOKS, project)
    return project


@require_GET
def webhooks_home(request: HtmxHttpRequest) -> HttpResponse:
    """Where a "webhook disabled" notification leads: the webhooks of my projects."""
    projects = endpoints.webhook_projects(user=request.user)
    if len(projects) == 1:
        return redirect("webhook_list", slug=projects[0].slug)
    rows = [
        (project, endpoints.endpoints_of(user=request.user, project=project))
        for project in projects
    ]
    return render(request, "generations/webhooks_home.html", {"rows": rows})


@page_with_actions
@require_http_methods(["GET", "POST"])
def webhook_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = _project_for(request, slug)
    if request.method == "POST":
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                endpoint = endpoints.endpoint_create(
                    project=project, user=request.user, **form.cleaned_data
                )
            except ValidationError as error:
                attach_errors(form, error)
            else:
                messages.success(
                    request, f"Registered {endpoint.url}. Its signing secret is on this page."
                )
                return redirect("webhook", slug=project.slug, pk=endpoint.pk)
    else:
        form = WebhookEndpointForm(initial={"events": list(WebhookEvent.values)})
    context = {
        "project": project,
        "form": form,
        "rows": endpoints.endpoints_of(user=request.user, project=project),
        "events": WebhookEvent.choices,
    }
    return render(request, LIST_TEMPLATE, context, status=400 if form.errors else 200)


@page_with_actions
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request", "HX-Target")
def webhook_page(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = _project_for(request, slug)
    endpoint = endpoints.endpoint_get(user=request.user, project=project, pk=pk)
    if request.method == "POST":
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                endpoints.endpoint_update(
                    endpoint_id=endpoint.pk, user=request.user, **form.cleaned_data
                )
            except ValidationError as error:
                attach_errors(form, error)
            else:
                messages.success(request, "Saved the endpoint.")
                return redirect("webhook", slug=project.slug, pk=endpoint.pk)
    else:
        form = WebhookEndpointForm(
            initial={
                "url": endpoint.url,
                "description": endpoint.description,
                "events": endpoint.events,
            }
        )
    context = _page_context(request, project, endpoint, form)
    if request.htmx and request.htmx.target == "delivery-log":
        return render(request, f"{TEMPLATE}#log", context)
    return render(request, TEMPLATE, context, status=400 if form.errors else 200)


def _page_context(
    request: HtmxHttpRequest, project: Project, endpoint: WebhookEndpoint, form: Any
) -> dict[str, Any]:
    filters = DeliveryFilterForm(request.GET)
    status = filters.cleaned_data["status"] if filters.is_valid() else ""
    query = request.GET.copy()
    query.pop("after", None)
    return {
        "project": project,
        "endpoint": endpoint,
        "form": form,
        "filters": filters,
        "filter_query": query.urlencode(),
        "log": endpoints.deliveries_page(
            endpoint=endpoint, status=status, after=request.GET.get("after")
        ),
    }


_ACTIONS = {
    "enable": "Enabled the endpoint: deliveries from now on are sent.",
    "disable": "Disabled the endpoint: nothing is sent to it until it is enabled.",
    "rotate": "New signing secret: attempts from now on are signed with it.",
    "test": "Sent a test event: it appears in the log below.",
    "delete": "Deleted the endpoint and its delivery log.",
}


@require_POST
def webhook_action(request: HtmxHttpRequest, slug: str, pk: int, action: str) -> HttpResponse:
    project = _project_for(request, slug)
    endpoint = endpoints.endpoint_get(user=request.user, project=project, pk=pk)
    if action not in _ACTIONS:
        raise Http404("No such action.")
    try:
        if action in ("enable", "disable"):
            endpoints.endpoint_set_enabled(
                endpoint_id=endpoint.pk, user=request.user, enabled=action == "enable"
            )
        elif action == "rotate":
            endpoints.endpoint_rotate_secret(endpoint_id=endpoint.pk, user=request.user)
        elif action == "test":
            endpoints.endpoint_send_test(endpoint_id=endpoint.pk, user=request.user)
        else:
            endpoints.endpoint_delete(endpoint_id=endpoint.pk, user=request.user)
            messages.success(request, _ACTIONS[action])
            return redirect("webhook_list", slug=project.slug)
    except ValidationError as invalid:
        messages.error(request, " ".join(invalid.messages))
    else:
        messages.success(request, _ACTIONS[action])
    return redirect("webhook", slug=project.slug, pk=endpoint.pk)


@require_POST
def webhook_replay(request: HtmxHttpRequest, slug: str, pk: int, delivery_id: int) -> HttpResponse:
    project = _project_for(request, slug)
    endpoint = endpoints.endpoint_get(user=request.user, project=project, pk=pk)
    try:
        replay = endpoints.delivery_replay(
            delivery_id=delivery_id, user=request.user, endpoint_id=endpoint.pk
        )
    except ValidationError as invalid:
        messages.error(request, " ".join(invalid.messages))
    else:
        messages.success(request, f"Replaying {replay.event} {replay.msg_id}.")
    return redirect("webhook", slug=project.slug, pk=endpoint.pk)
