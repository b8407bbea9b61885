"""Writes that people make: submit, approve, reject, request changes, cancel, retry,
revise — and the one the system makes for them (auto-approve, when review is off).

Each checks permission (generations.permissions), then moves the state machine
(generations.flow). Worker-side writes live in generations.rendering.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from generations import budgets, catalog, flow
from generations.flow import Actor, State
from generations.models import Generation, Phase, Project, Submission, Transition
from generations.notifications import review_required
from generations.permissions import Action, require, require_project_role
from generations.sizes import SIZES

MAX_VARIANTS = 4
# What a reviewer's decision moves a generation to, and how the timeline says it.
DECISIONS: dict[str, str] = {
    State.FINAL_QUEUED: "approved",
    State.REJECTED: "rejected",
    State.CHANGES_REQUESTED: "asked for changes to",
    State.CANCELLED: "cancelled",
}


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
        project=project,
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
            final_size=project.final_size,
            variants=variants,
            parent=parent,
        )
        reason = f"revision of #{parent.pk}" if parent else "submitted"
        generations = []
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
            generations.append(generation)
        # One reservation per preview; over budget, nothing of the submission remains.
        budgets.budget_reserve(
            generations=generations,
            phase=Phase.PREVIEW,
            project_id=project.pk,
            user_id=user.pk,
            unit=budgets.phase_price(model_key=model_key, size=preview_size),
            what=f"{variants} preview{'s' if variants != 1 else ''} at {preview_size}",
        )
    return submission


def _validate_request(
    *,
    project: Project,
    prompt: str,
    model_key: str,
    aspect_ratio: str,
    preview_size: str,
    variants: int,
) -> None:
    errors: dict[str, str] = {}
    if not prompt:
        errors["prompt"] = "Write a prompt."
    try:
        model = catalog.get_model(model_key)
    except LookupError:
        errors["model_key"] = "Choose one of the listed models."
    else:
        if project.allowed_models and model_key not in project.allowed_models:
            errors["model_key"] = f"{project.name} does not allow {model.label}."
        elif not _bigger_or_same(model.final_size, project.final_size):
            # e.g. a 1K-only model: its "final" would be another preview, paid twice.
            errors["model_key"] = (
                f"{model.label} renders at most {model.final_size}, so it cannot make "
                f"{project.name}'s {project.final_size} finals."
            )
        if aspect_ratio not in model.aspect_ratios:
            errors["aspect_ratio"] = f"{model.label} does not offer {aspect_ratio}."
        if preview_size not in model.preview_sizes:
            errors["preview_size"] = f"{model.label} does not preview at {preview_size}."
        elif _bigger_or_same(preview_size, project.final_size):
            errors["preview_size"] = (
                f"{project.name} renders finals at {project.final_size}: preview smaller than that."
            )
    if not 1 <= variants <= MAX_VARIANTS:
        errors["variants"] = f"Ask for 1 to {MAX_VARIANTS} variants."
    if errors:
        raise ValidationError(errors)


def _bigger_or_same(size: str, than: str) -> bool:
    order = {name: rank for rank, name in enumerate(SIZES)}
    return order.get(size, 0) >= order.get(than, len(SIZES))


def generation_approve(*, generation_id: int, user: Any, note: str = "") -> Generation:
    generation = _load(generation_id)
    actor = require(user, Action.APPROVE, generation)
    return _decide(
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
    return _decide(generation, State.REJECTED, actor=actor, user=user, reason=comment)


def generation_request_changes(*, generation_id: int, user: Any, comment: str) -> Generation:
    """Send it back to the designer with what to change; they revise it into a new
    submission linked to this generation."""
    comment = comment.strip()
    if not comment:
        raise ValidationError({"comment": "Say what should change, so the designer can revise."})
    generation = _load(generation_id)
    actor = require(user, Action.REQUEST_CHANGES, generation)
    return _decide(generation, State.CHANGES_REQUESTED, actor=actor, user=user, reason=comment)


def generation_approve_many(
    *, generation_ids: list[int], user: Any, note: str = ""
) -> tuple[list[Generation], dict[int, str]]:
    """Approve each one on its own (one may lose a race without undoing the others).
    Returns the approved generations and, for the rest, why not."""
    approved: list[Generation] = []
    refused: dict[int, str] = {}
    for generation_id in dict.fromkeys(generation_ids):
        try:
            approved.append(generation_approve(generation_id=generation_id, user=user, note=note))
        except Generation.DoesNotExist:
            refused[generation_id] = f"Generation #{generation_id} does not exist."
        except (PermissionDenied, flow.TransitionError) as error:
            refused[generation_id] = str(error)
    return approved, refused


def generation_auto_approve(*, generation: Generation) -> Generation | None:
    """A preview that just landed in review, in a project that does not require review:
    the system approves it straight to the final (audited as actor "system"). Called by
    the worker in the transaction that records the preview, so no job is lost between
    the two. Returns None when the project requires review."""
    if generation.state != State.IN_REVIEW or review_required(generation.project_id):
        return None
    try:
        with transaction.atomic():  # a savepoint: over budget, the preview stays recorded
            return flow.apply(
                generation,
                State.FINAL_QUEUED,
                actor=Actor.SYSTEM,
                reason="approved automatically: the project does not require review",
                changes={"tries_used": 0, "last_error": "", "waiting_reason": ""},
            )
    except budgets.BudgetExceeded as refused:
        # Left in review with the reason on its card, for a person to decide.
        why = f"Not approved automatically: {refused.short}"
        Generation.objects.filter(pk=generation.pk).update(waiting_reason=why[:200])
        generation.waiting_reason = why[:200]
        return None


def _decide(
    generation: Generation,
    target: State,
    *,
    actor: Actor,
    user: Any,
    reason: str,
    changes: dict[str, Any] | None = None,
) -> Generation:
    """A reviewer's decision on a generation in review: made once. A second decision
    (a stale page, or another reviewer deciding at the same moment) is refused with
    who decided what, and when."""
    if generation.state != State.IN_REVIEW:
        # final_failed -> final_queued is also legal for a reviewer, but that is a retry:
        # a stale "approve" must not silently start another paid 4K round.
        raise flow.IllegalTransition(_already_decided(generation))
    try:
        return flow.apply(
            generation, target, actor=actor, user=user, reason=reason, changes=changes
        )
    except flow.TransitionConflict as conflict:
        raise flow.TransitionConflict(_already_decided(generation, conflict)) from conflict


def _already_decided(generation: Generation, conflict: Exception | None = None) -> str:
    """Why a decision was refused, saying who decided first, what and when."""
    current = (
        Generation.objects.filter(pk=generation.pk).values_list("state", flat=True).first()
        or generation.state
    )
    now_in = State(current).label
    last = (
        Transition.objects.filter(generation_id=generation.pk, from_state=State.IN_REVIEW)
        .select_related("actor")
        .order_by("-created_at", "-pk")
        .first()
    )
    decided = ""
    if last is not None and last.to_state in DECISIONS:
        who = last.actor.get_username() if last.actor else Actor(last.actor_kind).label
        when = timezone.localtime(last.created_at).strftime("%H:%M:%S")
        decided = f"{who} {DECISIONS[last.to_state]} it at {when}"
    if conflict is not None:
        first = f"Someone decided first: {decided}" if decided else str(conflict)
        return f"{first}; #{generation.pk} is now “{now_in}”. Your decision was not recorded."
    return f"Only a generation in review can be decided on; #{generation.pk} is “{now_in}”" + (
        f": {decided}." if decided else "."
    )


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
