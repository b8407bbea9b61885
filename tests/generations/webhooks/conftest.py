"""Webhook fixtures: a receiver on loopback (allowed by settings, as in every webhook test)
and an endpoint of the project that subscribes to every event."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from generations.models import WebhookEndpoint, WebhookEvent
from generations.webhooks import network
from generations.webhooks.signing import secret_new
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.STUDIO_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.STUDIO_WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.STUDIO_WEBHOOK_MAX_ATTEMPTS = 3
    settings.STUDIO_WEBHOOK_DISABLE_AFTER = 2
    settings.STUDIO_WEBHOOK_TIMEOUT_SECONDS = 5
    network._allowed.cache_clear()


@pytest.fixture
def kicked(monkeypatch) -> list[int]:
    sent: list[int] = []
    monkeypatch.setattr("generations.dispatch.kick_webhook", sent.append)
    monkeypatch.setattr("generations.dispatch.kick", lambda pk: None)
    return sent


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def endpoint(project, receiver) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        project=project,
        url=receiver.url,
        events=list(WebhookEvent.values),
        secret=secret_new(),
        created_at=timezone.now(),
    )
