"""End to end through a real Celery worker process, the real broker and the database."""

from __future__ import annotations

import pytest

from generations import services
from generations.models import Attempt, Generation, Image, Transition
from generations.review.decisions import generation_approve
from generations.states import State
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def state_of(generation: Generation) -> str:
    return Generation.objects.values_list("state", flat=True).get(pk=generation.pk)


def submit_one(project, designer, *, size: str = "1K") -> Generation:
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt="a paper boat on a flooded street, morning light",
        model_key="nano-banana-pro",
        aspect_ratio="16:9",
        preview_size=size,
        variants=1,
    )
    return submission.generations.get()


def test_a_generation_goes_from_submit_to_delivered_through_a_real_worker(
    celery_worker, project, designer, reviewer
):
    celery_worker.start(profile="fixed:latency=0.2,fail=0")
    generation = submit_one(project, designer)

    wait_for(lambda: state_of(generation) == State.IN_REVIEW, timeout=60, what="preview")
    generation_approve(generation_id=generation.pk, user=reviewer)
    wait_for(lambda: state_of(generation) == State.DELIVERED, timeout=90, what="final")

    final = Image.objects.get(generation=generation, phase="final")
    assert (final.width, final.height) == (5504, 3072)  # the published 16:9 4K size
    assert final.native
    path = [(t.from_state, t.to_state, t.actor_kind) for t in generation.transitions.all()]
    assert path == [
        ("", "preview_queued", "designer"),
        ("preview_queued", "preview_rendering", "worker"),
        ("preview_rendering", "in_review", "worker"),
        ("in_review", "final_queued", "reviewer"),
        ("final_queued", "final_rendering", "worker"),
        ("final_rendering", "delivered", "worker"),
    ]


def test_a_worker_killed_mid_render_costs_only_time(celery_worker, project, designer):
    # Each render takes 4 s; the lease is the 1K timeout (6 s) plus 1 s of grace.
    celery_worker.start(profile="fixed:latency=4,fail=0")
    generation = submit_one(project, designer)
    wait_for(lambda: state_of(generation) == State.PREVIEW_RENDERING, timeout=60, what="rendering")

    celery_worker.kill()
    celery_worker.start(profile="fixed:latency=0.5,fail=0")
    wait_for(lambda: state_of(generation) == State.IN_REVIEW, timeout=60, what="recovery")

    attempts = list(Attempt.objects.filter(generation=generation).order_by("number"))
    assert [a.outcome for a in attempts] == ["abandoned", "succeeded"]
    assert attempts[0].error_kind == "lease_expired"
    reaped = Transition.objects.get(generation=generation, actor_kind="reaper")
    assert (reaped.from_state, reaped.to_state) == ("preview_rendering", "preview_queued")
    assert "lease expired" in reaped.reason
    assert Image.objects.filter(generation=generation).count() == 1
