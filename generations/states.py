"""The preview-then-upgrade state machine as data: the states, who may move them (one
table of allowed transitions), the state sets the rest of the code asks about, and the
errors a refused move raises. No database access: models and every domain import it.
"""

from __future__ import annotations

from django.db import models


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
    # The final was stored but its fidelity to the approved preview is under the project's
    # threshold: a reviewer accepts it, has it re-rendered from the preview, or delivers
    # the upscale of the preview instead. Never delivered silently.
    FINAL_DIFFERS = "final_differs", "Final differs from the approved preview"
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
    (S.FINAL_RENDERING, S.FINAL_DIFFERS): frozenset({A.WORKER}),  # under the threshold
    (S.FINAL_DIFFERS, S.DELIVERED): frozenset({A.REVIEWER, A.ADMIN}),  # accept it
    # re-render from the preview, or deliver the upscale (a new round, a new charge)
    (S.FINAL_DIFFERS, S.FINAL_QUEUED): frozenset({A.REVIEWER, A.ADMIN}),
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
    {
        S.FINAL_QUEUED,
        S.FINAL_RENDERING,
        S.FINAL_DIFFERS,
        S.DELIVERED,
        S.DELIVERED_FALLBACK,
        S.FINAL_FAILED,
    }
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
