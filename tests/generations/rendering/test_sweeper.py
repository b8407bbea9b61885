"""The periodic sweep: expired leases go back to the queue (or fail/fall back), and due
jobs whose kick was lost are kicked again — once."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from generations.models import Attempt, FallbackPolicy, Generation, Phase
from generations.rendering.sweeper import generations_sweep
from generations.states import Actor, State, TransitionConflict
from tests.support.factories import GenerationFactory, ProjectFactory, SubmissionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_policy(settings):
    settings.STUDIO_KICK_STALE_SECONDS = 60
    settings.STUDIO_ATTEMPT_POLICY = {
        "1K": {"timeout": 5, "tries": 2, "base_delay": 1},
        "2K": {"timeout": 5, "tries": 2, "base_delay": 1},
        "4K": {"timeout": 5, "tries": 3, "base_delay": 1},
    }


@pytest.fixture
def kicks(monkeypatch):
    """Every kick, whether the sweeper sends it or a requeue sends it after commit."""
    sent: list[int] = []
    monkeypatch.setattr("generations.rendering.sweeper.kick", sent.append)
    monkeypatch.setattr("generations.dispatch.kick", sent.append)
    return sent


def _rendering(
    state: State = State.PREVIEW_RENDERING,
    *,
    expires_in: float = -30,
    tries_used: int = 1,
    fallback: str = FallbackPolicy.FAIL,
) -> tuple[Generation, Attempt]:
    token = uuid.uuid4()
    now = timezone.now()
    generation = GenerationFactory(
        submission=SubmissionFactory(project=ProjectFactory(fallback_policy=fallback)),
        state=state,
        lease_token=token,
        lease_expires_at=now + dt.timedelta(seconds=expires_in),
        attempt_count=tries_used,
        tries_used=tries_used,
        next_attempt_at=None,
    )
    phase = Phase.FINAL if state == State.FINAL_RENDERING else Phase.PREVIEW
    attempt = Attempt.objects.create(
        generation=generation,
        number=tries_used,
        phase=phase,
        size="4K" if phase == Phase.FINAL else "1K",
        provider="local",
        model_id="gemini-3-pro-image",
        model_key=generation.submission.model_key,
        lease_token=token,
        started_at=now - dt.timedelta(seconds=60),
    )
    return generation, attempt


def _queued(*, due_in: float = -1, kicked_ago: float | None = None, **extra) -> Generation:
    now = timezone.now()
    return GenerationFactory(
        next_attempt_at=now + dt.timedelta(seconds=due_in),
        kicked_at=None if kicked_ago is None else now - dt.timedelta(seconds=kicked_ago),
        **extra,
    )


def _sweep(capture):
    with capture(execute=True):
        return generations_sweep()


# --- expired leases -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rendering", "queued"),
    [
        (State.PREVIEW_RENDERING, State.PREVIEW_QUEUED),
        (State.FINAL_RENDERING, State.FINAL_QUEUED),
    ],
)
def test_an_expired_lease_returns_the_job_to_its_queue_and_kicks_it(
    rendering, queued, kicks, django_capture_on_commit_callbacks
):
    generation, attempt = _rendering(rendering, tries_used=1)

    report = _sweep(django_capture_on_commit_callbacks)

    stored = Generation.objects.get(pk=generation.pk)
    assert stored.state == queued
    assert (stored.lease_token, stored.lease_expires_at) == (None, None)
    assert stored.next_attempt_at <= timezone.now()
    assert "worker stopped" in stored.waiting_reason.lower()
    assert "lease expired" in stored.last_error
    audit = stored.transitions.get()
    assert (audit.from_state, audit.to_state, audit.actor_kind) == (rendering, queued, Actor.REAPER)
    assert "lease expired" in audit.reason
    assert audit.attempt == 1
    attempt.refresh_from_db()
    assert attempt.outcome == Attempt.Outcome.ABANDONED
    assert attempt.error_kind == "lease_expired"
    assert attempt.finished_at is not None
    assert kicks == [generation.pk]
    assert (report.reaped, report.kicked) == (1, 0)


def test_an_expired_preview_with_no_tries_left_fails(kicks, django_capture_on_commit_callbacks):
    generation, attempt = _rendering(State.PREVIEW_RENDERING, tries_used=2)

    _sweep(django_capture_on_commit_callbacks)

    stored = Generation.objects.get(pk=generation.pk)
    assert stored.state == State.PREVIEW_FAILED
    assert stored.lease_token is None
    audit = stored.transitions.get()
    assert audit.actor_kind == Actor.REAPER
    assert "lease expired" in audit.reason and "no tries left" in audit.reason
    attempt.refresh_from_db()
    assert attempt.outcome == Attempt.Outcome.ABANDONED
    assert kicks == []


def test_an_expired_final_with_no_tries_left_follows_the_fail_policy(
    kicks, django_capture_on_commit_callbacks
):
    generation, _ = _rendering(State.FINAL_RENDERING, tries_used=3, fallback=FallbackPolicy.FAIL)

    _sweep(django_capture_on_commit_callbacks)

    stored = Generation.objects.get(pk=generation.pk)
    assert stored.state == State.FINAL_FAILED
    assert stored.transitions.get().actor_kind == Actor.REAPER
    assert kicks == []


def test_an_expired_final_without_a_preview_image_fails_rather_than_fall_back(
    kicks, django_capture_on_commit_callbacks
):
    generation, _ = _rendering(
        State.FINAL_RENDERING, tries_used=3, fallback=FallbackPolicy.DELIVER_PREVIEW
    )

    _sweep(django_capture_on_commit_callbacks)

    stored = Generation.objects.get(pk=generation.pk)
    assert stored.state == State.FINAL_FAILED
    assert "no preview to fall back on" in stored.transitions.get().reason


def test_a_live_lease_is_left_alone(kicks, django_capture_on_commit_callbacks):
    generation, attempt = _rendering(State.FINAL_RENDERING, expires_in=+120)
    before = Generation.objects.filter(pk=generation.pk).values().get()

    report = _sweep(django_capture_on_commit_callbacks)

    assert Generation.objects.filter(pk=generation.pk).values().get() == before
    attempt.refresh_from_db()
    assert attempt.outcome == Attempt.Outcome.RUNNING
    assert not generation.transitions.exists()
    assert kicks == []
    assert report.reaped == 0


def test_a_late_worker_cannot_write_after_its_lease_was_reaped(
    kicks, django_capture_on_commit_callbacks
):
    from generations import flow

    generation, _ = _rendering(State.PREVIEW_RENDERING, tries_used=1)
    stale_token = generation.lease_token
    _sweep(django_capture_on_commit_callbacks)

    with pytest.raises(TransitionConflict):
        flow.apply(generation, State.IN_REVIEW, actor=Actor.WORKER, lease_token=stale_token)

    assert Generation.objects.get(pk=generation.pk).state == State.PREVIEW_QUEUED


def test_a_reap_that_loses_the_race_to_a_finishing_worker_leaves_its_attempt_alone():
    from generations.rendering.jobs import generation_reap

    generation, attempt = _rendering(State.PREVIEW_RENDERING, tries_used=1)
    # The worker moves the generation on just after the sweeper read it, and has not yet
    # marked its attempt succeeded (that happens in the same transaction).
    Generation.objects.filter(pk=generation.pk).update(
        state=State.IN_REVIEW, version=generation.version + 1, lease_token=None
    )

    assert generation_reap(generation=generation) == "skipped"

    attempt.refresh_from_db()
    assert attempt.outcome == Attempt.Outcome.RUNNING
    assert attempt.error_kind == ""
    assert Generation.objects.get(pk=generation.pk).state == State.IN_REVIEW
    assert not generation.transitions.exists()


def test_reaping_twice_does_nothing_the_second_time(kicks, django_capture_on_commit_callbacks):
    generation, _ = _rendering(State.PREVIEW_RENDERING, tries_used=1)

    first = _sweep(django_capture_on_commit_callbacks)
    second = _sweep(django_capture_on_commit_callbacks)

    assert (first.reaped, second.reaped) == (1, 0)
    assert generation.transitions.count() == 1
    assert kicks == [generation.pk]


# --- lost kicks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "kicked_ago"),
    [
        (State.PREVIEW_QUEUED, None),
        (State.PREVIEW_QUEUED, 600),
        (State.FINAL_QUEUED, None),
    ],
)
def test_a_due_job_whose_kick_was_lost_is_kicked_again_exactly_once(
    state, kicked_ago, kicks, django_capture_on_commit_callbacks
):
    generation = _queued(state=state, kicked_ago=kicked_ago)

    first = _sweep(django_capture_on_commit_callbacks)
    second = _sweep(django_capture_on_commit_callbacks)

    assert kicks == [generation.pk]
    assert (first.kicked, second.kicked) == (1, 0)
    stored = Generation.objects.get(pk=generation.pk)
    assert stored.kicked_at is not None
    assert stored.kicked_at > timezone.now() - dt.timedelta(seconds=5)
    assert stored.state == state, "a re-kick moves nothing; the worker claims"


def test_a_job_kicked_again_after_the_stale_window_is_kicked_once_more(
    settings, kicks, django_capture_on_commit_callbacks
):
    generation = _queued(kicked_ago=None)
    _sweep(django_capture_on_commit_callbacks)
    Generation.objects.filter(pk=generation.pk).update(
        kicked_at=timezone.now() - dt.timedelta(seconds=settings.STUDIO_KICK_STALE_SECONDS + 1)
    )

    _sweep(django_capture_on_commit_callbacks)

    assert kicks == [generation.pk, generation.pk]


def test_a_recently_kicked_job_is_not_kicked_again(kicks, django_capture_on_commit_callbacks):
    _queued(kicked_ago=5)

    report = _sweep(django_capture_on_commit_callbacks)

    assert kicks == []
    assert report.kicked == 0


def test_a_job_still_backing_off_is_not_kicked(kicks, django_capture_on_commit_callbacks):
    generation = _queued(due_in=+30, kicked_ago=None)

    _sweep(django_capture_on_commit_callbacks)

    assert kicks == []
    assert Generation.objects.get(pk=generation.pk).kicked_at is None


@pytest.mark.parametrize(
    "state", [State.IN_REVIEW, State.DELIVERED, State.CANCELLED, State.PREVIEW_FAILED]
)
def test_settled_jobs_are_never_kicked(state, kicks, django_capture_on_commit_callbacks):
    _queued(state=state, kicked_ago=None)

    _sweep(django_capture_on_commit_callbacks)

    assert kicks == []


def test_the_sweep_kicks_every_due_job_once(kicks, django_capture_on_commit_callbacks):
    due = [_queued(kicked_ago=None) for _ in range(3)]
    _queued(due_in=+60)

    report = _sweep(django_capture_on_commit_callbacks)

    assert sorted(kicks) == sorted(g.pk for g in due)
    assert report.kicked == 3
