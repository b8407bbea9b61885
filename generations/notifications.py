"""In-app notifications: who hears of what, and marking them read.

Every notification is written in the same transaction as the event it announces:
`notify_transition` is called by flow.apply for every state change (whoever made it — a
person, a worker, the reaper or the system), `notify_comment` by the comment service. So
an event and its notifications commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from generations.models import Comment, Generation, Membership, Notification, Project, Role
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
    }
)
UNREAD_CAP = 99  # the header shows "99+" beyond this
_TEXT_CHARS = 300  # Notification.text


def notify_transition(
    *,
    generation: Generation,
    source: State,
    target: State,
    actor: Actor,
    user: User | None,
    reason: str,
) -> None:
    """The notifications a state change calls for (most call for none)."""
    if target not in _ANNOUNCED or (target == State.FINAL_QUEUED and source != State.IN_REVIEW):
        return  # claims, retries, requeues, cancels: nobody needs telling (no query spent)
    owner_id = generation.submission.created_by_id
    ref = f"#{generation.pk}"
    who = user.get_username() if user is not None else ""
    said = f": {reason}" if reason else ""
    notes: list[tuple[int, str, str]] = []  # (recipient, kind, text)
    if target == State.IN_REVIEW:
        if not review_required(generation.project_id):
            return  # the system approves it at once; that approval is what people hear of
        prompt = _quote(generation.submission.prompt)
        notes.append((owner_id, Kind.PREVIEW_READY, f"Your preview {ref} is ready: {prompt}"))
        owner_name = generation.submission.created_by.get_username()
        asking = f"{owner_name}’s preview {ref} awaits review: {prompt}"
        notes.extend(
            (reviewer_id, Kind.REVIEW_REQUESTED, asking)
            for reviewer_id in _reviewers(generation.project_id, exclude=owner_id)
        )
    elif target == State.FINAL_QUEUED and source == State.IN_REVIEW:
        if actor == Actor.SYSTEM:
            text = f"{ref} was approved automatically (review is off); the final is queued."
            notes.append((owner_id, Kind.AUTO_APPROVED, text))
        else:
            note = "" if reason == "approved" else said
            notes.append((owner_id, Kind.APPROVED, f"{who} approved {ref}{note}"))
    elif target == State.REJECTED:
        notes.append((owner_id, Kind.REJECTED, f"{who} rejected {ref}{said}"))
    elif target == State.CHANGES_REQUESTED:
        notes.append((owner_id, Kind.CHANGES_REQUESTED, f"{who} asks for changes to {ref}{said}"))
    elif target == State.DELIVERED:
        notes.append((owner_id, Kind.DELIVERED, f"Your final {ref} is delivered."))
    elif target == State.DELIVERED_FALLBACK:
        notes.append((owner_id, Kind.DELIVERED_FALLBACK, f"Final {ref} fell back{said}"))
    elif target == State.FINAL_FAILED:
        notes.append((owner_id, Kind.FINAL_FAILED, f"Your final {ref} failed{said}"))
    elif target == State.PREVIEW_FAILED:
        notes.append((owner_id, Kind.PREVIEW_FAILED, f"Your preview {ref} failed{said}"))
    _create(notes, generation=generation, actor=user)


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
