"""Planning keeps a draft; queueing creates every row's submission and generations, reserves
the whole batch against the budget or nothing, and kicks the workers after commit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from generations.batches import services
from generations.models import (
    Batch,
    Budget,
    Generation,
    Membership,
    Reservation,
    Role,
    Submission,
    Transition,
)
from generations.spend.budgets import BudgetExceeded
from generations.states import State
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db

HEADER = "prompt,aspect_ratio,variants,model,preview_size\n"
ROWS = (
    "a ceramic mug on an oak table,1:1,2,nano-banana-pro,1K\n"
    "a glass bottle on marble,16:9,1,nano-banana-2,1K\n"
    "a tote bag on a hook,3:4,3,nano-banana-2,2K\n"
)


@pytest.fixture
def kicks(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr("generations.dispatch.kick_batch", sent.append)
    return sent


def plan(project, user, rows: str = ROWS) -> Batch:
    return services.batch_plan_csv(
        project=project, user=user, filename="spring.csv", data=(HEADER + rows).encode()
    )


def test_planning_keeps_a_draft_and_queues_nothing(project, designer, price_list):
    batch = plan(project, designer)
    assert batch.is_draft and batch.source == Batch.Source.CSV and batch.name == "spring.csv"
    assert (batch.row_count, batch.generation_count) == (3, 6)
    assert [row["prompt"] for row in batch.rows] == [
        "a ceramic mug on an oak table",
        "a glass bottle on marble",
        "a tote bag on a hook",
    ]
    assert not Submission.objects.exists() and not Reservation.objects.exists()


def test_a_file_with_problems_keeps_no_draft(project, designer):
    with pytest.raises(ValidationError) as refused:
        plan(project, designer, rows="")
    assert refused.value.messages == ["The file has a header but no rows."]
    assert not Batch.objects.exists()


def test_queueing_creates_every_row_in_order_reserved_and_kicked_after_commit(
    project, designer, price_list, kicks, django_capture_on_commit_callbacks
):
    batch = plan(project, designer)
    with django_capture_on_commit_callbacks(execute=True):
        queued = services.batch_queue(batch_id=batch.pk, user=designer)

    assert queued.status == Batch.Status.QUEUED and queued.queued_at is not None
    assert queued.rows == []  # the submissions are the truth now
    submissions = list(Submission.objects.filter(batch=batch).order_by("batch_row"))
    assert [(s.batch_row, s.prompt[:12], s.variants, s.final_size) for s in submissions] == [
        (1, "a ceramic mu", 2, "4K"),
        (2, "a glass bott", 1, "4K"),
        (3, "a tote bag o", 3, "4K"),
    ]
    generations = list(Generation.objects.filter(submission__batch=batch).order_by("pk"))
    assert [(g.submission.batch_row, g.variant) for g in generations] == [
        (1, 1), (1, 2), (2, 1), (3, 1), (3, 2), (3, 3),
    ]  # fmt: skip
    assert {g.state for g in generations} == {State.PREVIEW_QUEUED}
    assert len({g.created_at for g in generations}) == 1  # row order = id order
    audit = Transition.objects.filter(generation__in=generations).order_by("generation_id")
    assert [(t.from_state, t.to_state, t.actor_kind) for t in audit][0] == (
        "",
        "preview_queued",
        "designer",
    )
    assert audit[3].reason == f"batch #{batch.pk}, row 3"
    reserved = Reservation.objects.filter(generation__in=generations).order_by("generation_id")
    assert [r.amount_usd for r in reserved] == [
        Decimal("0.134"), Decimal("0.134"),  # nano-banana-pro 1K
        Decimal("0.067"),  # nano-banana-2 1K
        Decimal("0.101"), Decimal("0.101"), Decimal("0.101"),  # nano-banana-2 2K
    ]  # fmt: skip
    assert kicks == [batch.pk]  # one message; a worker fans it out


def test_the_fan_out_kicks_the_batchs_queued_and_due_generations(
    project, designer, price_list, kicks, monkeypatch
):
    sent: list[list[int]] = []
    monkeypatch.setattr("generations.dispatch.kick_many", lambda ids: sent.append(list(ids)))
    batch = plan(project, designer)
    services.batch_queue(batch_id=batch.pk, user=designer)
    first, second, *rest = Generation.objects.filter(submission__batch=batch).order_by("pk")
    Generation.objects.filter(pk=first.pk).update(state=State.CANCELLED)
    Generation.objects.filter(pk=second.pk).update(
        next_attempt_at=timezone.now() + dt.timedelta(minutes=5)
    )
    assert services.batch_kick(batch_id=batch.pk) == 4
    assert sent == [[g.pk for g in rest]]


def test_a_batch_over_budget_is_refused_as_a_whole(project, designer, project_admin, price_list):
    Budget.objects.create(project=project, amount_usd=Decimal("0.50"))  # the batch: $0.638
    batch = plan(project, designer)
    with pytest.raises(BudgetExceeded) as refused:
        services.batch_queue(batch_id=batch.pk, user=designer)
    assert refused.value.message.startswith(
        f"Over budget: batch #{batch.pk} (6 previews in 3 rows) would cost $0.64, "
        "but only $0.50 is left of Acme Launch’s monthly budget"
    )
    assert "Ask ada to raise the budget." in refused.value.message
    batch.refresh_from_db()
    assert batch.is_draft and len(batch.rows) == 3
    assert not Submission.objects.exists()
    assert not Generation.objects.exists()
    assert not Reservation.objects.exists()
    assert not Transition.objects.exists()


def test_a_batch_that_fits_exactly_is_queued(project, designer, price_list, kicks):
    Budget.objects.create(project=project, amount_usd=Decimal("0.638"))
    batch = plan(project, designer)
    services.batch_queue(batch_id=batch.pk, user=designer)
    assert Reservation.objects.filter(status=Reservation.Status.OPEN).count() == 6


def test_a_plan_with_refused_rows_cannot_be_queued(project, designer, kicks):
    batch = plan(project, designer, rows=ROWS + "a kite,1:1,1,nope,1K\n")
    assert len(batch.refused) == 1
    with pytest.raises(ValidationError) as refused:
        services.batch_queue(batch_id=batch.pk, user=designer)
    assert refused.value.messages == [
        "1 row is refused: fix it and plan the batch again. Nothing was queued."
    ]
    assert not Submission.objects.exists()


def test_rules_that_changed_since_the_plan_refuse_the_queueing(project, designer, kicks):
    batch = plan(project, designer)
    project.allowed_models = ["nano-banana-2"]
    project.save()
    with pytest.raises(ValidationError) as refused:
        services.batch_queue(batch_id=batch.pk, user=designer)
    assert refused.value.messages[0].startswith("Row 1: Acme Launch does not allow Nano Banana Pro")
    assert refused.value.messages[-1] == (
        "The project’s rules changed since the plan: plan the batch again."
    )
    assert not Submission.objects.exists()


def test_a_batch_is_queued_once(project, designer, price_list, kicks):
    batch = plan(project, designer)
    services.batch_queue(batch_id=batch.pk, user=designer)
    with pytest.raises(ValidationError, match="already queued"):
        services.batch_queue(batch_id=batch.pk, user=designer)
    assert Submission.objects.count() == 3


def test_only_the_author_queues_or_discards_a_draft(project, designer, project_admin, reviewer):
    batch = plan(project, designer)
    other = UserFactory(username="dora")
    Membership.objects.create(project=project, user=other, role=Role.DESIGNER)
    for person in (other, project_admin):
        with pytest.raises(Http404):  # another person's draft is not even visible
            services.batch_queue(batch_id=batch.pk, user=person)
        with pytest.raises(Http404):
            services.batch_discard(batch_id=batch.pk, user=person)
    with pytest.raises(PermissionDenied):
        services.batch_plan_csv(project=project, user=reviewer, filename="x.csv", data=b"")
    services.batch_discard(batch_id=batch.pk, user=designer)
    assert not Batch.objects.exists()


def test_a_matrix_plans_like_a_file(project, designer):
    batch = services.batch_plan_matrix(
        project=project,
        user=designer,
        template="{product} on a {surface}",
        lists="product: mug | bottle\nsurface: oak | marble",
        aspect_ratios=["1:1"],
        model_key="nano-banana-2",
        preview_size="1K",
        variants=1,
    )
    assert batch.source == Batch.Source.MATRIX and batch.name == "{product} on a {surface}"
    assert [row["prompt"] for row in batch.rows] == [
        "mug on a oak",
        "mug on a marble",
        "bottle on a oak",
        "bottle on a marble",
    ]


def test_drafts_nobody_queued_are_pruned_after_a_week(project, designer, price_list, kicks):
    old, fresh, queued = plan(project, designer), plan(project, designer), plan(project, designer)
    services.batch_queue(batch_id=queued.pk, user=designer)
    week_ago = timezone.now() - dt.timedelta(days=8)
    Batch.objects.filter(pk__in=[old.pk, queued.pk]).update(created_at=week_ago)
    assert services.batch_drafts_prune() == 1
    assert set(Batch.objects.values_list("pk", flat=True)) == {fresh.pk, queued.pk}
