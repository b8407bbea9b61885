"""The preview-then-upgrade state machine: states, who may move them, and the one
function that moves them.

Every transition is a compare-and-set UPDATE on (id, version, state), an audit row in the
same transaction, and follow-up work enqueued only after commit. An illegal transition or a
lost race raises and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from generations.models import Generation


class State(models.TextChoices):
    PREVIEW_QUEUED = "preview_queued", "Preview queued"
    PREVIEW_RENDERING = "preview_rendering", "Preview rendering"
    PREVIEW_FAILED = "preview_failed", "Preview failed"
    IN_REVIEW = "in_review", "In review"
    REJECTED = "rejected", "Rejected"
    # The reviewer asked for a revision: the designer revises, and the new submission
    # links back to this generation (Submission.parent). Nothing more happens to it.
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    FINAL_QUEUED = "final_queued", "Final queued"
    FINAL_RENDERING = "final_rendering", "Final rendering"
    DELIVERED = "delivered", "Delivered"
    DELIVERED_FALLBACK = "delivered_fallback", "Delivered (fallback)"
    FINAL_FAILED = "final_failed", "Final failed"
    CANCELLED = "cancelled", "Cancelled"


class Actor(models.TextChoices):
    DESIGNER = "designer", "Designer"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"
    WORKER = "worker", "Worker"
    REAPER = "reaper", "Reaper"
    # The product itself, following a project setting (auto-approve when review is off).
    SYSTEM = "system", "System"


S, A = State, Actor
_PEOPLE_WHO_CANCEL = frozenset({A.DESIGNER, A.ADMIN})

# (from, to) -> who may trigger it. Anything not listed is illegal.
TRANSITIONS: dict[tuple[State, State], frozenset[Actor]] = {
    (S.PREVIEW_QUEUED, S.PREVIEW_RENDERING): frozenset({A.WORKER}),  # claim
    (S.PREVIEW_RENDERING, S.IN_REVIEW): frozenset({A.WORKER}),  # ok
    (S.PREVIEW_RENDERING, S.PREVIEW_QUEUED): frozenset({A.WORKER, A.REAPER}),  # retry / lease
    (S.PREVIEW_RENDERING, S.PREVIEW_FAILED): frozenset({A.WORKER, A.REAPER}),  # exhausted
    (S.PREVIEW_FAILED, S.PREVIEW_QUEUED): frozenset({A.DESIGNER, A.ADMIN}),  # manual retry
    (S.IN_REVIEW, S.FINAL_QUEUED): frozenset({A.REVIEWER, A.ADMIN, A.SYSTEM}),  # approve
    (S.IN_REVIEW, S.REJECTED): frozenset({A.REVIEWER, A.ADMIN}),  # reject
    (S.IN_REVIEW, S.CHANGES_REQUESTED): frozenset({A.REVIEWER, A.ADMIN}),  # request changes
    (S.FINAL_QUEUED, S.FINAL_RENDERING): frozenset({A.WORKER}),  # claim
    (S.FINAL_RENDERING, S.DELIVERED): frozenset({A.WORKER}),  # native 4K
    (S.FINAL_RENDERING, S.FINAL_QUEUED): frozenset({A.WORKER, A.REAPER}),  # retry / lease
    (S.FINAL_RENDERING, S.DELIVERED_FALLBACK): frozenset({A.WORKER, A.REAPER}),  # exhausted
    (S.FINAL_RENDERING, S.FINAL_FAILED): frozenset({A.WORKER, A.REAPER}),  # exhausted
    (S.FINAL_FAILED, S.FINAL_QUEUED): frozenset({A.REVIEWER, A.ADMIN}),  # manual retry
    **{
        (source, S.CANCELLED): _PEOPLE_WHO_CANCEL
        for source in (
            S.PREVIEW_QUEUED,
            S.PREVIEW_RENDERING,
            S.IN_REVIEW,
            S.FINAL_QUEUED,
            S.FINAL_RENDERING,
        )
    },
}

QUEUED = frozenset({S.PREVIEW_QUEUED, S.FINAL_QUEUED})
RENDERING = frozenset({S.PREVIEW_RENDERING, S.FINAL_RENDERING})
# Not in a worker's hands: waiting on a person, or ended.
SETTLED = frozenset(State) - QUEUED - RENDERING
# Nothing more can happen to it.
FINISHED = frozenset(
    {S.REJECTED, S.CHANGES_REQUESTED, S.DELIVERED, S.DELIVERED_FALLBACK, S.CANCELLED}
)


def poll_seconds(state: str) -> int | None:
    """How often a page showing this state should look again: often while a worker has
    it, now and then while it waits on a person (another may act), never once finished."""
    if state in FINISHED:
        return None
    return 10 if state in SETTLED else 2


FINAL_PHASE = frozenset(
    {S.FINAL_QUEUED, S.FINAL_RENDERING, S.DELIVERED, S.DELIVERED_FALLBACK, S.FINAL_FAILED}
)


def phase_of(state: str) -> str:
    return "final" if state in FINAL_PHASE else "preview"


class TransitionError(Exception):
    """A transition that did not happen; nothing was changed."""


class IllegalTransition(TransitionError):
    pass


class TransitionConflict(TransitionError):
    """Someone else moved the generation first (a lost race)."""


def is_allowed(source: str, target: str, actor: str) -> bool:
    return actor in TRANSITIONS.get((State(source), State(target)), frozenset())


def apply(
    generation: Generation,
    target: State,
    *,
    actor: Actor,
    user: AbstractBaseUser | None = None,
    reason: str = "",
    attempt: int | None = None,
    lease_token: Any = None,
    changes: dict[str, Any] | None = None,
) -> Generation:
    """Move `generation` from the state it was read in to `target`, or raise.

    `changes` are extra columns written by the same UPDATE. With `lease_token`, only the
    current lease holder can make the move (a worker whose lease expired cannot).
    """
    from generations.models import Generation, Transition

    source = State(generation.state)
    if not is_allowed(source, target, actor):
        raise IllegalTransition(
            f"A {Actor(actor).label.lower()} cannot move a generation from "
            f"“{source.label}” to “{State(target).label}”."
        )
    now = timezone.now()
    values: dict[str, Any] = {
        "state": target,
        "version": F("version") + 1,
        "state_changed_at": now,
        **(changes or {}),
    }
    if target in QUEUED and "next_attempt_at" not in values:
        values["next_attempt_at"] = now
    if target not in RENDERING:
        values.update(lease_token=None, lease_expires_at=None)
    due_now = target in QUEUED and values["next_attempt_at"] <= now
    if due_now:
        values["kicked_at"] = now

    guard = Generation.objects.filter(pk=generation.pk, version=generation.version, state=source)
    if lease_token is not None:
        guard = guard.filter(lease_token=lease_token)
    with transaction.atomic():
        if guard.update(**values) != 1:
            current = (
                Generation.objects.filter(pk=generation.pk).values_list("state", flat=True).first()
            )
            now_in = State(current).label if current else "deleted"
            raise TransitionConflict(
                f"Generation #{generation.pk} changed while you were acting: it is now "
                f"“{now_in}”, not “{source.label}”. Nothing was changed."
            )
        Transition.objects.create(
            generation_id=generation.pk,
            from_state=source,
            to_state=target,
            actor_kind=actor,
            actor_id=getattr(user, "pk", None),
            reason=reason,
            attempt=attempt,
            created_at=now,
        )
        # Money follows the move in its transaction: a phase that ends closes its
        # reservation, one that starts reserves against the budgets (or raises
        # budgets.BudgetExceeded, which rolls the move back).
        _spend(generation, source, State(target))
        # Whoever should hear of it (notifications), in the same transaction as the move.
        _notify(generation, source, State(target), actor=Actor(actor), user=user, reason=reason)
        if due_now:
            _kick_on_commit(generation.pk)
    generation.refresh_from_db()
    return generation


def record_creation(generation: Generation, *, actor: Actor, user: Any, reason: str) -> None:
    """The first audit row: the generation was submitted straight into a queue."""
    from generations.models import Transition

    Transition.objects.create(
        generation_id=generation.pk,
        from_state="",
        to_state=generation.state,
        actor_kind=actor,
        actor_id=getattr(user, "pk", None),
        reason=reason,
        created_at=generation.created_at,
    )
    _kick_on_commit(generation.pk)


def _notify(
    generation: Generation,
    source: State,
    target: State,
    *,
    actor: Actor,
    user: AbstractBaseUser | None,
    reason: str,
) -> None:
    from generations.notifications import notify_transition

    notify_transition(
        generation=generation, source=source, target=target, actor=actor, user=user, reason=reason
    )


def _spend(generation: Generation, source: State, target: State) -> None:
    from generations.budgets import reservations_on_transition
    from generations.rollups import rollup_on_transition

    reservations_on_transition(generation, source, target)
    # The savings report counts approved and delivered work from its roll-up.
    rollup_on_transition(generation_id=generation.pk, source=source, target=target)


def _kick_on_commit(generation_id: int) -> None:
    from generations.dispatch import kick

    transaction.on_commit(lambda: kick(generation_id))
