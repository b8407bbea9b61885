"""Writes that people make: submit, approve, reject, cancel, retry, revise.

Each checks permission (generations.permissions), then moves the state machine
(generations.flow). Worker-side writes live in generations.rendering.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from generations import catalog, flow
from generations.flow import State
from generations.models import Generation, Project, Submission
from generations.permissions import Action, require, require_project_role
from generations.sizes import FINAL_SIZE

MAX_VARIANTS = 4


def submission_create(
    *,
    project: Project,
    user: Any,
    prompt: str,
    model_key: str,
    aspect_ratio: str,
    preview_size: str,
    variants: int,
    parent: Generation | None = None,
) -> Submission:
    """Queue one preview per variant; the cards exist (and are kicked) at once."""
    actor = require_project_role(user, Action.SUBMIT, project)
    prompt = prompt.strip()
    _validate_request(
        prompt=prompt,
        model_key=model_key,
        aspect_ratio=aspect_ratio,
        preview_size=preview_size,
        variants=variants,
    )
    now = timezone.now()
    with transaction.atomic():
        submission = Submission.objects.create(
            project=project,
            created_by=user,
            prompt=prompt,
            model_key=model_key,
            aspect_ratio=aspect_ratio,
            preview_size=preview_size,
            final_size=FINAL_SIZE,
            variants=variants,
            parent=parent,
        )
        reason = f"revision of #{parent.pk}" if parent else "submitted"
        for variant in range(1, variants + 1):
            generation = Generation.objects.create(
                submission=submission,
                project=project,
                variant=variant,
                seed=secrets.randbits(31),
                state=State.PREVIEW_QUEUED,
                state_changed_at=now,
                created_at=now,
                next_attempt_at=now,
                kicked_at=now,
            )
            flow.record_creation(generation, actor=actor, user=user, reason=reason)
    return submission


def _validate_request(
    *, prompt: str, model_key: str, aspect_ratio: str, preview_size: str, variants: int
) -> None:
    errors: dict[str, str] = {}
    if not prompt:
        errors["prompt"] = "Write a prompt."
    try:
        model = catalog.get_model(model_key)
    except LookupError:
        errors["model_key"] = "Choose one of the listed models."
    else:
        if aspect_ratio not in model.aspect_ratios:
            errors["aspect_ratio"] = f"{model.label} does not offer {aspect_ratio}."
        if preview_size not in model.preview_sizes:
            errors["preview_size"] = f"{model.label} does not preview at {preview_size}."
    if not 1 <= variants <= MAX_VARIANTS:
        errors["variants"] = f"Ask for 1 to {MAX_VARIANTS} variants."
    if errors:
        raise ValidationError(errors)


def generation_approve(*, generation_id: int, user: Any, note: str = "") -> Generation:
    generation = _load(generation_id)
    actor = require(user, Action.APPROVE, generation)
    if generation.state != State.IN_REVIEW:
        # final_failed -> final_queued is also legal for a reviewer, but that is a retry:
        # a stale "approve" must not silently start another paid 4K round.
        raise flow.IllegalTransition(
            f"Only a generation in review can be approved; this one is “{generation.state_label}”."
        )
    return flow.apply(
        generation,
        State.FINAL_QUEUED,
        actor=actor,
        user=user,
        reason=note.strip() or "approved",
        changes={"tries_used": 0, "last_error": "", "waiting_reason": ""},
    )


def generation_reject(*, generation_id: int, user: Any, comment: str) -> Generation:
    comment = comment.strip()
    if not comment:
        raise ValidationError({"comment": "Say why you reject it, so the designer can revise."})
    generation = _load(generation_id)
    actor = require(user, Action.REJECT, generation)
    return flow.apply(generation, State.REJECTED, actor=actor, user=user, reason=comment)


def generation_cancel(*, generation_id: int, user: Any, reason: str = "") -> Generation:
    generation = _load(generation_id)
    actor = require(user, Action.CANCEL, generation)
    return flow.apply(
        generation,
        State.CANCELLED,
        actor=actor,
        user=user,
        reason=reason.strip() or "cancelled",
        changes={"waiting_reason": "", "next_attempt_at": None},
    )


def generation_retry(*, generation_id: int, user: Any) -> Generation:
    """Start a fresh round of attempts for a failed preview or final."""
    generation = _load(generation_id)
    if generation.state == State.PREVIEW_FAILED:
        action, target = Action.RETRY_PREVIEW, State.PREVIEW_QUEUED
    elif generation.state == State.FINAL_FAILED:
        action, target = Action.RETRY_FINAL, State.FINAL_QUEUED
    else:
        raise flow.IllegalTransition(
            f"Only a failed preview or final can be retried; this one is "
            f"“{generation.state_label}”."
        )
    actor = require(user, action, generation)
    return flow.apply(
        generation,
        target,
        actor=actor,
        user=user,
        reason="retried by hand",
        changes={"tries_used": 0, "waiting_reason": ""},
    )


def generation_revise(
    *,
    generation_id: int,
    user: Any,
    prompt: str,
    aspect_ratio: str | None = None,
    preview_size: str | None = None,
    variants: int = 1,
) -> Submission:
    """A new submission from an edited prompt, linked to the generation it revises."""
    generation = _load(generation_id)
    require(user, Action.REVISE, generation)
    original = generation.submission
    return submission_create(
        project=generation.project,
        user=user,
        prompt=prompt,
        model_key=original.model_key,
        aspect_ratio=aspect_ratio or original.aspect_ratio,
        preview_size=preview_size or original.preview_size,
        variants=variants,
        parent=generation,
    )


def _load(generation_id: int) -> Generation:
    return Generation.objects.select_related("submission", "project").get(pk=generation_id)
