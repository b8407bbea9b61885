"""Signed webhooks through a real Celery worker process: a receiver on loopback hears
"preview ready" and "final delivered" for a generation rendered by the worker, each
delivery signed (checked here with an independent HMAC-SHA256); a 500 is retried after a
backoff by the worker's beat, with the same message id and a fresh signature."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from generations import services
from generations.models import Generation, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from generations.review.decisions import generation_approve
from generations.states import State
from generations.webhooks.signing import secret_new
from tests.e2e.conftest import wait_for
from tests.support.webhook_receiver import Answer, WebhookReceiver, verify

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.django_db(transaction=True)]

WORKER_ENV = {
    "STUDIO_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",  # the receiver is on loopback
    "STUDIO_WEBHOOK_RETRY_BASE_SECONDS": "2",
    "STUDIO_WEBHOOK_TIMEOUT_SECONDS": "5",
}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def state_of(generation: Generation) -> str:
    return Generation.objects.values_list("state", flat=True).get(pk=generation.pk)


def test_a_worker_delivers_signed_preview_ready_and_final_delivered_with_a_retry(
    celery_worker, settings, project, designer, reviewer, receiver
):
    settings.STUDIO_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    endpoint = WebhookEndpoint.objects.create(
        project=project,
        url=receiver.url,
        events=["preview.ready", "final.delivered"],
        secret=secret_new(),
        created_at=timezone.now(),
    )
    receiver.answer(Answer(500, b"not yet"))
    celery_worker.start(profile="fixed:latency=0.2,fail=0", extra_env=WORKER_ENV)

    submission = services.submission_create(
        project=project,
        user=designer,
        prompt="a paper boat on a flooded street, morning light",
        model_key="nano-banana-pro",
        aspect_ratio="16:9",
        preview_size="1K",
        variants=1,
    )
    generation = submission.generations.get()
    wait_for(lambda: state_of(generation) == State.IN_REVIEW, timeout=60, what="preview")
    # The first try gets a 500; the worker's beat sends it again once its wait is over.
    wait_for(lambda: len(receiver.received) >= 2, timeout=60, what="preview.ready retried")
    failed, ready = receiver.received[:2]
    assert failed.headers["webhook-id"] == ready.headers["webhook-id"]
    assert ready.at - failed.at >= 1.0  # base 2 s, half of it jittered
    for received in (failed, ready):
        body = verify(endpoint.secret, received.headers, received.body)
        assert body["type"] == "preview.ready"
        assert body["data"]["generation"]["id"] == generation.pk

    generation_approve(generation_id=generation.pk, user=reviewer)
    wait_for(lambda: state_of(generation) == State.DELIVERED, timeout=90, what="final")
    wait_for(lambda: len(receiver.received) >= 3, timeout=60, what="final.delivered")
    delivered = receiver.received[2]
    body = verify(endpoint.secret, delivered.headers, delivered.body)
    assert body["type"] == "final.delivered"
    assert body["data"]["generation"]["state"] == "delivered"
    assert body["data"]["fallback"] is False
    assert len(receiver.received) == 3  # nothing for the approval: not subscribed

    # The receiver has the body before the worker has written down the answer it got.
    wait_for(
        lambda: not WebhookDelivery.objects.filter(status="sending").exists(),
        timeout=30,
        what="delivery outcomes recorded",
    )
    rows = list(WebhookDelivery.objects.order_by("pk"))
    assert [(r.event, r.status, r.attempt_count) for r in rows] == [
        ("preview.ready", "succeeded", 2),
        ("final.delivered", "succeeded", 1),
    ]
    log = WebhookAttempt.objects.filter(delivery=rows[0]).order_by("number")
    assert [(a.status_code, a.ok) for a in log] == [(500, False), (200, True)]
    assert all(a.response_ms is not None and a.address == "127.0.0.1" for a in log)
