"""The one function that moves the state machine (generations.states holds its table).

Every transition is a compare-and-set UPDATE on (id, version, state), an audit row in the
same transaction, then its effects, in this order and in the same transaction: money
(reservations and roll-ups), notifications, webhook deliveries (rows now, kicked after
commit), and the kick to a worker after commit. An illegal transition or a lost race
raises and changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from generations import dispatch
from generations.models import Generation, Transition
from generations.notifications import Audience, notify_transition
from generations.spend.budgets import reservations_on_transition
from generations.spend.rollups import rollup_on_transition
from generations.states import (
    QUEUED,
    RENDERING,
    Actor,
    IllegalTransition,
    State,
    TransitionConflict,
    is_allowed,
)
from generations.types import User
from generations.webhooks.events import emit_transition


def apply(
    generation: Generation,
    target: State,
    *,
    actor: Actor,
    user: User | None = None,
    reason: str = "",
    attempt: int | None = None,
    lease_token: Any = None,
    changes: dict[str, Any] | None = None,
    savepoint: bool = True,
    attempt_running: bool = False,
    audience: Audience | None = None,
) -> Generation:
    """Move `generation` from the state it was read in to `target`, or raise.

    `changes` are extra columns written by the same UPDATE. With `lease_token`, only the
    current lease holder can make the move (a worker whose lease expired cannot).
    `savepoint=False`: the caller's transaction ends with the move (any error rolls all of
    it back), so the savepoint around the move would only cost two round trips (the
    worker's claim and its result).
    """
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
    with transaction.atomic(savepoint=savepoint):
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
        _spend(generation, source, State(target), attempt_running=attempt_running)
        # Whoever should hear of it (notifications), in the same transaction as the move.
        notify_transition(
            generation=generation,
            source=source,
            target=State(target),
            actor=Actor(actor),
            user=user,
            reason=reason,
            audience=audience,
        )
        # Webhook endpoints that subscribed to it: delivery rows now, kicked on commit.
        emit_transition(
            generation=generation,
            source=source,
            target=State(target),
            actor=Actor(actor),
            user=user,
            reason=reason,
            endpoints_exist=None if audience is None else audience.webhooks,
        )
        if due_now:
            _kick_on_commit(generation.pk)
    _written(generation, values)
    return generation


def _written(generation: Generation, values: dict[str, Any]) -> None:
    """Leave `generation` as the UPDATE left its row, without reading it back (nor its
    submission and project, which a refresh would drop): the guard matched the version
    it was read at, so the new version is that plus one; any other expression is read."""
    expressions = []
    for name, value in values.items():
        if name == "version":
            generation.version += 1
        elif hasattr(value, "resolve_expression"):
            expressions.append(name)
        else:
            setattr(generation, name, value)
    if expressions:
        generation.refresh_from_db(fields=expressions)


def record_creation(generation: Generation, *, actor: Actor, user: User, reason: str) -> None:
    """The first audit row: the generation was submitted straight into a queue."""
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


def record_creations(
    generations: list[Generation], *, actor: Actor, user: User | None, reasons: list[str]
) -> None:
    """`record_creation` for many generations created together (a batch): one insert of
    the audit rows. The caller kicks them after commit (a batch sends one message that a
    worker fans out: dispatch.kick_batch); a kick that never comes is the sweeper's, as
    every generation is created with `kicked_at`."""
    Transition.objects.bulk_create(
        Transition(
            generation_id=generation.pk,
            from_state="",
            to_state=generation.state,
            actor_kind=actor,
            actor_id=getattr(user, "pk", None),
            reason=reason,
            created_at=generation.created_at,
        )
        for generation, reason in zip(generations, reasons, strict=True)
    )


def _spend(generation: Generation, source: State, target: State, *, attempt_running: bool) -> None:
    reservations_on_transition(generation, source, target, attempt_running=attempt_running)
    # The savings report counts approved and delivered work from its roll-up.
    rollup_on_transition(generation_id=generation.pk, source=source, target=target)


def _kick_on_commit(generation_id: int) -> None:
    transaction.on_commit(lambda: dispatch.kick(generation_id))
