"""What project admins do with webhooks: register and edit endpoints, turn them on and off,
rotate the secret, send a test event, read the delivery log and replay a delivery.
Every write checks MANAGE_WEBHOOKS (project admins)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from generations.models import (
    Membership,
    Project,
    Role,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from generations.paging import KeysetPage, keyset_page
from generations.permissions import Action, acting_role, require_project_role
from generations.types import User
from generations.webhooks import events, network
from generations.webhooks.signing import secret_new

Status = WebhookDelivery.Status
LOG_PER_PAGE = 50


def _check(*, url: str, events_: list[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    url = url.strip()
    if not url:
        errors["url"] = "Give the endpoint’s URL."
    elif len(url) > 500:
        errors["url"] = "Keep the URL under 500 characters."
    else:
        try:
            network.target(url)  # resolves the host now: refused addresses fail here
        except network.Refused as refused:
            errors["url"] = str(refused)
    unknown = set(events_) - set(WebhookEvent.values)
    if not events_:
        errors["events"] = "Pick at least one event."
    elif unknown:
        errors["events"] = f"Unknown events: {', '.join(sorted(unknown))}."
    return errors


def endpoint_create(
    *, project: Project, user: User, url: str, description: str, events: list[str]
) -> WebhookEndpoint:
    require_project_role(user, Action.MANAGE_WEBHOOKS, project)
    errors = _check(url=url, events_=events)
    if errors:
        raise ValidationError(errors)
    return WebhookEndpoint.objects.create(
        project=project,
        url=url.strip(),
        description=description.strip()[:200],
        events=[event for event in WebhookEvent.values if event in events],
        secret=secret_new(),
        created_by=user,
        created_at=timezone.now(),
    )


def endpoint_update(
    *, endpoint_id: int, user: User, url: str, description: str, events: list[str]
) -> WebhookEndpoint:
    endpoint = _load(endpoint_id, user)
    errors = _check(url=url, events_=events)
    if errors:
        raise ValidationError(errors)
    endpoint.url = url.strip()
    endpoint.description = description.strip()[:200]
    endpoint.events = [event for event in WebhookEvent.values if event in events]
    endpoint.save(update_fields=["url", "description", "events"])
    return endpoint


def endpoint_set_enabled(*, endpoint_id: int, user: User, enabled: bool) -> WebhookEndpoint:
    """Turn an endpoint on (its failure count starts afresh) or off (what waits for it
    is not sent)."""
    endpoint = _load(endpoint_id, user)
    now = timezone.now()
    with transaction.atomic():
        if enabled:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                enabled=True, disabled_at=None, disabled_reason="", failures_in_row=0
            )
        else:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                enabled=False,
                disabled_at=now,
                disabled_reason=f"Disabled by {user.get_username()}.",
            )
            WebhookDelivery.objects.filter(endpoint=endpoint, status=Status.PENDING).update(
                status=Status.FAILED,
                finished_at=now,
                next_attempt_at=None,
                last_error="Not sent: the endpoint was disabled.",
            )
    endpoint.refresh_from_db()
    return endpoint


def endpoint_rotate_secret(*, endpoint_id: int, user: User) -> WebhookEndpoint:
    """A new secret at once: attempts from now on are signed with it."""
    endpoint = _load(endpoint_id, user)
    endpoint.secret = secret_new()
    endpoint.save(update_fields=["secret"])
    return endpoint


def endpoint_delete(*, endpoint_id: int, user: User) -> None:
    _load(endpoint_id, user).delete()


def endpoint_send_test(*, endpoint_id: int, user: User) -> WebhookDelivery:
    endpoint = _load(endpoint_id, user)
    if not endpoint.enabled:
        raise ValidationError("Enable the endpoint first.")
    with transaction.atomic():
        return events.emit_test(endpoint=endpoint, user=user)


def delivery_replay(
    *, delivery_id: int, user: User, endpoint_id: int | None = None
) -> WebhookDelivery:
    """Send a finished delivery again: the same message (id and body), a new delivery in
    the log with a fresh round of attempts, each newly timestamped and signed."""
    original = (
        WebhookDelivery.objects.select_related("endpoint__project").filter(pk=delivery_id).first()
    )
    if original is None or not _may_manage(user, original.endpoint.project):
        raise Http404("No such delivery.")
    if endpoint_id is not None and original.endpoint_id != endpoint_id:
        raise Http404("No such delivery.")
    if not original.endpoint.enabled:
        raise ValidationError("The endpoint is disabled: enable it before replaying.")
    if original.status in (Status.PENDING, Status.SENDING):
        raise ValidationError("This delivery is still being sent; it cannot be replayed yet.")
    now = timezone.now()
    with transaction.atomic():
        replay = WebhookDelivery.objects.create(
            endpoint=original.endpoint,
            event=original.event,
            msg_id=original.msg_id,
            payload=original.payload,
            next_attempt_at=now,
            kicked_at=now,
            replay_of=original,
            created_at=now,
        )
        events.kick_on_commit([replay.pk])
    return replay


# --- reads ---------------------------------------------------------------------------------


def _may_manage(user: User, project: Project) -> bool:
    return acting_role(user, Action.MANAGE_WEBHOOKS, project=project) is not None


def _load(endpoint_id: int, user: User) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_related("project").filter(pk=endpoint_id).first()
    if endpoint is None or not _may_manage(user, endpoint.project):
        raise Http404("No such endpoint.")
    return endpoint


def endpoint_get(*, user: User, project: Project, pk: int) -> WebhookEndpoint:
    endpoint = _load(pk, user)
    if endpoint.project_id != project.pk:
        raise Http404("No such endpoint.")
    return endpoint


@dataclass(frozen=True)
class EndpointRow:
    endpoint: WebhookEndpoint
    delivered: int
    failed: int
    waiting: int


def endpoints_of(*, user: User, project: Project) -> list[EndpointRow]:
    """The project's endpoints with what their deliveries did, in one query."""
    require_project_role(user, Action.MANAGE_WEBHOOKS, project)
    rows = (
        WebhookEndpoint.objects.filter(project=project)
        .annotate(
            n_delivered=Count("deliveries", filter=Q(deliveries__status=Status.SUCCEEDED)),
            n_failed=Count("deliveries", filter=Q(deliveries__status=Status.FAILED)),
            n_waiting=Count(
                "deliveries", filter=Q(deliveries__status__in=[Status.PENDING, Status.SENDING])
            ),
        )
        .order_by("created_at", "pk")
    )
    return [EndpointRow(e, e.n_delivered, e.n_failed, e.n_waiting) for e in rows]


def deliveries_page(
    *, endpoint: WebhookEndpoint, status: str = "", after: str | None = None
) -> KeysetPage[WebhookDelivery]:
    """The endpoint's delivery log, newest first, with each delivery's attempts."""
    rows: QuerySet[WebhookDelivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    if status in Status.values:
        rows = rows.filter(status=status)
    page = keyset_page(rows, per_page=LOG_PER_PAGE, after=after)
    attempts: dict[int, list[WebhookAttempt]] = {}
    for attempt in WebhookAttempt.objects.filter(
        delivery_id__in=[d.pk for d in page.items]
    ).order_by("number"):
        attempts.setdefault(attempt.delivery_id, []).append(attempt)
    for delivery in page.items:
        delivery.attempt_log = attempts.get(delivery.pk, [])  # type: ignore[attr-defined]
    return page


def webhook_projects(*, user: User) -> list[Project]:
    """Projects whose webhooks the user manages (the header's "Webhooks" landing)."""
    if not getattr(user, "is_authenticated", False):
        return []
    projects = Project.objects.order_by("name")
    if user.is_superuser:
        return list(projects)
    admin_of = Membership.objects.filter(user=user, role=Role.ADMIN).values("project_id")
    return list(projects.filter(pk__in=admin_of))
