"""In-app notifications: who hears of what, and marking them read.

Every notification is written in the same transaction as the event it announces:
`notify_transition` is called by flow.apply for every state change (whoever made it — a
person, a worker, the reaper or the system), `notify_comment` by the comment service. So
an event and its notifications commit or roll back together.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Case, CharField, F, QuerySet, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from generations.models import (
    Comment,
    Generation,
    Membership,
    Notification,
    Project,
    Role,
    Submission,
    WebhookEndpoint,
)
from generations.states import Actor, State
from generations.types import User

Kind = Notification.Kind
# The states whose arrival someone hears of (approval: only from review).
_ANNOUNCED = frozenset(
    {
        State.IN_REVIEW,
        State.FINAL_QUEUED,
        State.REJECTED,
        State.CHANGES_REQUESTED,
        State.DELIVERED,
        State.DELIVERED_FALLBACK,
        State.FINAL_FAILED,
        State.PREVIEW_FAILED,
        State.FINAL_DIFFERS,
    }
)
UNREAD_CAP = 99  # the header shows "99+" beyond this
_TEXT_CHARS = 300  # Notification.text


# What the owner hears when their generation arrives in a state (approval by who did it).
_OWNER_HEARS = {
    State.REJECTED: Kind.REJECTED,
    State.CHANGES_REQUESTED: Kind.CHANGES_REQUESTED,
    State.DELIVERED: Kind.DELIVERED,
    State.DELIVERED_FALLBACK: Kind.DELIVERED_FALLBACK,
    State.FINAL_FAILED: Kind.FINAL_FAILED,
    State.PREVIEW_FAILED: Kind.PREVIEW_FAILED,
}


@dataclass(frozen=True)
class _Event:
    generation: Generation
    user: User | None
    reason: str


@dataclass(frozen=True)
class Audience:
    """Who hears of a preview arriving in review (or a final that differs), read in one
    query in the move's transaction (`audience_read`): the project's review setting as
    it is now, its reviewers (or its admins, when it has none) other than the designer,
    the note each recipient already has of the submission, how many of the submission's
    previews wait in review (this one included), and whether the project has an enabled
    webhook endpoint. The worker reads it once and passes it along: to flow.apply for the
    notes and the webhooks, then to the auto-approval for the review setting."""

    review_required: bool
    reviewers: tuple[int, ...]
    notes: dict[tuple[int, str], int]  # (recipient, kind) -> the latest note's id
    waiting: int
    webhooks: bool


def audience_read(
    generation: Generation, *, owner_kind: str = Kind.PREVIEW_READY,
    reviewer_kind: str = Kind.REVIEW_REQUESTED,
) -> Audience:  # fmt: skip
    """The Audience of a move of `generation` into review (the notes of `owner_kind` for
    the designer and `reviewer_kind` for the reviewers): one query, whatever the number
    of reviewers — a row per reviewer or admin (none: one row of NULLs)."""
    owner_id = generation.submission.created_by_id
    # Plain SQL: the ORM's compilation of this query cost more CPU than the rest of the
    # outcome's transaction (bench/throughput.py); every name is the models' own.
    with connection.cursor() as cursor:
        cursor.execute(
            _audience_sql(),
            [
                State.IN_REVIEW, generation.pk, generation.submission_id,  # waiting
                owner_id, owner_kind, generation.submission_id,  # the designer's note
                reviewer_kind, generation.submission_id,  # each reviewer's note
                Role.REVIEWER, Role.ADMIN, owner_id,  # who is asked
                generation.project_id,
            ],
        )  # fmt: skip
        rows = cursor.fetchall()
    if not rows:  # the project is gone: nobody to tell, nothing to approve
        return Audience(True, (), {}, 1, False)
    required, waiting_now, webhooks, owner_note = rows[0][:4]
    notes = {(owner_id, owner_kind): owner_note} if owner_note else {}
    asked = [(user_id, role, note_id) for *_, user_id, role, note_id in rows if user_id]
    reviewers = {user_id for user_id, role, _ in asked if role == Role.REVIEWER}
    chosen = reviewers or {user_id for user_id, _, _ in asked}
    notes.update({(user_id, reviewer_kind): note_id for user_id, _, note_id in asked if note_id})
    return Audience(
        review_required=required is not False,
        reviewers=tuple(sorted(chosen)),
        notes=notes,
        waiting=int(waiting_now),
        webhooks=bool(webhooks),
    )


@functools.cache
def _audience_sql() -> str:
    q = connection.ops.quote_name
    project, membership = q(Project._meta.db_table), q(Membership._meta.db_table)
    generation, note = q(Generation._meta.db_table), q(Notification._meta.db_table)
    endpoint = q(WebhookEndpoint._meta.db_table)
    return (
        f"SELECT p.review_required, "  # noqa: S608 - our tables' names
        f"(SELECT COUNT(*) FROM {generation} g WHERE (g.state = %s OR g.id = %s) "
        "AND g.submission_id = %s), "
        f"EXISTS (SELECT 1 FROM {endpoint} e WHERE e.project_id = p.id AND e.enabled), "
        f"(SELECT MAX(n.id) FROM {note} n WHERE n.recipient_id = %s AND n.kind = %s "
        "AND n.submission_id = %s), "
        "m.user_id, m.role, "
        f"(SELECT MAX(n.id) FROM {note} n WHERE n.recipient_id = m.user_id AND n.kind = %s "
        "AND n.submission_id = %s) "
        f"FROM {project} p LEFT JOIN {membership} m ON m.project_id = p.id "
        "AND m.role IN (%s, %s) AND m.user_id <> %s "
        "WHERE p.id = %s"
    )


def notify_transition(
    *,
    generation: Generation,
    source: State,
    target: State,
    actor: Actor,
    user: User | None,
    reason: str,
    audience: Audience | None = None,
) -> None:
    """The notifications a state change calls for (most call for none). A person hears of
    a submission once per kind: its other variants update that note. `audience`: read by
    the caller in this transaction (else read here when the move needs it)."""
    if source == State.IN_REVIEW:
        _review_answered(generation)
    if target not in _ANNOUNCED or (target == State.FINAL_QUEUED and source != State.IN_REVIEW):
        return  # claims, retries, requeues, cancels: nobody needs telling (no query spent)
    event = _Event(generation=generation, user=user, reason=reason)
    owner_id = generation.submission.created_by_id
    if target == State.IN_REVIEW:
        audience = audience or audience_read(generation)
        if not audience.review_required:
            return  # the system approves it at once; that approval is what people hear of
        told = [(owner_id, Kind.PREVIEW_READY)]
        told += [(reviewer_id, Kind.REVIEW_REQUESTED) for reviewer_id in audience.reviewers]
        _tell_all(told, event, notes=audience.notes, waiting=audience.waiting)
    elif target == State.FINAL_QUEUED:
        _tell(owner_id, Kind.AUTO_APPROVED if actor == Actor.SYSTEM else Kind.APPROVED, event)
    elif target == State.FINAL_DIFFERS:
        # The reviewers decide (accept, re-render from the preview, deliver the upscale).
        audience = audience or audience_read(
            generation, owner_kind=Kind.FINAL_DIFFERS, reviewer_kind=Kind.FINAL_DIFFERS
        )
        told = [(reviewer_id, Kind.FINAL_DIFFERS) for reviewer_id in audience.reviewers]
        _tell_all(told, event, notes=audience.notes)
    else:
        _tell(owner_id, _OWNER_HEARS[target], event)


class _Later(int):
    """A count that stands for "the note's count after this event" in a note's text: it
    compares as 2 (more than one) and prints as a mark where SQL puts the count."""

    MARK = "\x00"

    def __str__(self) -> str:
        return self.MARK


def _text(kind: str, event: _Event, count: int, *, waiting: int | None = None) -> str:
    """What a note says, for the latest of `count` events of its kind in one submission."""
    generation, reason = event.generation, event.reason
    submission = generation.submission
    ref, prompt = f"#{generation.pk}", _quote(submission.prompt)
    who = event.user.get_username() if event.user is not None else ""
    said = f": {reason}" if reason else ""
    if kind == Kind.PREVIEW_READY:
        if count == 1:
            return f"Your preview {ref} is ready: {prompt}"
        return f"{count} previews of {prompt} are ready (latest {ref})"
    if kind == Kind.REVIEW_REQUESTED:
        return _awaiting(submission, _in_review(submission.pk) if waiting is None else waiting, ref)
    if kind == Kind.DELIVERED and count > 1:
        return f"{count} finals of {prompt} are delivered (latest {ref})."
    auto = f"{ref} was approved automatically (review is off); the final is queued."
    texts: dict[str, str] = {
        Kind.AUTO_APPROVED: auto,
        Kind.APPROVED: f"{who} approved {ref}{'' if reason == 'approved' else said}",
        Kind.REJECTED: f"{who} rejected {ref}{said}",
        Kind.CHANGES_REQUESTED: f"{who} asks for changes to {ref}{said}",
        Kind.DELIVERED: f"Your final {ref} is delivered.",
        Kind.DELIVERED_FALLBACK: f"Final {ref} fell back{said}",
        Kind.FINAL_FAILED: f"Your final {ref} failed{said}",
        Kind.PREVIEW_FAILED: f"Your preview {ref} failed{said}",
        Kind.FINAL_DIFFERS: f"Final {ref} differs from what you approved: accept it, "
        f"re-render it from the preview or deliver the upscale ({prompt})",
    }
    text = texts[kind]
    return text if count == 1 else f"{text} ({count} variants of this submission so far)"


def _counted_text(kind: str, event: _Event, *, waiting: int | None) -> Any:
    """The text of a note brought up to date, as SQL: its count is the row's count + 1,
    computed by the UPDATE itself (two variants recorded at once count to 3, not 2)."""
    # Room for the count's digits: the text is clipped before they go in.
    text = _clip(_text(kind, event, _Later(2), waiting=waiting), chars=_TEXT_CHARS - 12)
    before, mark, after = text.partition(_Later.MARK)
    if not mark:
        return Value(_clip(_text(kind, event, 2, waiting=waiting)))
    count = Cast(F("count") + 1, output_field=CharField())
    return Concat(Value(before), count, Value(after), output_field=CharField())


def _tell(recipient: int, kind: str, event: _Event) -> None:
    """One note per person, kind and submission: a new one, or the existing one brought
    up to date (counted, unread again, on top) — never one note per variant."""
    notes = _notes_of([(recipient, kind)], submission_id=event.generation.submission_id)
    _tell_all([(recipient, kind)], event, notes=notes)


def _notes_of(told: list[tuple[int, str]], *, submission_id: int) -> dict[tuple[int, str], int]:
    rows = Notification.objects.filter(
        recipient_id__in={recipient for recipient, _ in told},
        kind__in={kind for _, kind in told},
        submission_id=submission_id,
    ).order_by("pk")
    return {
        (recipient, kind): pk
        for pk, recipient, kind in rows.values_list("pk", "recipient_id", "kind")
    }


def _tell_all(
    told: Sequence[tuple[int, str]],
    event: _Event,
    *,
    notes: dict[tuple[int, str], int],
    waiting: int | None = None,
) -> None:
    """`_tell` for several recipients at once: one insert of the new notes, one update of
    those that exist (`notes`: their ids), whatever the number of recipients."""
    actor_id = getattr(event.user, "pk", None)
    told = [(recipient, kind) for recipient, kind in told if recipient != actor_id]
    generation, now = event.generation, timezone.now()
    fresh = [(recipient, kind) for recipient, kind in told if (recipient, kind) not in notes]
    if fresh:
        Notification.objects.bulk_create(
            Notification(
                recipient_id=recipient, kind=kind, generation_id=generation.pk,
                submission_id=generation.submission_id, actor_id=actor_id,
                text=_clip(_text(kind, event, 1, waiting=waiting)), created_at=now,
            )
            for recipient, kind in fresh
        )  # fmt: skip
    again: dict[str, list[int]] = {kind: [] for _, kind in told}
    for recipient, kind in told:
        if (recipient, kind) in notes:
            again[kind].append(notes[(recipient, kind)])
    ids = [pk for pks in again.values() for pk in pks]
    if not ids:
        return
    texts = [
        When(kind=kind, then=_counted_text(kind, event, waiting=waiting))
        for kind, pks in again.items()
        if pks
    ]
    Notification.objects.filter(pk__in=_locked_in_order(ids)).update(
        count=F("count") + 1, generation_id=generation.pk, actor_id=actor_id,
        text=Case(*texts, output_field=CharField()), created_at=now, read_at=None,
        resolved_at=None,
    )  # fmt: skip


def _locked_in_order(ids: list[int]) -> Subquery:
    """The notes `ids`, locked in id order by the UPDATE that uses this (one statement):
    every writer of several notes takes them in that order, or an approval and a worker
    recording another variant, each holding one note the other wants, deadlock."""
    return Subquery(
        Notification.objects.filter(pk__in=ids).order_by("pk").select_for_update().values("pk")
    )


def _in_review(submission_id: int) -> int:
    return Generation.objects.filter(submission_id=submission_id, state=State.IN_REVIEW).count()


def _awaiting(submission: Submission, waiting: int, ref: str) -> str:
    owner, prompt = submission.created_by.get_username(), _quote(submission.prompt)
    if waiting > 1:
        return f"{waiting} of {owner}’s previews await your review: {prompt}"
    preview = f"preview {ref}" if ref else "preview"
    return f"{owner}’s {preview} awaits review: {prompt}"


def _review_answered(generation: Generation) -> None:
    """A preview left review (decided, cancelled): the request to review its submission is
    resolved once none of its variants waits any more, else it says how many still do."""
    # Locked in id order, as _tell_all takes them: an UPDATE takes rows in whatever order
    # its scan meets them, and a worker recording another variant of this submission at
    # the same moment would deadlock with it.
    locked = list(
        Notification.objects.select_for_update()
        .filter(
            submission_id=generation.submission_id,
            kind=Kind.REVIEW_REQUESTED,
            resolved_at__isnull=True,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not locked:
        return
    # Counted once the notes are ours: a variant that a worker has just moved into review
    # (and told the reviewers of) keeps the request open.
    waiting = _in_review(generation.submission_id)
    asks = Notification.objects.filter(pk__in=locked)
    if waiting:
        asks.update(text=_clip(_awaiting(generation.submission, waiting, "")))
        return
    now = timezone.now()
    asks.update(resolved_at=now, read_at=Coalesce(F("read_at"), Value(now)))


def notify_comment(*, comment: Comment) -> None:
    """The designer hears of comments on their generation (not of their own)."""
    generation = comment.generation
    owner_id = generation.submission.created_by_id
    who = comment.author.get_username() if comment.author else "Someone"
    where = " (pinned)" if comment.pinned else ""
    text = f"{who} commented on #{generation.pk}{where}: {comment.body}"
    _create([(owner_id, Kind.COMMENTED, text)], generation=generation, actor=comment.author)


def review_required(project_id: int) -> bool:
    """Read fresh: the setting may have changed while the preview rendered."""
    value = Project.objects.filter(pk=project_id).values_list("review_required", flat=True).first()
    return value is not False


def _create(
    notes: Iterable[tuple[int, str, str]], *, generation: Generation, actor: User | None
) -> None:
    actor_id = getattr(actor, "pk", None)
    now = timezone.now()
    rows = [
        Notification(
            recipient_id=recipient,
            kind=kind,
            generation_id=generation.pk,
            submission_id=generation.submission_id,
            actor_id=actor_id,
            text=_clip(text),
            created_at=now,
        )
        for recipient, kind, text in notes
        if recipient != actor_id  # nobody is told of what they did themselves
    ]
    if rows:
        Notification.objects.bulk_create(rows)


def notify_people(*, recipients: Iterable[int], kind: str, text: str) -> None:
    """One note to each of `recipients` about something other than a generation (a
    budget threshold, a quality drop), in the caller's transaction."""
    now = timezone.now()
    Notification.objects.bulk_create(
        Notification(recipient_id=recipient, kind=kind, text=_clip(text), created_at=now)
        for recipient in sorted(set(recipients))
    )


