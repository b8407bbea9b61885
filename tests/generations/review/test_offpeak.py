"""Off-peak finals (issue 15, item 4): the reviewer chooses at approval to hold the final
for the model's good hours — configured, or learned from provider health — with a deadline
after which it runs anyway. The wait is on the queued final (`not_before`), in its audit
row and on its page; no worker takes it before then and the sweeper kicks it when due."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from generations import offpeak
from generations.models import Attempt, Generation
from generations.rendering import jobs
from generations.rendering.sweeper import generations_sweep
from generations.review.decisions import generation_approve
from generations.states import State
from tests.support.factories import GenerationFactory, SubmissionFactory
from tests.support.review import in_review, member

pytestmark = pytest.mark.django_db

MODEL = "nano-banana-pro"


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch):
    settings.TIME_ZONE = "UTC"
    settings.STUDIO_OFFPEAK_MAX_WAIT_HOURS = 12
    settings.STUDIO_OFFPEAK_WINDOWS = {}
    kicks: list[int] = []
    monkeypatch.setattr("generations.dispatch.kick", kicks.append)
    monkeypatch.setattr("generations.rendering.sweeper.kick", kicks.append)
    return kicks


def _window_opening_in(settings, hours: int, length: int = 4) -> dt.datetime:
    """Configure MODEL's good hours to open `hours` from now (whole hours); their opening."""
    now = timezone.now()
    opening = (now + dt.timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    settings.STUDIO_OFFPEAK_WINDOWS = {
        MODEL: f"{opening.hour:02d}:00-{(opening.hour + length) % 24:02d}:00"
    }
    return opening


def _reload(generation: Generation) -> Generation:
    return Generation.objects.get(pk=generation.pk)


def test_an_off_peak_final_waits_for_the_models_hours_then_the_sweeper_runs_it(
    settings, project, _setup
):
    designer, reviewer = member(project, "dana", "designer"), member(project, "rui", "reviewer")
    (generation,) = in_review(project, designer)
    opening = _window_opening_in(settings, 3)
    _setup.clear()

    generation_approve(generation_id=generation.pk, user=reviewer, lane=offpeak.OFF_PEAK)

    held = _reload(generation)
    assert held.state == State.FINAL_QUEUED
    assert held.not_before == opening == held.next_attempt_at
    assert held.waiting_reason.startswith(f"Off-peak: waits for {opening.hour:02d}:00")
    decision = held.transitions.last()
    assert decision.to_state == State.FINAL_QUEUED
    assert "off-peak lane" in decision.reason and "configured" in decision.reason
    assert _setup == []  # not kicked at approval
    # A stray kick before the hours does nothing; nor does the sweeper.
    assert jobs.generation_render(generation_id=generation.pk) == "skipped"
    assert generations_sweep().kicked == 0
    assert _reload(generation).attempt_count == 1  # the preview's only

    # The hours open (the clock reaches not_before): the sweeper kicks it, a worker runs it.
    Generation.objects.filter(pk=generation.pk).update(
        not_before=timezone.now() - dt.timedelta(seconds=1),
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1),
    )
    assert generations_sweep().kicked == 1
    assert _setup == [generation.pk]
    assert jobs.generation_render(generation_id=generation.pk) == State.DELIVERED


def test_hours_that_open_after_the_deadline_give_way_to_it(settings, project):
    designer, reviewer = member(project, "dana", "designer"), member(project, "rui", "reviewer")
    (generation,) = in_review(project, designer)
    _window_opening_in(settings, 20)
    before = timezone.now()

    generation_approve(generation_id=generation.pk, user=reviewer, lane=offpeak.OFF_PEAK)

    held = _reload(generation)
    deadline = before + dt.timedelta(hours=12)
    assert abs((held.not_before - deadline).total_seconds()) < 5
    assert "its deadline" in held.transitions.last().reason


def test_a_final_approved_inside_the_hours_runs_now(settings, project, _setup):
    designer, reviewer = member(project, "dana", "designer"), member(project, "rui", "reviewer")
    (generation,) = in_review(project, designer)
    hour = timezone.localtime().hour
    settings.STUDIO_OFFPEAK_WINDOWS = {MODEL: f"{hour:02d}:00-{(hour + 2) % 24:02d}:00"}
    _setup.clear()

    generation_approve(generation_id=generation.pk, user=reviewer, lane=offpeak.OFF_PEAK)

    assert _reload(generation).not_before is None
    assert jobs.generation_render(generation_id=generation.pk) == State.DELIVERED


