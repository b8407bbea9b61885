"""Helpers for the review workflow's tests: people, submissions and generations in a state."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from generations import services
from generations.models import Generation, Membership, Project, Role, Submission
from generations.rendering.jobs import generation_render
from generations.states import State
from tests.support.factories import GenerationFactory, SubmissionFactory, UserFactory
from tests.support.fakes import drain_cpu_queue


def member(project: Project, username: str, *roles: Role):
    user = UserFactory(username=username)
    for role in roles:
        Membership.objects.get_or_create(project=project, user=user, role=role)
    return user


def submit(
    project: Project,
    user,
    *,
    variants: int = 1,
    prompt: str = "a red kite over dunes",
    model_key: str = "nano-banana-pro",
) -> Submission:
    return services.submission_create(
        project=project,
        user=user,
        prompt=prompt,
        model_key=model_key,
        aspect_ratio="1:1",
        preview_size="1K",
        variants=variants,
    )


def rendered(generation: Generation) -> Generation:
    """One real worker step through the local provider (`instant` profile)."""
    generation_render(generation_id=generation.pk, worker="test")
    drain_cpu_queue()
    generation.refresh_from_db()
    return generation


def in_review(project: Project, designer, *, variants: int = 1, prompt: str = "a red kite"):
    """Real previews (with images) waiting for review."""
    submission = submit(project, designer, variants=variants, prompt=prompt)
    generations = [rendered(g) for g in submission.generations.order_by("variant")]
    assert all(g.state == State.IN_REVIEW for g in generations)
    return generations


def waiting(
    project: Project,
    designer,
    *,
    variants: int = 1,
    prompt: str = "a lighthouse at dusk",
    model_key: str = "nano-banana-pro",
    minutes_ago: float = 0,
    state: State = State.IN_REVIEW,
) -> list[Generation]:
    """Generations in `state` without images (fast): one submission, `variants` of them."""
    at = timezone.now() - dt.timedelta(minutes=minutes_ago)
    submission = SubmissionFactory(
        project=project, created_by=designer, variants=variants, prompt=prompt, model_key=model_key
    )
    return [
        GenerationFactory(
            submission=submission, variant=n, state=state, created_at=at, state_changed_at=at
        )
        for n in range(1, variants + 1)
    ]
