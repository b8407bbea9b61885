"""The state machine: every (from, to, actor) is either allowed and applied atomically
with one audit row, or refused without changing anything."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from django.utils import timezone

from generations import flow
from generations.models import Generation, Transition
from generations.states import (
    RENDERING,
    TRANSITIONS,
    Actor,
    IllegalTransition,
    State,
    TransitionConflict,
    is_allowed,
    phase_of,
)
from tests.support.factories import GenerationFactory, UserFactory

pytestmark = pytest.mark.django_db

# The table the product promises (DESIGN.md), written out independently of TRANSITIONS
# so that a wrong edit to the table is caught here.
S, A = State, Actor
EXPECTED: dict[tuple[State, State], set[Actor]] = {
    (S.PREVIEW_QUEUED, S.PREVIEW_RENDERING): {A.WORKER},
    (S.PREVIEW_RENDERING, S.IN_REVIEW): {A.WORKER},
    (S.PREVIEW_RENDERING, S.PREVIEW_QUEUED): {A.WORKER, A.REAPER},
    (S.PREVIEW_RENDERING, S.PREVIEW_FAILED): {A.WORKER, A.REAPER},
    (S.PREVIEW_FAILED, S.PREVIEW_QUEUED): {A.DESIGNER, A.ADMIN},
    # Approve: a person, or the system when the project does not require review.
    (S.IN_REVIEW, S.FINAL_QUEUED): {A.REVIEWER, A.ADMIN, A.SYSTEM},
    (S.IN_REVIEW, S.REJECTED): {A.REVIEWER, A.ADMIN},
    (S.IN_REVIEW, S.CHANGES_REQUESTED): {A.REVIEWER, A.ADMIN},
    (S.FINAL_QUEUED, S.FINAL_RENDERING): {A.WORKER},
    (S.FINAL_RENDERING, S.DELIVERED): {A.WORKER},
    (S.FINAL_RENDERING, S.FINAL_DIFFERS): {A.WORKER},  # under the fidelity threshold
    (S.FINAL_DIFFERS, S.DELIVERED): {A.REVIEWER, A.ADMIN},  # accepted as it is
    (S.FINAL_DIFFERS, S.FINAL_QUEUED): {A.REVIEWER, A.ADMIN},  # re-render / upscale
    (S.FINAL_RENDERING, S.FINAL_QUEUED): {A.WORKER, A.REAPER},
    (S.FINAL_RENDERING, S.DELIVERED_FALLBACK): {A.WORKER, A.REAPER},
    (S.FINAL_RENDERING, S.FINAL_FAILED): {A.WORKER, A.REAPER},
    (S.FINAL_FAILED, S.FINAL_QUEUED): {A.REVIEWER, A.ADMIN},
    (S.PREVIEW_QUEUED, S.CANCELLED): {A.DESIGNER, A.ADMIN},
    (S.PREVIEW_RENDERING, S.CANCELLED): {A.DESIGNER, A.ADMIN},
    (S.IN_REVIEW, S.CANCELLED): {A.DESIGNER, A.ADMIN},
    (S.FINAL_QUEUED, S.CANCELLED): {A.DESIGNER, A.ADMIN},
    (S.FINAL_RENDERING, S.CANCELLED): {A.DESIGNER, A.ADMIN},
}

ALL_CASES = list(itertools.product(State, State, Actor))
ALLOWED = [(s, t, a) for s, t, a in ALL_CASES if a in EXPECTED.get((s, t), set())]
REFUSED = [(s, t, a) for s, t, a in ALL_CASES if a not in EXPECTED.get((s, t), set())]


def _case_id(case: tuple[State, State, Actor]) -> str:
    source, target, actor = case
    return f"{source.value}->{target.value}-by-{actor.value}"


def _generation_in(state: State, **extra) -> Generation:
    if state in RENDERING:
        extra.setdefault("lease_token", uuid.uuid4())
        extra.setdefault("lease_expires_at", timezone.now() + dt.timedelta(minutes=5))
    return GenerationFactory(state=state, version=3, **extra)


def test_the_transition_table_is_exactly_the_designed_one():
    assert {key: set(actors) for key, actors in TRANSITIONS.items()} == EXPECTED


def test_the_exhaustive_cases_cover_every_state_pair_and_actor():
    assert len(ALL_CASES) == len(State) ** 2 * len(Actor) == 13 * 13 * 6
    assert len(ALLOWED) == sum(len(actors) for actors in EXPECTED.values())


@pytest.mark.parametrize("case", ALLOWED, ids=_case_id)
def test_an_allowed_transition_moves_the_state_bumps_the_version_and_writes_one_audit_row(
    case, django_capture_on_commit_callbacks
):
    source, target, actor = case
    user = UserFactory() if actor in {A.DESIGNER, A.REVIEWER, A.ADMIN} else None
    generation = _generation_in(source)

    with django_capture_on_commit_callbacks():
        returned = flow.apply(
            generation, target, actor=actor, user=user, reason="because tests", attempt=2
        )

    stored = Generation.objects.get(pk=generation.pk)
    assert stored.state == target
    assert stored.version == 4
    assert returned.state == target and returned.version == 4
    (audit,) = Transition.objects.filter(generation=generation)
    assert (audit.from_state, audit.to_state, audit.actor_kind) == (source, target, actor)
    assert audit.actor_id == (user.pk if user else None)
    assert audit.reason == "because tests"
    assert audit.attempt == 2
    assert audit.created_at == stored.state_changed_at


@pytest.mark.parametrize("case", REFUSED, ids=_case_id)
def test_a_refused_transition_raises_illegal_transition_and_changes_nothing(case):
    source, target, actor = case
    generation = _generation_in(source)
    before = Generation.objects.filter(pk=generation.pk).values().get()

    with pytest.raises(IllegalTransition):
        flow.apply(generation, target, actor=actor, reason="should not happen")

    assert Generation.objects.filter(pk=generation.pk).values().get() == before
    assert not Transition.objects.filter(generation=generation).exists()


def test_an_illegal_transition_says_who_tried_what():
    generation = _generation_in(State.DELIVERED)

    with pytest.raises(IllegalTransition, match="A designer cannot move .*Delivered.*Cancelled"):
        flow.apply(generation, State.CANCELLED, actor=Actor.DESIGNER)


def test_is_allowed_accepts_plain_strings_as_stored_in_the_database():
    assert is_allowed("in_review", "final_queued", "reviewer")
    assert not is_allowed("in_review", "final_queued", "designer")
    assert not is_allowed("delivered", "cancelled", "admin")


def test_a_lost_race_raises_transition_conflict_and_the_first_writer_wins():
    generation = _generation_in(State.IN_REVIEW)
    first = Generation.objects.get(pk=generation.pk)
    second = Generation.objects.get(pk=generation.pk)

    flow.apply(first, State.FINAL_QUEUED, actor=Actor.REVIEWER, reason="approve")
    with pytest.raises(TransitionConflict, match="Final queued"):
        flow.apply(second, State.REJECTED, actor=Actor.REVIEWER, reason="reject")

    stored = Generation.objects.get(pk=generation.pk)
    assert stored.state == State.FINAL_QUEUED
    assert stored.version == generation.version + 1
    assert list(
        Transition.objects.filter(generation=generation).values_list("to_state", flat=True)
    ) == [State.FINAL_QUEUED]


def test_a_lost_race_to_the_same_target_is_still_a_conflict():
    """Two workers claim the same queued job: only one may render it."""
    generation = _generation_in(State.PREVIEW_QUEUED)
    first = Generation.objects.get(pk=generation.pk)
    second = Generation.objects.get(pk=generation.pk)

    flow.apply(first, State.PREVIEW_RENDERING, actor=Actor.WORKER, changes={"attempt_count": 1})
    with pytest.raises(TransitionConflict):
        flow.apply(
            second, State.PREVIEW_RENDERING, actor=Actor.WORKER, changes={"attempt_count": 1}
        )

    assert Transition.objects.filter(generation=generation).count() == 1
    assert Generation.objects.get(pk=generation.pk).version == generation.version + 1


def test_only_the_lease_holder_can_complete_a_render():
    holder = uuid.uuid4()
    generation = _generation_in(State.PREVIEW_RENDERING, lease_token=holder)
    before = Generation.objects.filter(pk=generation.pk).values().get()

    with pytest.raises(TransitionConflict):
        flow.apply(generation, State.IN_REVIEW, actor=Actor.WORKER, lease_token=uuid.uuid4())

    assert Generation.objects.filter(pk=generation.pk).values().get() == before
    assert not Transition.objects.filter(generation=generation).exists()

    flow.apply(generation, State.IN_REVIEW, actor=Actor.WORKER, lease_token=holder)
    assert Generation.objects.get(pk=generation.pk).state == State.IN_REVIEW


def test_changes_are_written_by_the_same_update():
    generation = _generation_in(State.IN_REVIEW, tries_used=2, last_error="boom")

    flow.apply(
        generation,
        State.FINAL_QUEUED,
        actor=Actor.REVIEWER,
        changes={"tries_used": 0, "last_error": ""},
    )

    stored = Generation.objects.get(pk=generation.pk)
    assert (stored.tries_used, stored.last_error) == (0, "")


@pytest.fixture
def kicked(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr("generations.dispatch.kick", calls.append)
    return calls


@pytest.mark.parametrize(
    ("source", "target", "actor"),
    [
        (State.PREVIEW_RENDERING, State.PREVIEW_QUEUED, Actor.REAPER),
        (State.PREVIEW_FAILED, State.PREVIEW_QUEUED, Actor.DESIGNER),
        (State.IN_REVIEW, State.FINAL_QUEUED, Actor.REVIEWER),
        (State.FINAL_FAILED, State.FINAL_QUEUED, Actor.ADMIN),
    ],
)
def test_entering_a_queue_when_due_kicks_a_worker_once_after_commit(
    source, target, actor, kicked, django_capture_on_commit_callbacks
):
    generation = _generation_in(source, kicked_at=None)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        flow.apply(generation, target, actor=actor)
        assert kicked == [], "the kick must wait for the commit"

    assert len(callbacks) == 1
    callbacks[0]()
    assert kicked == [generation.pk]
    stored = Generation.objects.get(pk=generation.pk)
    assert stored.kicked_at is not None
    assert stored.next_attempt_at <= timezone.now()


def test_a_requeue_with_a_due_time_in_the_past_kicks_at_once(
    kicked, django_capture_on_commit_callbacks
):
    generation = _generation_in(State.FINAL_RENDERING)

    with django_capture_on_commit_callbacks(execute=True):
        flow.apply(
            generation,
            State.FINAL_QUEUED,
            actor=Actor.WORKER,
            changes={"next_attempt_at": timezone.now() - dt.timedelta(seconds=5)},
        )

    assert kicked == [generation.pk]


def test_a_requeue_with_a_future_due_time_registers_no_kick(
    kicked, django_capture_on_commit_callbacks
):
    generation = _generation_in(State.PREVIEW_RENDERING, kicked_at=None)
    due = timezone.now() + dt.timedelta(seconds=30)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        flow.apply(
            generation,
            State.PREVIEW_QUEUED,
            actor=Actor.WORKER,
            changes={"next_attempt_at": due},
        )

    assert callbacks == []
    assert kicked == []
    stored = Generation.objects.get(pk=generation.pk)
    assert stored.next_attempt_at == due
    assert stored.kicked_at is None, "the sweeper must see it was never kicked"


@pytest.mark.parametrize(
    "target", [State.IN_REVIEW, State.REJECTED, State.CANCELLED, State.PREVIEW_FAILED]
)
def test_moving_outside_a_queue_registers_no_kick(target, django_capture_on_commit_callbacks):
    source = State.IN_REVIEW if target == State.REJECTED else State.PREVIEW_RENDERING
    actor = {
        State.IN_REVIEW: Actor.WORKER,
        State.REJECTED: Actor.REVIEWER,
        State.CANCELLED: Actor.DESIGNER,
        State.PREVIEW_FAILED: Actor.WORKER,
    }[target]
    generation = _generation_in(source)

    with django_capture_on_commit_callbacks() as callbacks:
        flow.apply(generation, target, actor=actor)

    assert callbacks == []


@pytest.mark.parametrize(
    ("source", "target", "actor"),
    [
        (State.PREVIEW_RENDERING, State.IN_REVIEW, Actor.WORKER),
        (State.PREVIEW_RENDERING, State.PREVIEW_QUEUED, Actor.REAPER),
        (State.PREVIEW_RENDERING, State.PREVIEW_FAILED, Actor.WORKER),
        (State.PREVIEW_RENDERING, State.CANCELLED, Actor.DESIGNER),
        (State.FINAL_RENDERING, State.DELIVERED, Actor.WORKER),
        (State.FINAL_RENDERING, State.DELIVERED_FALLBACK, Actor.REAPER),
        (State.FINAL_RENDERING, State.FINAL_QUEUED, Actor.WORKER),
    ],
)
def test_leaving_rendering_clears_the_lease(source, target, actor):
    generation = _generation_in(source)
    assert generation.lease_token is not None

    flow.apply(generation, target, actor=actor)

    stored = Generation.objects.get(pk=generation.pk)
    assert stored.lease_token is None
    assert stored.lease_expires_at is None


def test_claiming_keeps_the_lease_it_was_given():
    generation = _generation_in(State.FINAL_QUEUED)
    token = uuid.uuid4()
    expires = timezone.now() + dt.timedelta(seconds=690)

    flow.apply(
        generation,
        State.FINAL_RENDERING,
        actor=Actor.WORKER,
        changes={"lease_token": token, "lease_expires_at": expires},
    )

    stored = Generation.objects.get(pk=generation.pk)
    assert (stored.lease_token, stored.lease_expires_at) == (token, expires)


def test_a_generation_deleted_under_a_worker_is_a_conflict_not_a_crash():
    generation = _generation_in(State.PREVIEW_QUEUED)
    Generation.objects.filter(pk=generation.pk).delete()

    with pytest.raises(TransitionConflict, match="deleted"):
        flow.apply(generation, State.PREVIEW_RENDERING, actor=Actor.WORKER)


def test_record_creation_writes_the_first_audit_row_and_one_kick(
    kicked, django_capture_on_commit_callbacks
):
    generation = _generation_in(State.PREVIEW_QUEUED)
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        flow.record_creation(generation, actor=Actor.DESIGNER, user=user, reason="submitted")

    (audit,) = Transition.objects.filter(generation=generation)
    assert (audit.from_state, audit.to_state, audit.actor_id) == ("", State.PREVIEW_QUEUED, user.pk)
    assert len(callbacks) == 1
    assert kicked == [generation.pk]


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        (State.PREVIEW_QUEUED, "preview"),
        (State.PREVIEW_RENDERING, "preview"),
        (State.PREVIEW_FAILED, "preview"),
        (State.IN_REVIEW, "preview"),
        (State.REJECTED, "preview"),
        (State.FINAL_QUEUED, "final"),
        (State.FINAL_RENDERING, "final"),
        (State.DELIVERED, "final"),
        (State.DELIVERED_FALLBACK, "final"),
        (State.FINAL_FAILED, "final"),
    ],
)
def test_phase_of_each_state(state, phase):
    assert phase_of(state) == phase