def test_without_known_hours_off_peak_is_refused_and_now_is_the_default(project):
    designer, reviewer = member(project, "dana", "designer"), member(project, "rui", "reviewer")
    (generation,) = in_review(project, designer)

    with pytest.raises(ValidationError, match="No good hours are known"):
        generation_approve(generation_id=generation.pk, user=reviewer, lane=offpeak.OFF_PEAK)
    assert _reload(generation).state == State.IN_REVIEW

    generation_approve(generation_id=generation.pk, user=reviewer, lane=offpeak.NOW)
    assert _reload(generation).not_before is None


def test_the_hours_are_learned_from_measured_4k_success(project):
    """A day of 4K tries: 90 % success from 02:00 to 08:00, 40 % otherwise (52 % in all)."""
    now = timezone.now()
    generation = GenerationFactory(
        submission=SubmissionFactory(project=project), state=State.DELIVERED
    )
    rows = []
    day = (now - dt.timedelta(days=2)).replace(minute=10, second=0, microsecond=0)
    number = 0
    for hour in range(24):
        good = 2 <= hour < 8
        for i in range(10):
            number += 1
            made = i < (9 if good else 4)
            rows.append(
                Attempt(
                    generation=generation,
                    number=number,
                    phase="final",
                    size="4K",
                    provider="gemini",
                    model_id="gemini-3-pro-image",
                    model_key=MODEL,
                    started_at=day.replace(hour=hour),
                    outcome=Attempt.Outcome.SUCCEEDED if made else Attempt.Outcome.FAILED,
                    latency_ms=200_000,
                )
            )
    Attempt.objects.bulk_create(rows)

    plan = offpeak.offpeak_plan(model_key=MODEL, size="4K", now=now)

    assert plan is not None
    assert (plan.hours, plan.source) == ((2, 3, 4, 5, 6, 7), "measured")
    assert "90 % first-try success then vs 52 % over the day" in plan.text


def test_the_reviewer_picks_the_lane_on_the_page_and_the_wait_shows_there(
    settings, client, project
):
    designer, reviewer = member(project, "dana", "designer"), member(project, "rui", "reviewer")
    (generation,) = in_review(project, designer)
    opening = _window_opening_in(settings, 5)
    client.force_login(reviewer)
    url = reverse("generation", args=[generation.pk])

    page = client.get(url).content.decode()
    # One lane select: now, economy, off-peak (at now's price, with when it starts).
    assert page.count('name="lane"') == 1
    assert re.search(r'<option value="offpeak">Off-peak · \$[0-9.]+ · starts ', page)
    assert f"waits for the good hours {opening.hour:02d}:00" in page

    client.post(reverse("generation_approve", args=[generation.pk]), {"lane": "offpeak"})

    page = client.get(url).content.decode()
    assert "data-offpeak-wait" in page
    assert f"held for the model’s good hours until {opening:%a %-d %b, %H:%M}" in page
    assert "Off-peak: waits for" in page  # the waiting reason


@pytest.mark.parametrize(
    ("now", "hours", "opening"),
    [
        ("2026-12-03T15:50", (1, 2, 3), "2026-12-04T01:00"),
        ("2026-12-03T02:10", (1, 2, 3), "2026-12-03T02:10"),  # open: now
        ("2026-12-03T22:10", (23, 0, 1), "2026-12-03T23:00"),
    ],
)
def test_the_next_opening_of_the_hours(now, hours, opening):
    at = dt.datetime.fromisoformat(now).replace(tzinfo=dt.UTC)
    expected = dt.datetime.fromisoformat(opening).replace(tzinfo=dt.UTC)
    assert offpeak.next_opening(hours, now=at) == expected


def test_configured_hours_wrap_at_midnight(settings):
    settings.STUDIO_OFFPEAK_WINDOWS = {MODEL: "22:00-03:00"}
    assert offpeak.configured_hours(MODEL) == (22, 23, 0, 1, 2)
