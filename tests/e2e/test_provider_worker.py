"""End to end with a hosted provider: a real Celery worker process renders through the
Gemini provider against the fake Gemini server on loopback, with the key only in its
environment."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from generations import services
from generations.models import Attempt, Generation, Image
from generations.states import State
from tests.e2e.conftest import wait_for
from tests.support.provider_server import (
    FakeProviderServer,
    gemini_daily_quota,
    gemini_ok,
    gemini_unavailable,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET = "AIzaSy-E2E-ONLY-3b8d-not-a-real-key"
KEY_ENV = "STUDIO_E2E_GEMINI_KEY"


@pytest.fixture
def provider_server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def hosted_worker(celery_worker, provider_server, settings, monkeypatch):
    """The worker, with nano-banana-pro pointed at the fake server and its key set."""
    override = {"base_url": provider_server.url, "api_key_env": KEY_ENV}
    settings.STUDIO_MODELS = {
        **settings.STUDIO_MODELS,
        "nano-banana-pro": {**settings.STUDIO_MODELS["nano-banana-pro"], **override},
    }
    monkeypatch.setenv(KEY_ENV, SECRET)
    celery_worker.start(
        extra_env={"STUDIO_MODELS": json.dumps({"nano-banana-pro": override}), KEY_ENV: SECRET}
    )
    return celery_worker


def _submit(project, designer) -> Generation:
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt="a paper boat on a flooded street, morning light",
        model_key="nano-banana-pro",
        aspect_ratio="16:9",
        preview_size="1K",
        variants=1,
    )
    return submission.generations.get()


def _state(generation: Generation) -> str:
    return Generation.objects.values_list("state", flat=True).get(pk=generation.pk)


def test_a_503_then_success_lands_in_review_through_a_real_worker(
    hosted_worker, provider_server, project, designer
):
    provider_server.script(gemini_unavailable(), gemini_ok())
    generation = _submit(project, designer)

    wait_for(lambda: _state(generation) == State.IN_REVIEW, timeout=60, what="preview")

    attempts = list(Attempt.objects.filter(generation=generation).order_by("number"))
    assert [(a.outcome, a.error_kind, a.provider) for a in attempts] == [
        ("failed", "overloaded", "gemini"),
        ("succeeded", "", "gemini"),
    ]
    assert attempts[1].provider_meta["responseId"] == "resp-fake-1"
    image = Image.objects.get(generation=generation)
    assert (image.width, image.height, image.note) == (1376, 768, "")
    assert [r.headers["x-goog-api-key"] for r in provider_server.requests] == [SECRET] * 2
    assert all(SECRET not in r.path + r.query for r in provider_server.requests)
    assert SECRET not in hosted_worker.logs()


def test_a_used_up_daily_quota_pauses_the_model_through_a_real_worker(
    hosted_worker, provider_server, project, designer
):
    provider_server.script(gemini_daily_quota())
    generation = _submit(project, designer)

    wait_for(
        lambda: Generation.objects.get(pk=generation.pk).waiting_reason.startswith("Paused"),
        timeout=60,
        what="the pause",
    )

    stored = Generation.objects.get(pk=generation.pk)
    assert stored.state == State.PREVIEW_QUEUED and stored.tries_used == 0
    assert "daily quota GenerateRequestsPerDayPerProjectPerModel" in stored.last_error
    attempt = Attempt.objects.get(generation=generation)
    assert (attempt.error_kind, attempt.retryable) == ("quota_exhausted", False)
    assert len(provider_server.requests) == 1
    assert SECRET not in hosted_worker.logs()
