"""The fault model for a provider that refuses calls (issue 15, item 5), through the worker
and the fake Gemini server: a 429 never uses up a final's tries — the job waits in the
model's shared cooldown — and a used-up daily quota pauses the model for every worker
until the quota resets, with one notice to the site admins, after which the jobs resume."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from generations.models import Attempt, ModelPause, Notification, RateLimitState
from generations.rendering import limits
from generations.rendering.sweeper import generations_sweep
from generations.review.decisions import generation_approve
from generations.states import State
from tests.support.factories import UserFactory
from tests.support.hosted import (
    KEY_ENV,
    MODEL_KEY,
    SECRET,
    configure,
    make_due,
    reload,
    render,
    submit,
)
from tests.support.provider_server import (
    gemini_daily_quota,
    gemini_ok,
    gemini_rate_limited,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _hosted(settings, provider_server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    monkeypatch.setattr("generations.rendering.sweeper.kick", lambda generation_id: None)
    configure(settings, provider_server.url)
    # The shared limits on, in the database: the cooldown every worker honours.
    settings.STUDIO_LIMITS_BACKEND = "database"
    settings.STUDIO_MODEL_LIMITS = {MODEL_KEY: {"concurrency": 4, "rpm": 100}}


def _cooldown_over() -> None:
    RateLimitState.objects.filter(model_key=MODEL_KEY).update(
        cooldown_until=timezone.now() - dt.timedelta(seconds=1)
    )


def _seconds_until_due(generation) -> float:
    return (reload(generation).next_attempt_at - timezone.now()).total_seconds()


def test_429s_do_not_use_up_a_finals_tries_it_waits_in_the_shared_cooldown(
    provider_server, designer, reviewer, project
):
    # The policy allows a final 2 tries; Gemini answers 429 three times, then renders.
    provider_server.script(
        gemini_ok(),
        gemini_rate_limited("37s"),
        gemini_rate_limited("37s"),
        gemini_rate_limited("37s"),
        gemini_ok(),
    )
    generation = submit(designer, project)
    assert render(generation) == State.IN_REVIEW
    generation_approve(generation_id=generation.pk, user=reviewer)
    other = submit(designer, project)  # another job of the model, another worker

    for _ in range(3):
        before = timezone.now()
        assert render(generation) == State.FINAL_QUEUED
        waiting = reload(generation)
        assert waiting.tries_used == 0  # the 429 was given back
        assert waiting.waiting_reason == limits.WAITING_MESSAGES[limits.Reason.COOLDOWN]
        # Retry-After 37 s from the answer (the render's start bounds it from below).
        assert (waiting.next_attempt_at - before).total_seconds() >= 36
        assert _seconds_until_due(generation) <= 40
        # Every worker honours the cooldown: the other job makes no call and uses nothing.
        make_due(other)
        calls = len(provider_server.requests)
        assert render(other) == "skipped"
        assert len(provider_server.requests) == calls
        assert reload(other).attempt_count == 0
        _cooldown_over()
        make_due(generation)

    assert render(generation) == State.DELIVERED
    done = reload(generation)
    assert (done.tries_used, done.attempt_count) == (1, 5)
    final_attempts = done.attempts.filter(phase="final").order_by("number")
    assert [a.error_kind for a in final_attempts] == ["rate_limited"] * 3 + [""]
    requeued = done.transitions.filter(to_state=State.FINAL_QUEUED)
    reasons = list(requeued.values_list("reason", flat=True))
    assert sum("the try is not counted" in reason for reason in reasons) == 3


def test_a_daily_quota_pauses_the_model_for_every_worker_until_it_resets(
    provider_server, designer, project
):
    UserFactory(username="root", is_superuser=True)
    UserFactory(username="ops", is_staff=True)
    provider_server.script(gemini_daily_quota(), gemini_ok(), gemini_ok())
    first, second = submit(designer, project), submit(designer, project)
    before = timezone.now()

    assert render(first) == State.PREVIEW_QUEUED

    reset = limits.quota_reset_after(before)
    paused = reload(first)
    assert paused.waiting_reason == limits.WAITING_MESSAGES[limits.Reason.QUOTA]
    assert paused.tries_used == 0 and paused.last_error.startswith("Gemini's daily quota")
    assert abs((paused.next_attempt_at - reset).total_seconds()) < 2
    assert list(ModelPause.objects.values_list("model_key", "until")) == [(MODEL_KEY, reset)]
    timeline = paused.transitions.last()
    assert "the model is paused until" in timeline.reason and "not counted" in timeline.reason

    # Another worker's job of the same model: no call, no attempt, waits for the reset.
    assert render(second) == "skipped"
    waiting = reload(second)
    assert (waiting.attempt_count, waiting.tries_used) == (0, 0)
    assert waiting.waiting_reason == limits.WAITING_MESSAGES[limits.Reason.QUOTA]
    assert abs((waiting.next_attempt_at - reset).total_seconds()) <= 61
    assert len(provider_server.requests) == 1

    # A worker whose call was in flight hits the quota too: still one pause, one notice each.
    limits.model_pause(model_key=MODEL_KEY, reason="quota again")
    notes = Notification.objects.filter(kind=Notification.Kind.MODEL_PAUSED)
    assert sorted(notes.values_list("recipient__username", flat=True)) == ["ops", "root"]
    assert all(MODEL_KEY in note.text and "paused until" in note.text for note in notes)

    # The quota resets: the sweeper kicks both jobs and they render, their tries intact.
    ModelPause.objects.update(until=timezone.now() - dt.timedelta(seconds=1))
    for generation in (first, second):
        make_due(generation)
    assert generations_sweep().kicked == 2
    assert render(first) == State.IN_REVIEW
    assert render(second) == State.IN_REVIEW
    assert [reload(g).tries_used for g in (first, second)] == [1, 1]
    assert Attempt.objects.filter(error_kind="quota_exhausted").count() == 1
    assert len(provider_server.requests) == 3


def test_a_paused_final_keeps_its_tries_and_resumes(provider_server, designer, reviewer, project):
    provider_server.script(gemini_ok(), gemini_daily_quota(), gemini_ok())
    generation = submit(designer, project)
    assert render(generation) == State.IN_REVIEW
    generation_approve(generation_id=generation.pk, user=reviewer)

    assert render(generation) == State.FINAL_QUEUED
    assert reload(generation).tries_used == 0
    ModelPause.objects.update(until=timezone.now() - dt.timedelta(seconds=1))
    make_due(generation)

    assert render(generation) == State.DELIVERED


@pytest.mark.parametrize(
    ("now", "setting", "reset"),
    [
        # Midnight Pacific: 07:50 PST is 15:50 UTC; the next midnight is 08:00 UTC.
        ("2026-12-03T15:50", "00:00 America/Los_Angeles", "2026-12-04T08:00"),
        # Just before midnight on the day daylight saving starts (8 March 2026).
        ("2026-03-08T07:30", "00:00 America/Los_Angeles", "2026-03-08T08:00"),
        # After it: midnight PDT is 07:00 UTC.
        ("2026-03-08T12:00", "00:00 America/Los_Angeles", "2026-03-09T07:00"),
        ("2026-12-03T15:50", "09:00 UTC", "2026-12-04T09:00"),
        ("2026-12-03T08:59", "09:00 UTC", "2026-12-03T09:00"),
    ],
)
def test_the_quota_resets_at_the_configured_time_of_day(settings, now, setting, reset):
    settings.STUDIO_QUOTA_RESET = setting
    at = dt.datetime.fromisoformat(now).replace(tzinfo=dt.UTC)

    assert limits.quota_reset_after(at) == dt.datetime.fromisoformat(reset).replace(tzinfo=dt.UTC)


def test_an_admin_who_raised_the_quota_lifts_the_pause(provider_server, designer, project):
    provider_server.script(gemini_daily_quota(), gemini_ok())
    generation = submit(designer, project)
    assert render(generation) == State.PREVIEW_QUEUED

    assert limits.model_pause_lift(model_key=MODEL_KEY) == 1

    assert limits.model_paused_until(MODEL_KEY) is None
    assert generations_sweep().kicked == 1
    assert render(generation) == State.IN_REVIEW


def test_the_admins_notice_opens_the_provider_health_page(
    client, provider_server, designer, project
):
    admin = UserFactory(username="root", is_superuser=True)
    provider_server.script(gemini_daily_quota())
    render(submit(designer, project))
    note = Notification.objects.get(recipient=admin, kind=Notification.Kind.MODEL_PAUSED)
    client.force_login(admin)

    opened = client.post(reverse("notification_open", args=[note.pk]))

    assert opened.url == reverse("provider_health")
