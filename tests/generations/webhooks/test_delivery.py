"""Events become delivery rows in the move's transaction, kicked on commit; a delivery is
signed (checked here with an independent HMAC), retried with backoff, given up, replayed;
an endpoint that keeps failing is disabled and its admins are told; the sweep re-kicks
lost messages and returns expired leases."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from generations import flow, services
from generations.models import (
    Budget,
    Notification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from generations.review.decisions import generation_approve, generation_reject
from generations.states import Actor, State
from generations.webhooks import delivery as deliveries
from generations.webhooks import endpoints
from tests.support.factories import GenerationFactory, SubmissionFactory
from tests.support.webhook_receiver import Answer, BadSignature, verify

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


def in_rendering(project, designer, **submission):
    sub = SubmissionFactory(project=project, created_by=designer, **submission)
    return GenerationFactory(submission=sub, variant=1, state=State.PREVIEW_RENDERING)


def to_review(generation):
    return flow.apply(generation, State.IN_REVIEW, actor=Actor.WORKER, reason="preview stored")


def due_now(row: WebhookDelivery) -> None:
    """Skip the backoff wait (what the clock would do)."""
    WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())


# --- events --------------------------------------------------------------------------------


def test_a_preview_ready_becomes_a_delivery_kicked_after_commit(
    project, designer, endpoint, kicked, django_capture_on_commit_callbacks
):
    generation = in_rendering(project, designer, prompt="a red kite", batch_row=None)
    submission = generation.submission
    # Previewed on a cheaper model for the final's (cross-model previews).
    submission.model_key, submission.final_model_key = "nano-banana-2", "nano-banana-pro"
    submission.save(update_fields=["model_key", "final_model_key"])
    with django_capture_on_commit_callbacks(execute=True):
        to_review(generation)
    row = WebhookDelivery.objects.get()
    assert kicked == [row.pk]
    assert (row.endpoint, row.event, row.status) == (endpoint, "preview.ready", Status.PENDING)
    assert row.msg_id.startswith("msg_")
    data = json.loads(row.payload)
    assert data["type"] == "preview.ready"
    assert data["data"]["generation"] == {
        "id": generation.pk,
        "variant": 1,
        "state": "in_review",
        "previous_state": "preview_rendering",
        "url": f"/g/{generation.pk}/",
        "final_lane": "standard",
        "not_before": None,
    }
    assert data["data"]["submission"]["model"] == "nano-banana-2"
    assert data["data"]["submission"]["final_model"] == "nano-banana-pro"
    assert data["data"]["submission"]["prompt"] == "a red kite"
    assert data["data"]["submission"]["designer"] == "dana"
    assert data["data"]["project"] == {"slug": "acme", "name": "Acme Launch"}
    assert data["data"]["actor"] == "worker"


def test_only_enabled_endpoints_that_chose_the_event_hear_of_it(
    project, designer, endpoint, receiver, kicked, settings
):
    settings.STUDIO_SITE_URL = "https://studio.example.com"
    WebhookEndpoint.objects.create(
        project=project,
        url=receiver.url,
        events=[WebhookEvent.DELIVERED],
        secret="whsec_" + "A" * 32,
        created_at=timezone.now(),
    )
    WebhookEndpoint.objects.create(
        project=project,
        url=receiver.url,
        events=list(WebhookEvent.values),
        secret="whsec_" + "A" * 32,
        enabled=False,
        created_at=timezone.now(),
    )
    generation = to_review(in_rendering(project, designer))
    (row,) = WebhookDelivery.objects.all()
    assert row.endpoint == endpoint
    assert f'"url":"https://studio.example.com/g/{generation.pk}/"' in row.payload


def test_moves_that_announce_nothing_cost_no_webhook_query(project, designer, endpoint, kicked):
    generation = GenerationFactory(
        submission=SubmissionFactory(project=project, created_by=designer),
        state=State.PREVIEW_QUEUED,
    )
    flow.apply(generation, State.PREVIEW_RENDERING, actor=Actor.WORKER)
    assert not WebhookDelivery.objects.exists()


def test_decisions_failures_and_deliveries_each_have_their_event(
    project, designer, reviewer, endpoint, kicked
):
    approved = to_review(in_rendering(project, designer))
    rejected = to_review(in_rendering(project, designer))
    generation_approve(generation_id=approved.pk, user=reviewer)
    generation_reject(generation_id=rejected.pk, user=reviewer, comment="too dark")
    approved.refresh_from_db()
    approved = flow.apply(approved, State.FINAL_RENDERING, actor=Actor.WORKER)
    flow.apply(approved, State.DELIVERED, actor=Actor.WORKER)
    failing = in_rendering(project, designer)
    flow.apply(failing, State.PREVIEW_FAILED, actor=Actor.WORKER, reason="content blocked")

    seen = [
        (row.event, json.loads(row.payload)["data"])
        for row in WebhookDelivery.objects.order_by("pk")
    ]
    events = [event for event, _ in seen]
    assert events == [
        "preview.ready",
        "preview.ready",
        "generation.decided",
        "generation.decided",
        "final.delivered",
        "generation.failed",
    ]
    assert (seen[2][1]["decision"], seen[2][1]["by"], seen[2][1]["automatic"]) == (
        "approved",
        "rui",
        False,
    )
    assert (seen[3][1]["decision"], seen[3][1]["reason"]) == ("rejected", "too dark")
    assert seen[4][1]["fallback"] is False
    assert (seen[5][1]["phase"], seen[5][1]["reason"]) == ("preview", "content blocked")


def test_a_move_that_rolls_back_announces_nothing(project, designer, endpoint, kicked):
    generation = in_rendering(project, designer)
    stale = type(generation).objects.get(pk=generation.pk)
    to_review(generation)
    WebhookDelivery.objects.all().delete()
    with pytest.raises(Exception, match="changed while you were acting"):
        to_review(stale)
    assert not WebhookDelivery.objects.exists()


def test_a_budget_crossing_its_threshold_is_announced(
    project, designer, project_admin, endpoint, kicked, price_list
):
    Budget.objects.create(project=project, amount_usd=Decimal("0.50"))
    services.submission_create(
        project=project,
        user=designer,
        prompt="a lighthouse",
        model_key="nano-banana-2",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=4,
    )
    assert not WebhookDelivery.objects.exists()  # 0.268 of 0.50: 53 %
    services.submission_create(
        project=project,
        user=designer,
        prompt="a lighthouse",
        model_key="nano-banana-2",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=3,
    )
    (row,) = WebhookDelivery.objects.filter(event="budget.threshold")
    budget = json.loads(row.payload)["data"]["budget"]
    assert budget["scope"] == "project" and budget["person"] is None
    assert (budget["used_usd"], budget["amount_usd"], budget["percent"]) == ("0.469", "0.50", 93)
    assert budget["threshold_pct"] == 80 and budget["period"] == "monthly"


# --- sending ---------------------------------------------------------------------------------


def _one(project, designer) -> WebhookDelivery:
    to_review(in_rendering(project, designer))
    return WebhookDelivery.objects.get()


def test_a_delivery_is_signed_per_standard_webhooks(project, designer, endpoint, receiver, kicked):
    row = _one(project, designer)
    before = int(time.time())
    assert deliveries.webhook_deliver(delivery_id=row.pk) == "delivered"

    (received,) = receiver.received
    data = verify(endpoint.secret, received.headers, received.body)  # an independent HMAC
    assert data["type"] == "preview.ready"
    assert received.body == row.payload.encode()
    assert received.headers["webhook-id"] == row.msg_id
    assert before <= int(received.headers["webhook-timestamp"]) <= int(time.time())
    assert received.headers["content-type"] == "application/json"
    with pytest.raises(BadSignature):
        verify("whsec_" + "B" * 32, received.headers, received.body)
    with pytest.raises(BadSignature):
        verify(endpoint.secret, received.headers, received.body + b" ")

    row.refresh_from_db()
    assert (row.status, row.attempt_count, row.last_status_code) == (Status.SUCCEEDED, 1, 200)
    assert row.last_response_ms is not None and row.finished_at is not None
    attempt = WebhookAttempt.objects.get(delivery=row)
    assert (attempt.number, attempt.ok, attempt.status_code, attempt.address) == (
        1,
        True,
        200,
        "127.0.0.1",
    )
    assert attempt.response_excerpt == "ok"
    # A second kick of the same message finds nothing to do.
    assert deliveries.webhook_deliver(delivery_id=row.pk) == "skipped"
    assert len(receiver.received) == 1


def test_500s_are_retried_with_growing_waits_then_succeed(
    project, designer, endpoint, receiver, kicked
):
    receiver.answer(Answer(500, b"boom"), Answer(503, b"busy"))
    row = _one(project, designer)

    start = timezone.now()
    assert deliveries.webhook_deliver(delivery_id=row.pk).startswith("retry in")
    row.refresh_from_db()
    assert row.status == Status.PENDING and row.last_error == "HTTP 500 Internal Server Error"
    first_wait = (row.next_attempt_at - start).total_seconds()
    assert 5 <= first_wait <= 10.5  # base 10 s, half of it jittered
    assert deliveries.webhook_deliver(delivery_id=row.pk) == "skipped"  # not due yet

    due_now(row)
    start = timezone.now()
    assert deliveries.webhook_deliver(delivery_id=row.pk).startswith("retry in")
    row.refresh_from_db()
    second_wait = (row.next_attempt_at - start).total_seconds()
    assert 10 <= second_wait <= 20.5  # doubled

    due_now(row)
    assert deliveries.webhook_deliver(delivery_id=row.pk) == "delivered"
    row.refresh_from_db()
    assert (row.status, row.attempt_count) == (Status.SUCCEEDED, 3)
    log = list(WebhookAttempt.objects.filter(delivery=row).values_list("number", "status_code"))
    assert log == [(1, 500), (2, 503), (3, 200)]
    assert WebhookAttempt.objects.filter(delivery=row).first().response_excerpt == "boom"
    # Every attempt: the same message id, its own timestamp, a valid signature.
    assert {r.headers["webhook-id"] for r in receiver.received} == {row.msg_id}
    for received in receiver.received:
        verify(endpoint.secret, received.headers, received.body)


def test_retry_after_is_honoured(project, designer, endpoint, receiver, kicked):
    receiver.answer(Answer(429, b"slow down", {"Retry-After": "120"}))
    row = _one(project, designer)
    start = timezone.now()
    deliveries.webhook_deliver(delivery_id=row.pk)
    row.refresh_from_db()
    assert (row.next_attempt_at - start).total_seconds() >= 119


def test_after_every_attempt_a_delivery_fails_and_counts_against_the_endpoint(
    project, designer, endpoint, receiver, kicked
):
    receiver.answer(*[Answer(500)] * 3)
    row = _one(project, designer)
    for _ in range(3):
        due_now(row)
        outcome = deliveries.webhook_deliver(delivery_id=row.pk)
    assert outcome == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempt_count, row.next_attempt_at) == (Status.FAILED, 3, None)
    endpoint.refresh_from_db()
    assert endpoint.failures_in_row == 1 and endpoint.enabled


def test_an_endpoint_failing_again_and_again_is_disabled_and_its_admins_told(
    project, designer, project_admin, endpoint, receiver, kicked, settings
):
    settings.STUDIO_WEBHOOK_MAX_ATTEMPTS = 1
    receiver.answer(*[Answer(500)] * 2)
    to_review(in_rendering(project, designer))
    to_review(in_rendering(project, designer))
    to_review(in_rendering(project, designer))  # waits behind the first two
    first, second, third = WebhookDelivery.objects.order_by("pk")

    assert deliveries.webhook_deliver(delivery_id=first.pk) == "failed"
    assert not Notification.objects.filter(kind="webhook_disabled").exists()
    assert deliveries.webhook_deliver(delivery_id=second.pk) == "failed"

    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_at is not None
    assert endpoint.disabled_reason == (
        "2 deliveries in a row failed (last: HTTP 500 Internal Server Error)"
    )
    (note,) = Notification.objects.filter(kind="webhook_disabled")
    assert note.recipient == project_admin  # not the designer
    assert f"Webhook endpoint {endpoint.url} of Acme Launch was disabled" in note.text
    third.refresh_from_db()
    assert (third.status, third.last_error) == (
        Status.FAILED,
        "Not sent: the endpoint was disabled.",
    )
    assert deliveries.webhook_deliver(delivery_id=third.pk) == "skipped"
    # A disabled endpoint hears of nothing new.
    to_review(in_rendering(project, designer))
    assert WebhookDelivery.objects.count() == 3
    assert len(receiver.received) == 2


def test_a_success_resets_the_endpoints_failure_count(
    project, designer, endpoint, receiver, kicked, settings
):
    settings.STUDIO_WEBHOOK_MAX_ATTEMPTS = 1
    receiver.answer(Answer(500))
    first, second = _one(project, designer), None
    deliveries.webhook_deliver(delivery_id=first.pk)
    to_review(in_rendering(project, designer))
    second = WebhookDelivery.objects.exclude(pk=first.pk).get()
    deliveries.webhook_deliver(delivery_id=second.pk)
    endpoint.refresh_from_db()
    assert endpoint.failures_in_row == 0 and endpoint.enabled


def test_replay_sends_the_same_message_again_newly_signed(
    project,
    designer,
    project_admin,
    endpoint,
    receiver,
    kicked,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.STUDIO_WEBHOOK_MAX_ATTEMPTS = 1
    receiver.answer(Answer(500))
    row = _one(project, designer)
    deliveries.webhook_deliver(delivery_id=row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        replay = endpoints.delivery_replay(delivery_id=row.pk, user=project_admin)
    assert (replay.msg_id, replay.payload, replay.replay_of) == (row.msg_id, row.payload, row)
    assert replay.status == Status.PENDING and kicked[-1] == replay.pk
    assert deliveries.webhook_deliver(delivery_id=replay.pk) == "delivered"
    first, again = receiver.received
    assert again.headers["webhook-id"] == first.headers["webhook-id"] == row.msg_id
    assert again.body == first.body
    verify(endpoint.secret, again.headers, again.body)
    row.refresh_from_db()
    assert row.status == Status.FAILED  # the log keeps what happened to the original


def test_replay_is_for_project_admins_and_enabled_endpoints(
    project, designer, project_admin, endpoint, kicked
):
    row = _one(project, designer)
    with pytest.raises(ValidationError, match="still being sent"):
        endpoints.delivery_replay(delivery_id=row.pk, user=project_admin)
    WebhookDelivery.objects.filter(pk=row.pk).update(status=Status.SUCCEEDED)
    with pytest.raises(Http404):
        endpoints.delivery_replay(delivery_id=row.pk, user=designer)
    endpoints.endpoint_set_enabled(endpoint_id=endpoint.pk, user=project_admin, enabled=False)
    with pytest.raises(ValidationError, match="enable it before replaying"):
        endpoints.delivery_replay(delivery_id=row.pk, user=project_admin)


# --- the sweep -------------------------------------------------------------------------------


def test_the_sweep_rekicks_lost_and_due_deliveries_once(
    project, designer, endpoint, kicked, settings
):
    settings.STUDIO_KICK_STALE_SECONDS = 60
    row = _one(project, designer)
    assert deliveries.webhooks_sweep().kicked == 0  # just kicked on creation
    WebhookDelivery.objects.filter(pk=row.pk).update(
        kicked_at=timezone.now() - dt.timedelta(minutes=5)
    )
    assert deliveries.webhooks_sweep().kicked == 1
    assert deliveries.webhooks_sweep().kicked == 0
    assert kicked == [row.pk]
    # A retry whose wait is over was never kicked (kicked_at is cleared on claim).
    WebhookDelivery.objects.filter(pk=row.pk).update(
        kicked_at=None, next_attempt_at=timezone.now() + dt.timedelta(seconds=30)
    )
    assert deliveries.webhooks_sweep().kicked == 0
    due_now(row)
    assert deliveries.webhooks_sweep().kicked == 1


def test_the_sweep_returns_a_lease_whose_worker_died(project, designer, endpoint, kicked):
    row = _one(project, designer)
    claimed = deliveries._claim(row.pk)
    assert claimed is not None
    WebhookDelivery.objects.filter(pk=row.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert deliveries.webhooks_sweep().reaped == 1
    row.refresh_from_db()
    assert row.status == Status.PENDING and row.attempt_count == 1
    assert row.next_attempt_at > timezone.now()
    (attempt,) = WebhookAttempt.objects.filter(delivery=row)
    assert attempt.error == "No outcome recorded: the worker was lost (lease expired)."
    # The lost worker's late answer changes nothing.
    _, token = claimed
    late = deliveries.Outcome(ok=True, status_code=200)
    assert deliveries._record(claimed[0], token, late) == "late"
    row.refresh_from_db()
    assert row.status == Status.PENDING
