"""My notifications: the list, the header's unread count, opening and marking read."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from generations import notifications
from generations.models import Notification
from generations.views.common import page_with_actions, safe_next
from generations.views.types import HtmxHttpRequest

TEMPLATE = "generations/notifications.html"


@page_with_actions
@require_GET
def notification_list(request: HtmxHttpRequest) -> HttpResponse:
    items = notifications.notifications_recent(user=request.user)
    return render(request, TEMPLATE, {"items": items})


@require_GET
def notification_badge(request: HtmxHttpRequest) -> HttpResponse:
    """The header's bell, polled by htmx so the count follows events."""
    return render(request, "base.html#bell", {})


@require_POST
def notification_open(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Mark it read and go to what it is about."""
    try:
        notification = notifications.notification_open(user=request.user, pk=pk)
    except Notification.DoesNotExist as exc:
        raise Http404("No such notification.") from exc
    if notification.kind == Notification.Kind.QUALITY_DRIFT:
        return redirect("quality_drift")
    if notification.kind == Notification.Kind.MODEL_PAUSED:
        return redirect("provider_health")
    if notification.kind == Notification.Kind.WEBHOOK_DISABLED:
        return redirect("webhooks_home")
    if notification.generation_id is None:
        return redirect("notifications")
    return redirect("generation", pk=notification.generation_id)


@require_POST
def notification_read_all(request: HtmxHttpRequest) -> HttpResponse:
    notifications.notification_mark_read(user=request.user)
    if request.htmx:
        items = notifications.notifications_recent(user=request.user)
        response = render(request, f"{TEMPLATE}#list", {"items": items})
        response.write(render(request, "base.html#bell", {"oob": True}).content)
        return response
    return redirect(safe_next(request) or reverse("notifications"))
