"""What is announced to webhook endpoints, as delivery rows in the announcing transaction.

`emit_transition` is flow.apply's webhooks effect (after money and notifications, in the
move's transaction): a preview ready, a decision, a final delivered, a failure. Budgets
call `emit_budget_threshold` when a budget crosses its soft threshold. Each creates one
delivery row per enabled endpoint of the project that subscribed to the event, and kicks
them after commit: a move that rolls back announces nothing, and a kick that is lost is
sent again by the sweep (generations.webhooks.delivery.webhooks_sweep).

The body is Standard Webhooks' shape: {"type", "timestamp", "data"}.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from generations import dispatch
from generations.models import (
    TEST_EVENT,
    Generation,
    Project,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from generations.states import Actor, State
from generations.types import User

# The state a move reaches -> the event it announces (a decision only from review).
_EVENT_OF = {
    State.IN_REVIEW: WebhookEvent.PREVIEW_READY,
    State.FINAL_QUEUED: WebhookEvent.DECIDED,
    State.REJECTED: WebhookEvent.DECIDED,
    State.CHANGES_REQUESTED: WebhookEvent.DECIDED,
    State.DELIVERED: WebhookEvent.DELIVERED,
    State.DELIVERED_FALLBACK: WebhookEvent.DELIVERED,
    State.PREVIEW_FAILED: WebhookEvent.FAILED,
    State.FINAL_FAILED: WebhookEvent.FAILED,
}
_DECISION = {
    State.FINAL_QUEUED: "approved",
    State.REJECTED: "rejected",
    State.CHANGES_REQUESTED: "changes_requested",
}


def event_of(source: State, target: State) -> WebhookEvent | None:
    if target == State.FINAL_QUEUED and source != State.IN_REVIEW:
        return None  # a retry of the final, not a decision
    return _EVENT_OF.get(target)


def emit_transition(
    *,
    generation: Generation,
    source: State,
    target: State,
    actor: Actor,
    user: User | None,
    reason: str,
    endpoints_exist: bool | None = None,
) -> list[WebhookDelivery]:
    """The deliveries a state move calls for: none (and no query) for most moves.
    `endpoints_exist=False`: the mover read in this transaction that the project has no
    enabled endpoint (notifications.Audience), so none is looked for."""
    event = event_of(source, target)
    if event is None or endpoints_exist is False:
        return []
    endpoints = _subscribed(generation.project_id, event)
    if not endpoints:
        return []
    submission = generation.submission
    data: dict[str, Any] = {
        "project": _project(generation.project),
        "generation": {
            "id": generation.pk,
            "variant": generation.variant,
            "state": str(target),
            "previous_state": str(source),
            "url": absolute(reverse("generation", args=[generation.pk])),
            # How its final goes, once approved: the lane (standard / batch = economy) and
            # the off-peak wait, so a receiver knows when to expect the delivery.
            "final_lane": generation.final_lane,
            "not_before": generation.not_before.isoformat() if generation.not_before else None,
        },
        "submission": {
            "id": submission.pk,
            "prompt": submission.prompt,
            "model": submission.model_key,
            # The model of the 4K final: another than the preview's with cross-model previews.
            "final_model": submission.final_model,
            "aspect_ratio": submission.aspect_ratio,
            "preview_size": submission.preview_size,
            "final_size": submission.final_size,
            "variants": submission.variants,
            "designer": submission.created_by.get_username(),
            "batch": submission.batch_id,
            "batch_row": submission.batch_row,
        },
        "actor": str(actor),
        "by": user.get_username() if user is not None else None,
        "reason": reason,
    }
    if event == WebhookEvent.DECIDED:
        data["decision"] = _DECISION[target]
        data["automatic"] = actor == Actor.SYSTEM
    elif event == WebhookEvent.DELIVERED:
        data["fallback"] = target == State.DELIVERED_FALLBACK
    elif event == WebhookEvent.FAILED:
        data["phase"] = "preview" if target == State.PREVIEW_FAILED else "final"
    return _emit(endpoints, event, data)


def emit_budget_threshold(
    *,
    project: Project,
    person: str | None,
    period: str,
    period_start: dt.date,
    amount_usd: Decimal,
    used_usd: Decimal,
    percent: int,
    threshold_pct: int,
) -> list[WebhookDelivery]:
    endpoints = _subscribed(project.pk, WebhookEvent.BUDGET_THRESHOLD)
    if not endpoints:
        return []
    data = {
        "project": _project(project),
        "budget": {
            "scope": "person" if person else "project",
            "person": person,
            "period": period,
            "period_start": period_start.isoformat(),
            "amount_usd": _usd(amount_usd),
            "used_usd": _usd(used_usd),
            "percent": percent,
            "threshold_pct": threshold_pct,
        },
    }
    return _emit(endpoints, WebhookEvent.BUDGET_THRESHOLD, data)


def emit_test(*, endpoint: WebhookEndpoint, user: User) -> WebhookDelivery:
    """An admin's "Send a test event" to one endpoint, whatever it subscribed to."""
    data = {
        "project": _project(endpoint.project),
        "by": user.get_username(),
        "message": "A test event from Proof Studio.",
    }
    return _emit([endpoint], TEST_EVENT, data)[0]


def absolute(path: str) -> str:
    """A link for a payload: absolute when settings.STUDIO_SITE_URL is set."""
    return f"{settings.STUDIO_SITE_URL}{path}" if settings.STUDIO_SITE_URL else path


def _usd(value: Decimal) -> str:
    """Dollars as a string: cents when exact, else every digit ("0.50", "0.469")."""
    cents = value.quantize(Decimal("0.01"))
    return f"{cents:.2f}" if cents == value else f"{value.normalize():f}"


def _project(project: Project) -> dict[str, Any]:
    return {"slug": project.slug, "name": project.name}


def _subscribed(project_id: int, event: str) -> list[WebhookEndpoint]:
    endpoints = WebhookEndpoint.objects.filter(project_id=project_id, enabled=True).order_by("pk")
    return [endpoint for endpoint in endpoints if event in endpoint.events]


def new_msg_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _emit(
    endpoints: Sequence[WebhookEndpoint], event: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """One delivery per endpoint, all with the same message id (one event), kicked on
    commit."""
    now = timezone.now()
    body = json.dumps(
        {"type": event, "timestamp": now.isoformat(), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    msg_id = new_msg_id()
    rows = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            event=event,
            msg_id=msg_id,
            payload=body,
            next_attempt_at=now,
            kicked_at=now,
            created_at=now,
        )
        for endpoint in endpoints
    )
    kick_on_commit([row.pk for row in rows])
    return rows


def kick_on_commit(ids: list[int]) -> None:
    def send() -> None:
        for pk in ids:
            dispatch.kick_webhook(pk)

    transaction.on_commit(send)
