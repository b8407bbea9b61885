"""In-app notifications: who hears of what, and marking them read.

Every notification is written in the same transaction as the event it announces:
`notify_transition` is called by flow.apply for every state change (whoever made it — a
person, a worker, the reaper or the system), `notify_comment` by the comment service. So
an event and its notifications commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from generations.models import (
    Comment,
    Generation,
    Membership,
    Notification,
    Project,
    Role,
    Submission,
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


def notify_transition(
    *,
    generation: Generation,
    source: State,
    target: State,
    actor: Actor,
    user: User | None,
    reason: str,
) -> None:
    """The notifications a state change calls for (most call for none). A person hears of
    a submission once per kind: its other variants update that note."""
    if source == State.IN_REVIEW:
        _review_answered(generation)
    if target not in _ANNOUNCED or (target == State.FINAL_QUEUED and source != State.IN_REVIEW):
        return  # claims, retries, requeues, cancels: nobody needs telling (no query spent)
    event = _Event(generation=generation, user=user, reason=reason)
    owner_id = generation.submission.created_by_id
    if target == State.IN_REVIEW:
        if not review_required(generation.project_id):
            return  # the system approves it at once; that approval is what people hear of
        _tell(owner_id, Kind.PREVIEW_READY, event)
        for reviewer_id in _reviewers(generation.project_id, exclude=owner_id):
            _tell(reviewer_id, Kind.REVIEW_REQUESTED, event)
    elif target == State.FINAL_QUEUED:
        _tell(owner_id, Kind.AUTO_APPROVED if actor == Actor.SYSTEM else Kind.APPROVED, event)
    elif target == State.FINAL_DIFFERS:
        # The reviewers decide (accept, re-render from the preview, deliver the upscale).
        for reviewer_id in _reviewers(generation.project_id, exclude=owner_id):
            _tell(reviewer_id, Kind.FINAL_DIFFERS, event)
    else:
        _tell(owner_id, _OWNER_HEARS[target], event)


def _text(kind: str, event: _Event, count: int) -> str:
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
        return _awaiting(submission, _in_review(submission.pk), ref)
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


def _tell(recipient: int, kind: str, event: _Event) -> None:
    """One note per person, kind and submission: a new one, or the existing one brought
    up to date (counted, unread again, on top) — never one note per variant."""
    actor_id = getattr(event.user, "pk", None)
    if recipient == actor_id:
        return  # nobody is told of what they did themselves
    generation, now = event.generation, timezone.now()
    note = (
        Notification.objects.select_for_update()
        .filter(recipient_id=recipient, kind=kind, submission_id=generation.submission_id)
        .order_by("-pk")
        .first()
    )
    if note is None:
        Notification.objects.create(
            recipient_id=recipient, kind=kind, generation_id=generation.pk,
            submission_id=generation.submission_id, actor_id=actor_id,
            text=_clip(_text(kind, event, 1)), created_at=now,
        )  # fmt: skip
        return
    count = note.count + 1
    Notification.objects.filter(pk=note.pk).update(
        count=count, generation_id=generation.pk, actor_id=actor_id,
        text=_clip(_text(kind, event, count)), created_at=now, read_at=None, resolved_at=None,
    )  # fmt: skip


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
    # Locked in recipient order, the order a worker writes them in (_reviewers is sorted):
    # an UPDATE takes rows in whatever order its scan meets them, and a worker recording
    # another variant of this submission at the same moment would deadlock with it.
    locked = list(
        Notification.objects.select_for_update()
        .filter(
            submission_id=generation.submission_id,
            kind=Kind.REVIEW_REQUESTED,
            resolved_at__isnull=True,
        )
        .order_by("recipient_id", "pk")
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


def _reviewers(project_id: int, *, exclude: int) -> list[int]:
    """Who is asked to review: the project's reviewers, or its admins if it has none."""
    rows = list(
        Membership.objects.filter(project_id=project_id, role__in=[Role.REVIEWER, Role.ADMIN])
        .exclude(user_id=exclude)
        .values_list("user_id", "role")
    )
    reviewers = {user_id for user_id, role in rows if role == Role.REVIEWER}
    return sorted(reviewers or {user_id for user_id, _ in rows})


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


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _TEXT_CHARS else flat[: _TEXT_CHARS - 1] + "…"


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
