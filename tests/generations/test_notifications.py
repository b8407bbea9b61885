"""Notifications that resolve themselves: one note per person, kind and submission (its
variants update it), and a request to review is resolved — read, off the bell — once
nothing of its submission waits for review any more."""

from __future__ import annotations

from generations import notifications
from generations.models import Notification
from generations.review import decisions
from generations.services import generation_cancel
from tests.support.review import in_review

Kind = Notification.Kind


def _notes(user, kind: str) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user, kind=kind))


def test_a_submission_of_three_variants_is_one_note_for_the_designer_and_one_per_reviewer(
    project, designer, reviewer
):
    in_review(project, designer, variants=3, prompt="a heron in reeds")

    ready, asked = _notes(designer, Kind.PREVIEW_READY), _notes(reviewer, Kind.REVIEW_REQUESTED)

    assert len(ready) == 1 and ready[0].count == 3
    assert ready[0].text.startswith("3 previews of “a heron in reeds” are ready")
    assert len(asked) == 1
    assert asked[0].text == "3 of dana’s previews await your review: “a heron in reeds”"
    assert notifications.unread_count(user=designer) == 1
    assert notifications.unread_count(user=reviewer) == 1


def test_deciding_every_variant_clears_the_reviewers_bell(project, designer, reviewer):
    first, second, third = in_review(project, designer, variants=3)

    decisions.generation_approve(generation_id=first.pk, user=reviewer)
    decisions.generation_reject(generation_id=second.pk, user=reviewer, comment="too dark")
    asked = _notes(reviewer, Kind.REVIEW_REQUESTED)[0]
    assert asked.resolved_at is None and asked.read_at is None
    assert asked.text.startswith("dana’s preview awaits review")
    assert notifications.unread_count(user=reviewer) == 1

    decisions.generation_request_changes(generation_id=third.pk, user=reviewer, comment="wider")

    asked.refresh_from_db()
    assert asked.resolved_at is not None and asked.read_at is not None
    assert notifications.unread_count(user=reviewer) == 0


def test_a_cancel_answers_the_request_too(project, designer, reviewer):
    (only,) = in_review(project, designer)

    generation_cancel(generation_id=only.pk, user=designer)

    assert notifications.unread_count(user=reviewer) == 0


def test_a_read_request_that_comes_back_for_a_new_variant_is_unread_again(
    project, designer, reviewer
):
    in_review(project, designer)
    notifications.notification_mark_read(user=reviewer)
    assert notifications.unread_count(user=reviewer) == 0

    in_review(project, designer)  # another submission: a note of its own

    assert notifications.unread_count(user=reviewer) == 1
    assert len(_notes(reviewer, Kind.REVIEW_REQUESTED)) == 2


def test_decisions_on_several_variants_are_one_note_that_counts_them(project, designer, reviewer):
    first, second = in_review(project, designer, variants=2)

    decisions.generation_approve(generation_id=first.pk, user=reviewer)
    decisions.generation_approve(generation_id=second.pk, user=reviewer)

    (approved,) = _notes(designer, Kind.APPROVED)
    assert approved.count == 2
    assert approved.generation_id == second.pk
    assert approved.text == f"rui approved #{second.pk} (2 variants of this submission so far)"