def _quote(prompt: str, length: int = 80) -> str:
    flat = " ".join(prompt.split())
    return f"“{flat[: length - 1]}…”" if len(flat) > length else f"“{flat}”"


def _clip(text: str, *, chars: int = _TEXT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= chars else flat[: chars - 1] + "…"


# --- reads and marking read --------------------------------------------------------------


def notifications_of(*, user: User) -> QuerySet[Notification]:
    if not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    return Notification.objects.filter(recipient=user)


def unread_count(*, user: User) -> int:
    """What the bell counts: unread notes; a resolved one is read, so it never counts."""
    return notifications_of(user=user).filter(read_at__isnull=True).count()


def notifications_recent(*, user: User, limit: int = 50) -> list[Notification]:
    return list(
        notifications_of(user=user)
        .select_related("actor", "generation")
        .order_by("-created_at", "-pk")[:limit]
    )


def notification_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark some (or, with ids=None, all) of the user's unread notifications read."""
    unread = notifications_of(user=user).filter(read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


def notification_open(*, user: User, pk: int) -> Notification:
    """The user's notification, marked read (DoesNotExist if it is not theirs)."""
    notification = notifications_of(user=user).get(pk=pk)
    if notification.read_at is None:
        notification_mark_read(user=user, ids=[pk])
        notification.refresh_from_db(fields=["read_at"])
    return notification
