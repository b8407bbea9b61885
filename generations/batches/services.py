"""Writes for batches: plan (a draft), queue (all or nothing), discard, prune."""

from __future__ import annotations

import datetime as dt
import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from generations import dispatch, flow
from generations.batches.planning import Plan, Row, check_rows, plan_csv, plan_matrix
from generations.models import Batch, Generation, Phase, Project, Submission
from generations.permissions import Action, require_project_role
from generations.spend import budgets
from generations.states import QUEUED, State
from generations.types import User

DRAFT_DAYS = 7  # a plan nobody queued is deleted after this
NAME_CHARS = 200


def batch_plan_csv(*, project: Project, user: User, filename: str, data: bytes) -> Batch:
    """A draft from an uploaded CSV; ValidationError (a list of what is wrong) when the
    file cannot be used at all."""
    require_project_role(user, Action.SUBMIT, project)
    plan = plan_csv(project, data)
    return _draft(project, user, plan, source=Batch.Source.CSV, name=filename or "upload.csv")


def batch_plan_matrix(
    *,
    project: Project,
    user: User,
    template: str,
    lists: str,
    aspect_ratios: list[str],
    model_key: str,
    preview_size: str,
    variants: int,
) -> Batch:
    require_project_role(user, Action.SUBMIT, project)
    plan = plan_matrix(
        project,
        template=template,
        lists_text=lists,
        aspect_ratios=aspect_ratios,
        model_key=model_key,
        preview_size=preview_size,
        variants=variants,
    )
    return _draft(project, user, plan, source=Batch.Source.MATRIX, name=template.strip())


def _draft(project: Project, user: User, plan: Plan, *, source: str, name: str) -> Batch:
    if plan.problems:
        raise ValidationError(plan.problems)
    return Batch.objects.create(
        project=project,
        created_by=user,
        source=source,
        name=name[:NAME_CHARS],
        rows=[row.as_json() for row in plan.rows],
        refused=[refused.as_json() for refused in plan.refused],
        row_count=len(plan.rows),
        generation_count=sum(row.variants for row in plan.rows),
        created_at=timezone.now(),
    )


def _own_draft(batch_id: int, user: User) -> Batch:
    batch = Batch.objects.select_related("project").filter(pk=batch_id).first()
    if batch is None or (batch.is_draft and batch.created_by_id != getattr(user, "pk", None)):
        raise Http404("No such batch.")  # a draft is its author's alone
    require_project_role(user, Action.SUBMIT, batch.project)
    if batch.created_by_id != user.pk:
        raise PermissionDenied("Only the person who planned a batch can queue or discard it.")
    if not batch.is_draft:
        raise ValidationError("This batch is already queued.")
    return batch


def batch_queue(*, batch_id: int, user: User) -> Batch:
    """Create every row's submission and generations and reserve their previews against
    the budget — all in one transaction, so a refusal (a row that no longer passes the
    project's rules, BudgetExceeded) leaves nothing queued."""
    batch = _own_draft(batch_id, user)
    project = batch.project
    actor = require_project_role(user, Action.SUBMIT, project)
    if batch.refused:
        count = len(batch.refused)
        raise ValidationError(
            f"{count} row{'s are' if count != 1 else ' is'} refused: fix "
            f"{'them' if count != 1 else 'it'} and plan the batch again. Nothing was queued."
        )
    rows = [Row.from_json(data) for data in batch.rows]
    if not rows:
        raise ValidationError("This batch has no rows.")
    # The project's rules may have changed since the plan (allowed models, final size).
    again = check_rows(project, ((row.row, row.line, _cells(row)) for row in rows))
    if again.refused:
        raise ValidationError(
            [f"Row {refused.row}: {' '.join(refused.errors)}" for refused in again.refused[:20]]
            + ["The project’s rules changed since the plan: plan the batch again."]
        )
    now = timezone.now()
    units = budgets.batch_units(pairs={(row.model_key, row.preview_size) for row in rows})
    with transaction.atomic():
        if not Batch.objects.filter(pk=batch.pk, status=Batch.Status.DRAFT).update(
            status=Batch.Status.QUEUED, queued_at=now, rows=[]
        ):
            raise ValidationError("This batch is already queued.")
        submissions = Submission.objects.bulk_create(
            [
                Submission(
                    project=project,
                    created_by=user,
                    prompt=row.prompt,
                    model_key=row.model_key,
                    aspect_ratio=row.aspect_ratio,
                    preview_size=row.preview_size,
                    final_size=project.final_size,
                    variants=row.variants,
                    batch=batch,
                    batch_row=row.row,
                )
                for row in rows
            ],
            batch_size=500,
        )
        generations = Generation.objects.bulk_create(
            [
                Generation(
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
                for submission in submissions
                for variant in range(1, submission.variants + 1)
            ],
            batch_size=1000,
        )
        flow.record_creations(
            generations,
            actor=actor,
            user=user,
            reasons=[f"batch #{batch.pk}, row {g.submission.batch_row}" for g in generations],
        )
        transaction.on_commit(lambda: dispatch.kick_batch(batch.pk))
        budgets.budget_reserve_each(
            items=[
                (g, units[(g.submission.model_key, g.submission.preview_size)]) for g in generations
            ],
            phase=Phase.PREVIEW,
            project_id=project.pk,
            user_id=user.pk,
            what=f"batch #{batch.pk} ({len(generations):,} previews in {len(rows):,} rows)",
        )
    batch.refresh_from_db()
    return batch


def _cells(row: Row) -> dict[str, str]:
    return {
        "prompt": row.prompt,
        "model": row.model_key,
        "aspect_ratio": row.aspect_ratio,
        "preview_size": row.preview_size,
        "variants": str(row.variants),
        "reference_image_ids": " ".join(row.reference_image_ids),
    }


def batch_kick(*, batch_id: int) -> int:
    """A worker's fan-out of a batch's kick: one render kick per generation that is
    queued and due (a duplicate kick is harmless: the claim is a compare-and-set)."""
    ids = list(
        Generation.objects.filter(
            submission__batch_id=batch_id,
            state__in=QUEUED,
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    dispatch.kick_many(ids)
    return len(ids)


def batch_discard(*, batch_id: int, user: User) -> None:
    _own_draft(batch_id, user).delete()


def batch_drafts_prune() -> int:
    """Delete plans nobody queued within DRAFT_DAYS."""
    cutoff = timezone.now() - dt.timedelta(days=DRAFT_DAYS)
    deleted, _ = Batch.objects.filter(status=Batch.Status.DRAFT, created_at__lt=cutoff).delete()
    return deleted
