"""Reviewers' decisions: approve (which reserves the final and queues it), reject, ask
for changes, approve several, and the system's auto-approve when a project's review is off.
Each is made once: a lost race reads as who decided first.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.utils import timezone

from generations import catalog, flow, offpeak, services
from generations.lanes import ECONOMY_WAIT, Lane
from generations.models import Generation, Image, Phase, Transition
from generations.notifications import review_required
from generations.permissions import Action, require
from generations.spend import budgets
from generations.states import Actor, IllegalTransition, State, TransitionConflict, TransitionError
from generations.strategies import Strategy
from generations.types import User

# What a reviewer's decision moves a generation to, and how the timeline says it.
DECISIONS: dict[str, str] = {
    State.FINAL_QUEUED: "approved",
    State.REJECTED: "rejected",
    State.CHANGES_REQUESTED: "asked for changes to",
    State.CANCELLED: "cancelled",
}


MAX_NOTE_CHARS = 500  # the approve form's note
# What an economy final's card says until the poller sends it in a batch job.
ECONOMY_QUEUED = "Economy lane: goes in the next Batch API job (half price, up to 24 h)"


def generation_approve(
    *, generation_id: int, user: User, note: str = "", strategy: str = "", lane: str = ""
) -> Generation:
    """Approve, reserving the final at its strategy's price in its lane. `strategy`
    overrides the project's escalation strategy for this final, `lane` the project's
    default lane: now, economy (the Batch API at half price, up to 24 h) or off-peak (now's
    price, held for the model's good hours up to a deadline: generations.offpeak)."""
    if len(note) > MAX_NOTE_CHARS:
        # Refused whole: a paid approval never goes through with its note dropped.
        raise ValidationError(
            {"note": f"Keep the note to {MAX_NOTE_CHARS} characters (it has {len(note):,})."}
        )
    if strategy and strategy not in Strategy.values:
        raise ValidationError({"strategy": "Choose one of the listed ways to make the final."})
    if lane and lane not in offpeak.APPROVAL_LANE_VALUES:
        raise ValidationError({"lane": "Choose now, economy or off-peak."})
    generation = services.generation_load(generation_id)
    actor = require(user, Action.APPROVE, generation)
    # On the object too: the reservation (in flow.apply) prices the final by it.
    generation.escalation_strategy = strategy
    resolved = catalog.escalation(
        asked=strategy or generation.project.escalation_strategy,
        model_key=generation.submission.final_model,
        preview_key=generation.submission.model_key,
    )
    # --- the lane (issue 15): now, economy (Batch API) or off-peak (now's price, later) ---
    final_lane, lane_note = catalog.final_lane(
        asked=Lane.STANDARD if lane in (offpeak.NOW, offpeak.OFF_PEAK) else lane,
        default=generation.project.final_lane,
        model_key=generation.submission.final_model,
        strategy=resolved.strategy,
    )
    if lane == Lane.BATCH and lane_note:
        # Asked for by name: refused rather than silently sent now at the full price.
        raise ValidationError({"lane": lane_note})
    generation.final_lane = final_lane  # the reservation prices the final in its lane
    reason = note.strip() or "approved"
    if strategy or resolved.fell_back:
        reason += f"; final {resolved.strategy.label.lower()}"
    if final_lane == Lane.BATCH:
        reason += f"; economy lane (Batch API, half price, {ECONOMY_WAIT})"
    elif lane_note:
        reason += f"; now, not the project's economy lane: {lane_note}"
    changes: dict[str, Any] = {
        "tries_used": 0,
        "last_error": "",
        "waiting_reason": ECONOMY_QUEUED if final_lane == Lane.BATCH else "",
        "escalation_strategy": strategy,
        "final_lane": final_lane,
        "not_before": None,
    }
    if lane == offpeak.OFF_PEAK:
        plan = offpeak.offpeak_plan(
            model_key=generation.submission.final_model, size=generation.submission.final_size
        )
        if plan is None:
            raise ValidationError(
                {"lane": "No good hours are known for this model yet: approve it now."}
            )
        reason += f"; off-peak lane — {plan.text}"
        if plan.runs_at > timezone.now():
            changes.update(
                not_before=plan.runs_at, next_attempt_at=plan.runs_at, waiting_reason=plan.waiting
            )
    return _decide(
        generation, State.FINAL_QUEUED, actor=actor, user=user, reason=reason, changes=changes
    )


class DiffersChoice(models.TextChoices):
    """A reviewer's answer to a final that differs from the approved preview."""

    ACCEPT = "accept", "Accept this final"
    RERENDER = "rerender", "Re-render from the preview"
    UPSCALE = "upscale", "Deliver the upscale"


def final_differs_decide(
    *, generation_id: int, user: User, choice: str, note: str = ""
) -> Generation:
    """Accept a final held because it differs from its approved preview (delivered as it
    is, nothing more charged), or start a new final round from the preview (charged as a
    render from it: the image plus the preview as input image) or as an upscale (charged
    at the upscale's list price). The held final is replaced by the new one; its charge
    and its fidelity stay on its attempt."""
    if choice not in DiffersChoice.values:
        raise ValidationError({"choice": "Choose accept, re-render or upscale."})
    generation = services.generation_load(generation_id)
    actor = require(user, Action.APPROVE, generation)
    if generation.state != State.FINAL_DIFFERS:
        raise IllegalTransition(
            f"Only a final that differs from its preview waits for this decision; "
            f"#{generation.pk} is “{generation.state_label}”."
        )
    final = generation.images.filter(phase=Phase.FINAL).first()
    measured = (
        f" (similarity {final.fidelity_ssim:.2f})"
        if final is not None and final.fidelity_ssim is not None
        else ""
    )
    said = f": {note.strip()}" if note.strip() else ""
    if choice == DiffersChoice.ACCEPT:
        return flow.apply(
            generation,
            State.DELIVERED,
            actor=actor,
            user=user,
            reason=f"accepted the final that differs from the approved preview{measured}{said}",
        )
    strategy = Strategy.FROM_PREVIEW if choice == DiffersChoice.RERENDER else Strategy.UPSCALE
    resolved = catalog.escalation(
        asked=strategy,
        model_key=generation.submission.final_model,
        preview_key=generation.submission.model_key,
    )
    if resolved.fell_back:
        raise ValidationError({"choice": resolved.note + " Accept it or deliver the upscale."})
    generation.escalation_strategy = strategy  # the new round's reservation prices by it
    generation.final_lane = Lane.STANDARD  # the reviewer is waiting on it: made now
    with transaction.atomic():
        moved = flow.apply(
            generation,
            State.FINAL_QUEUED,
            actor=actor,
            user=user,
            reason=f"{DiffersChoice(choice).label.lower()} instead of the final that differs "
            f"from the approved preview{measured}{said}",
            changes={
                "tries_used": 0,
                "last_error": "",
                "waiting_reason": "",
                "escalation_strategy": strategy,
                "final_lane": Lane.STANDARD,
            },
        )
        if final is not None:
            _discard_final(final)
    return moved


def _discard_final(image: Image) -> None:
    """The held final's row goes now, its files once that commits (the attempt keeps its
    charge and fidelity). A held final was rendered, so it shares no file with the preview."""
    names = [field.name for field in (image.original, image.thumbnail, image.screen) if field.name]
    image.delete()

    def delete_files() -> None:
        for name in names:
            default_storage.delete(name)

    transaction.on_commit(delete_files)


def generation_reject(*, generation_id: int, user: User, comment: str) -> Generation:
    comment = comment.strip()
    if not comment:
        raise ValidationError({"comment": "Say why you reject it, so the designer can revise."})
    generation = services.generation_load(generation_id)
    actor = require(user, Action.REJECT, generation)
    return _decide(generation, State.REJECTED, actor=actor, user=user, reason=comment)


def generation_request_changes(*, generation_id: int, user: User, comment: str) -> Generation:
    """Send it back to the designer with what to change; they revise it into a new
    submission linked to this generation."""
    comment = comment.strip()
    if not comment:
        raise ValidationError({"comment": "Say what should change, so the designer can revise."})
    generation = services.generation_load(generation_id)
    actor = require(user, Action.REQUEST_CHANGES, generation)
    return _decide(generation, State.CHANGES_REQUESTED, actor=actor, user=user, reason=comment)


def generation_approve_many(
    *, generation_ids: list[int], user: User, note: str = "", strategy: str = "", lane: str = ""
) -> tuple[list[Generation], dict[int, str]]:
    """Approve each one on its own (one may lose a race, or have no economy lane, without
    undoing the others), each with `strategy` and `lane` as generation_approve takes them.
    Returns the approved generations and, for the rest, why not."""
    approved: list[Generation] = []
    refused: dict[int, str] = {}
    for generation_id in dict.fromkeys(generation_ids):
        try:
            approved.append(
                generation_approve(
                    generation_id=generation_id, user=user, note=note, strategy=strategy, lane=lane
                )
            )
        except Generation.DoesNotExist:
            refused[generation_id] = f"Generation #{generation_id} does not exist."
        except (PermissionDenied, TransitionError) as error:
            refused[generation_id] = str(error)
        except ValidationError as error:
            refused[generation_id] = f"#{generation_id} not approved: {' '.join(error.messages)}"
    return approved, refused


def generation_auto_approve(
    *, generation: Generation, review_required_now: bool | None = None
) -> Generation | None:
    """A preview that just landed in review, in a project that does not require review:
    the system approves it straight to the final (audited as actor "system"). Called by
    the worker in the transaction that records the preview, so no job is lost between
    the two. Returns None when the project requires review. `review_required_now`: the
    setting as the worker read it in this transaction (else it is read here)."""
    if generation.state != State.IN_REVIEW:
        return None
    if review_required_now is None:
        review_required_now = review_required(generation.project_id)
    if review_required_now:
        return None
    # The project's default lane, where the model has it (else now).
    resolved = catalog.escalation(
        asked=generation.project.escalation_strategy,
        model_key=generation.submission.final_model,
        preview_key=generation.submission.model_key,
    )
    final_lane, _ = catalog.final_lane(
        asked="",
        default=generation.project.final_lane,
        model_key=generation.submission.final_model,
        strategy=resolved.strategy,
    )
    generation.final_lane = final_lane
    try:
        with transaction.atomic():  # a savepoint: over budget, the preview stays recorded
            return flow.apply(
                generation,
                State.FINAL_QUEUED,
                actor=Actor.SYSTEM,
                reason="approved automatically: the project does not require review"
                + ("; economy lane" if final_lane == Lane.BATCH else ""),
                changes={
                    "tries_used": 0,
                    "last_error": "",
                    "waiting_reason": "",
                    "final_lane": final_lane,
                },
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
    user: User,
    reason: str,
    changes: dict[str, Any] | None = None,
) -> Generation:
    """A reviewer's decision on a generation in review: made once. A second decision
    (a stale page, or another reviewer deciding at the same moment) is refused with
    who decided what, and when."""
    if generation.state != State.IN_REVIEW:
        # final_failed -> final_queued is also legal for a reviewer, but that is a retry:
        # a stale "approve" must not silently start another paid 4K round.
        raise IllegalTransition(_already_decided(generation))
    try:
        return flow.apply(
            generation, target, actor=actor, user=user, reason=reason, changes=changes
        )
    except TransitionConflict as conflict:
        raise TransitionConflict(_already_decided(generation, conflict)) from conflict


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
        first = f"Someone decided first: {decided}" if decided else str(conflict).rstrip(" .")
        return f"{first}; #{generation.pk} is now “{now_in}”. Your decision was not recorded."
    return f"Only a generation in review can be decided on; #{generation.pk} is “{now_in}”" + (
        f": {decided}." if decided else "."
    )
