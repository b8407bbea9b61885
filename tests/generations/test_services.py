"""The writes people make: submit, approve, reject, cancel, retry, revise."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from generations import services
from generations.models import Generation, Submission, Transition
from generations.review.decisions import generation_approve, generation_reject
from generations.states import Actor, IllegalTransition, State, TransitionError
from tests.support.factories import GenerationFactory, SubmissionFactory, UserFactory

pytestmark = pytest.mark.django_db

CANCELLABLE = [
    State.PREVIEW_QUEUED,
    State.PREVIEW_RENDERING,
    State.IN_REVIEW,
    State.FINAL_QUEUED,
    State.FINAL_RENDERING,
]
NOT_CANCELLABLE = [state for state in State if state not in CANCELLABLE]


@pytest.fixture
def kicked(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr("generations.dispatch.kick", calls.append)
    return calls


def _submit(user, project, **overrides):
    request = {
        "prompt": "a red bicycle leaning on a blue wall",
        "model_key": "nano-banana-pro",
        "aspect_ratio": "16:9",
        "preview_size": "2K",
        "variants": 3,
        **overrides,
    }
    return services.submission_create(project=project, user=user, **request)


def _generation(project, owner, state: State, **extra) -> Generation:
    if state in {State.PREVIEW_RENDERING, State.FINAL_RENDERING}:
        extra.setdefault("lease_token", uuid.uuid4())
        extra.setdefault("lease_expires_at", timezone.now() + dt.timedelta(minutes=5))
    return GenerationFactory(
        submission=SubmissionFactory(project=project, created_by=owner), state=state, **extra
    )


def _state(generation) -> str:
    return Generation.objects.values_list("state", flat=True).get(pk=generation.pk)


# --- submit ---------------------------------------------------------------------------


def test_submitting_queues_one_preview_per_variant_each_kicked_after_commit(
    designer, project, kicked, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        submission = _submit(designer, project, variants=3)

    generations = list(submission.generations.order_by("variant"))
    assert [g.variant for g in generations] == [1, 2, 3]
    assert {g.state for g in generations} == {State.PREVIEW_QUEUED}
    assert {g.project_id for g in generations} == {project.pk}
    assert len({g.seed for g in generations}) == 3, "variants differ by seed"
    assert len(callbacks) == 3
    assert sorted(kicked) == sorted(g.pk for g in generations)
    for generation in generations:
        (audit,) = generation.transitions.all()
        assert (audit.from_state, audit.to_state) == ("", State.PREVIEW_QUEUED)
        assert (audit.actor_kind, audit.actor_id) == (Actor.DESIGNER, designer.pk)
        assert audit.reason == "submitted"
        assert generation.next_attempt_at <= timezone.now()


def test_a_submission_keeps_what_the_designer_asked_for(designer, project):
    submission = _submit(designer, project, prompt="  a fox in snow  ", variants=1)

    stored = Submission.objects.get(pk=submission.pk)
    assert stored.prompt == "a fox in snow"
    assert (stored.model_key, stored.aspect_ratio) == ("nano-banana-pro", "16:9")
    assert (stored.preview_size, stored.final_size) == ("2K", "4K")
    assert (stored.created_by, stored.parent) == (designer, None)


def test_an_admin_submits_as_admin(project_admin, project):
    submission = _submit(project_admin, project, variants=1)

    audit = Transition.objects.get(generation__submission=submission)
    assert audit.actor_kind == Actor.ADMIN


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   \n "}, "prompt"),
        ({"model_key": "dall-e-9"}, "model_key"),
        ({"aspect_ratio": "7:5"}, "aspect_ratio"),
        ({"preview_size": "4K"}, "preview_size"),
        ({"variants": 0}, "variants"),
        ({"variants": 5}, "variants"),
    ],
)
def test_an_invalid_submission_reports_the_field_and_creates_nothing(
    overrides, field, designer, project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError) as exc:
        _submit(designer, project, **overrides)

    assert set(exc.value.message_dict) == {field}
    assert not Submission.objects.exists()
    assert not Generation.objects.exists()
    assert not Transition.objects.exists()
    assert callbacks == []


def test_all_invalid_fields_are_reported_together(designer, project):
    with pytest.raises(ValidationError) as exc:
        _submit(designer, project, prompt="", variants=9, aspect_ratio="1:7")

    assert set(exc.value.message_dict) == {"prompt", "variants", "aspect_ratio"}


def test_a_model_configured_without_an_aspect_ratio_refuses_it(settings, designer, project):
    settings.STUDIO_MODELS = {
        "square-only": {
            "label": "Square Only",
            "provider": "local",
            "model_id": "square",
            "aspect_ratios": ["1:1"],
            "preview_sizes": ["1K"],
        }
    }

    with pytest.raises(ValidationError) as exc:
        _submit(designer, project, model_key="square-only", aspect_ratio="16:9", preview_size="1K")

    assert "Square Only does not offer 16:9" in exc.value.message_dict["aspect_ratio"][0]


@pytest.mark.parametrize("who", ["reviewer", "outsider"])
def test_only_designers_and_admins_may_submit(who, request, project):
    user = request.getfixturevalue(who)

    with pytest.raises(PermissionDenied):
        _submit(user, project)

    assert not Submission.objects.exists()


# --- approve / reject -----------------------------------------------------------------


def test_approving_escalates_to_the_final_queue_with_fresh_tries(
    reviewer, designer, project, kicked, django_capture_on_commit_callbacks
):
    generation = _generation(
        project, designer, State.IN_REVIEW, tries_used=2, attempt_count=2, last_error="x"
    )

    with django_capture_on_commit_callbacks(execute=True):
        generation_approve(generation_id=generation.pk, user=reviewer, note="  ship it ")

    stored = Generation.objects.get(pk=generation.pk)
    assert stored.state == State.FINAL_QUEUED
    assert stored.tries_used == 0
    assert stored.attempt_count == 2, "attempt numbers keep counting across phases"
    assert stored.last_error == ""
    audit = stored.transitions.get()
    assert (audit.actor_kind, audit.actor_id, audit.reason) == (
        Actor.REVIEWER,
        reviewer.pk,
        "ship it",
    )
    assert kicked == [generation.pk]


def test_approving_twice_fails_clearly_the_second_time(reviewer, designer, project):
    generation = _generation(project, designer, State.IN_REVIEW)
    generation_approve(generation_id=generation.pk, user=reviewer)

    with pytest.raises(TransitionError, match="Only a generation in review.*“Final queued”"):
        generation_approve(generation_id=generation.pk, user=reviewer)

    assert Transition.objects.filter(generation=generation).count() == 1
    assert Generation.objects.get(pk=generation.pk).version == generation.version + 1


@pytest.mark.parametrize("state", [s for s in State if s != State.IN_REVIEW])
def test_only_a_generation_in_review_can_be_approved(state, reviewer, designer, project):
    generation = _generation(project, designer, state)

    with pytest.raises(IllegalTransition):
        generation_approve(generation_id=generation.pk, user=reviewer)

    assert _state(generation) == state
    assert not generation.transitions.exists()


def test_a_stale_approve_does_not_restart_a_failed_final(reviewer, designer, project):
    """Retrying a failed 4K is a deliberate, separate action: it spends money again."""
    generation = _generation(project, designer, State.FINAL_FAILED, tries_used=3)

    with pytest.raises(IllegalTransition, match="“Final failed”"):
        generation_approve(generation_id=generation.pk, user=reviewer)

    stored = Generation.objects.get(pk=generation.pk)
    assert (stored.state, stored.tries_used) == (State.FINAL_FAILED, 3)


def test_rejecting_records_the_comment(reviewer, designer, project):
    generation = _generation(project, designer, State.IN_REVIEW)

    generation_reject(generation_id=generation.pk, user=reviewer, comment=" too dark ")

    assert _state(generation) == State.REJECTED
    assert generation.transitions.get().reason == "too dark"


@pytest.mark.parametrize("comment", ["", "   "])
def test_rejecting_requires_a_comment(comment, reviewer, designer, project):
    generation = _generation(project, designer, State.IN_REVIEW)

    with pytest.raises(ValidationError) as exc:
        generation_reject(generation_id=generation.pk, user=reviewer, comment=comment)

    assert set(exc.value.message_dict) == {"comment"}
    assert _state(generation) == State.IN_REVIEW
    assert not generation.transitions.exists()


@pytest.mark.parametrize("service", ["approve", "reject"])
def test_a_designer_cannot_review_even_their_own_work(service, designer, project):
    generation = _generation(project, designer, State.IN_REVIEW)
    call = {
        "approve": lambda: generation_approve(generation_id=generation.pk, user=designer),
        "reject": lambda: generation_reject(
            generation_id=generation.pk, user=designer, comment="meh"
        ),
    }[service]

    with pytest.raises(PermissionDenied):
        call()

    assert _state(generation) == State.IN_REVIEW


# --- an outsider can do nothing -------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "state"),
    [
        ("approve", State.IN_REVIEW),
        ("reject", State.IN_REVIEW),
        ("cancel", State.PREVIEW_QUEUED),
        ("retry", State.PREVIEW_FAILED),
        ("retry", State.FINAL_FAILED),
        ("revise", State.IN_REVIEW),
    ],
)
def test_an_outsider_can_do_nothing_to_a_generation(service, state, outsider, designer, project):
    generation = _generation(project, designer, state)
    calls = {
        "approve": lambda: generation_approve(generation_id=generation.pk, user=outsider),
        "reject": lambda: generation_reject(
            generation_id=generation.pk, user=outsider, comment="no"
        ),
        "cancel": lambda: services.generation_cancel(generation_id=generation.pk, user=outsider),
        "retry": lambda: services.generation_retry(generation_id=generation.pk, user=outsider),
        "revise": lambda: services.generation_revise(
            generation_id=generation.pk, user=outsider, prompt="mine now"
        ),
    }

    with pytest.raises(PermissionDenied):
        calls[service]()

    assert _state(generation) == state
    assert not Transition.objects.exists()
    assert Submission.objects.count() == 1


# --- cancel ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", CANCELLABLE)
def test_a_designer_cancels_their_own_generation(state, designer, project):
    generation = _generation(project, designer, state)

    services.generation_cancel(generation_id=generation.pk, user=designer, reason="wrong brief")

    stored = Generation.objects.get(pk=generation.pk)
    assert stored.state == State.CANCELLED
    assert (stored.lease_token, stored.next_attempt_at) == (None, None)
    audit = stored.transitions.get()
    assert (audit.from_state, audit.actor_kind, audit.reason) == (
        state,
        Actor.DESIGNER,
        "wrong brief",
    )


@pytest.mark.parametrize("state", NOT_CANCELLABLE)
def test_a_settled_or_failed_generation_cannot_be_cancelled(state, designer, project):
    generation = _generation(project, designer, state)

    with pytest.raises(IllegalTransition):
        services.generation_cancel(generation_id=generation.pk, user=designer)

    assert _state(generation) == state
    assert not generation.transitions.exists()


def test_a_designer_cannot_cancel_someone_elses_generation(designer, project):
    generation = _generation(project, UserFactory(username="colleague"), State.PREVIEW_QUEUED)

    with pytest.raises(PermissionDenied):
        services.generation_cancel(generation_id=generation.pk, user=designer)

    assert _state(generation) == State.PREVIEW_QUEUED


def test_an_admin_can_cancel_anyones_generation(project_admin, designer, project):
    generation = _generation(project, designer, State.FINAL_RENDERING)

    services.generation_cancel(generation_id=generation.pk, user=project_admin)

    assert _state(generation) == State.CANCELLED
    assert generation.transitions.get().actor_kind == Actor.ADMIN


def test_a_reviewer_cannot_cancel(reviewer, designer, project):
    generation = _generation(project, designer, State.IN_REVIEW)

    with pytest.raises(PermissionDenied):
        services.generation_cancel(generation_id=generation.pk, user=reviewer)


# --- retry ----------------------------------------------------------------------------


def test_a_designer_retries_a_failed_preview_with_fresh_tries(
    designer, project, kicked, django_capture_on_commit_callbacks
):
    generation = _generation(
        project, designer, State.PREVIEW_FAILED, tries_used=2, waiting_reason="x"
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.generation_retry(generation_id=generation.pk, user=designer)

    stored = Generation.objects.get(pk=generation.pk)
    assert stored.state == State.PREVIEW_QUEUED
    assert (stored.tries_used, stored.waiting_reason) == (0, "")
    assert stored.transitions.get().actor_kind == Actor.DESIGNER
    assert kicked == [generation.pk]


def test_a_reviewer_retries_a_failed_final(reviewer, designer, project):
    generation = _generation(project, designer, State.FINAL_FAILED, tries_used=3)

    services.generation_retry(generation_id=generation.pk, user=reviewer)

    stored = Generation.objects.get(pk=generation.pk)
    assert (stored.state, stored.tries_used) == (State.FINAL_QUEUED, 0)


def test_a_designer_cannot_retry_a_failed_final(designer, project):
    generation = _generation(project, designer, State.FINAL_FAILED)

    with pytest.raises(PermissionDenied):
        services.generation_retry(generation_id=generation.pk, user=designer)


def test_a_designer_cannot_retry_someone_elses_preview(designer, project):
    generation = _generation(project, UserFactory(username="colleague"), State.PREVIEW_FAILED)

    with pytest.raises(PermissionDenied):
        services.generation_retry(generation_id=generation.pk, user=designer)


@pytest.mark.parametrize(
    "state", [s for s in State if s not in {State.PREVIEW_FAILED, State.FINAL_FAILED}]
)
def test_only_failed_generations_can_be_retried(state, project_admin, designer, project):
    generation = _generation(project, designer, state)

    with pytest.raises(IllegalTransition, match="Only a failed preview or final"):
        services.generation_retry(generation_id=generation.pk, user=project_admin)

    assert _state(generation) == state


# --- revise ---------------------------------------------------------------------------


def test_revising_creates_a_linked_submission_with_the_new_prompt(
    designer, project, django_capture_on_commit_callbacks
):
    original = _submit(designer, project, variants=2)
    revised = original.generations.get(variant=2)
    Generation.objects.filter(pk=revised.pk).update(state=State.IN_REVIEW)
    generation_reject(
        generation_id=revised.pk,
        user=UserFactory(username="boss", is_superuser=True),
        comment="needs more contrast",
    )

    with django_capture_on_commit_callbacks() as callbacks:
        submission = services.generation_revise(
            generation_id=revised.pk, user=designer, prompt="the same, with more contrast"
        )

    assert submission.pk != original.pk
    assert submission.parent_id == revised.pk
    assert submission.prompt == "the same, with more contrast"
    assert (submission.model_key, submission.aspect_ratio, submission.preview_size) == (
        "nano-banana-pro",
        "16:9",
        "2K",
    )
    (generation,) = submission.generations.all()
    assert generation.state == State.PREVIEW_QUEUED
    assert generation.transitions.get().reason == f"revision of #{revised.pk}"
    assert len(callbacks) == 1
    assert list(revised.revisions.all()) == [submission]
    assert _state(revised) == State.REJECTED, "the revised generation itself is untouched"


def test_a_revision_may_change_size_and_variants(designer, project):
    generation = _generation(project, designer, State.IN_REVIEW)

    submission = services.generation_revise(
        generation_id=generation.pk,
        user=designer,
        prompt="wider",
        aspect_ratio="21:9",
        preview_size="1K",
        variants=4,
    )

    assert (submission.aspect_ratio, submission.preview_size) == ("21:9", "1K")
    assert submission.generations.count() == 4


def test_a_revision_is_validated_like_a_submission(designer, project):
    generation = _generation(project, designer, State.IN_REVIEW)

    with pytest.raises(ValidationError) as exc:
        services.generation_revise(generation_id=generation.pk, user=designer, prompt="  ")

    assert set(exc.value.message_dict) == {"prompt"}
    assert Submission.objects.count() == 1


def test_a_reviewer_cannot_revise(reviewer, designer, project):
    generation = _generation(project, designer, State.REJECTED)

    with pytest.raises(PermissionDenied):
        services.generation_revise(generation_id=generation.pk, user=reviewer, prompt="x")


def test_a_model_that_cannot_render_the_projects_final_size_is_refused_with_the_reason(
    project, designer, settings
):
    settings.STUDIO_MODELS = {
        **settings.STUDIO_MODELS,
        "tiny": {"label": "Tiny", "provider": "local", "model_id": "tiny-1k", "sizes": ["1K"]},
    }
    with pytest.raises(ValidationError) as raised:
        services.submission_create(
            project=project,
            user=designer,
            prompt="a kite",
            model_key="tiny",
            aspect_ratio="1:1",
            preview_size="1K",
            variants=1,
        )
    assert "renders at most 1K" in str(raised.value.message_dict["model_key"])
    assert not Submission.objects.exists()
