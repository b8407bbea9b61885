"""Budgets: periods that reset, the hard limit at submission, approval and retry (with a
message that says why, what is left and whom to ask), the soft threshold told once per
period, and auto-approval held back by the budget."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from generations import services
from generations.models import (
    Budget,
    BudgetAlert,
    Generation,
    LedgerEntry,
    Notification,
    Reservation,
    Submission,
)
from generations.providers.base import ContentBlocked
from generations.rendering import jobs
from generations.review.decisions import generation_approve, generation_approve_many
from generations.spend import budgets, ledger
from generations.spend.budgets import BudgetExceeded, period_bounds
from generations.spend.ledger import ledger_entry_insert
from generations.states import State
from tests.support.fakes import OK, ScriptedProvider

pytestmark = pytest.mark.django_db

# nano-banana-2 1K / 4K; a final made from the approved preview (the default) also pays
# for the preview sent as input image (0.0003 in the seeded list).
PREVIEW, FINAL = Decimal("0.067"), Decimal("0.151") + Decimal("0.0003")


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch):
    quick = {"timeout": 5, "tries": 1, "base_delay": 1}
    settings.STUDIO_ATTEMPT_POLICY = {"1K": dict(quick), "2K": dict(quick), "4K": dict(quick)}
    settings.TIME_ZONE = "Europe/Paris"
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)


def _submit(user, project, variants=1) -> Submission:
    return services.submission_create(
        project=project,
        user=user,
        prompt="a lighthouse at dusk",
        model_key="nano-banana-2",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=variants,
    )


def _render(generation, *outcomes) -> str:
    return jobs.generation_render(
        generation_id=generation.pk, worker="w", provider=ScriptedProvider(*outcomes)
    )


def _in_review(user, project, variants=1) -> list[Generation]:
    generations = list(_submit(user, project, variants).generations.order_by("variant"))
    for generation in generations:
        assert _render(generation, OK) == State.IN_REVIEW
    return generations


# --- periods -------------------------------------------------------------------------


def _paris(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=timezone.get_current_timezone())


def test_a_monthly_budget_runs_from_the_first_to_the_first_in_the_site_time_zone():
    start, end = period_bounds("monthly", at=_paris(2026, 12, 31, 23, 30))
    assert (start, end) == (_paris(2026, 12, 1), _paris(2027, 1, 1))
    # 23:30 UTC on Nov 30 is already December in Paris.
    start, _ = period_bounds("monthly", at=dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC))
    assert start == _paris(2026, 12, 1)


def test_a_weekly_budget_runs_from_monday_to_monday():
    sunday_night = _paris(2026, 11, 29, 23, 59)
    start, end = period_bounds("weekly", at=sunday_night)
    assert (start, end) == (_paris(2026, 11, 23), _paris(2026, 11, 30))
    assert start.weekday() == 0
    assert period_bounds("weekly", at=_paris(2026, 11, 30))[0] == _paris(2026, 11, 30)


def test_spend_of_last_period_no_longer_counts(designer, project, project_admin):
    budget = Budget.objects.create(project=project, amount_usd=Decimal("1.00"), period="weekly")
    last_week = timezone.now() - dt.timedelta(days=8)
    ledger_entry_insert(
        LedgerEntry(
            kind="adjustment",
            project=project,
            amount_usd=Decimal("0.90"),
            reason="last week's spend",
            created_at=last_week,
        )
    )
    assert budgets.standing(budget).spent == 0
    assert budgets.standing(budget, at=last_week).spent == Decimal("0.90")
    _submit(designer, project, variants=4)  # 4 × 0.067 fits this week


# --- the hard limit --------------------------------------------------------------------


def test_a_submission_over_the_project_budget_is_refused_whole_with_what_is_left_and_whom_to_ask(
    designer, project, project_admin
):
    project_admin.first_name, project_admin.last_name = "Ada", "Lovelace"
    project_admin.save()
    Budget.objects.create(project=project, amount_usd=Decimal("0.20"))
    _submit(designer, project, variants=2)  # 0.134 reserved

    with pytest.raises(BudgetExceeded) as refused:
        _submit(designer, project, variants=2)

    message = str(refused.value)
    assert "2 previews at 1K would cost $0.13" in message
    assert "only $0.07 is left of Acme Launch’s monthly budget ($0.20" in message
    assert "$0.13 reserved for work under way" in message
    assert "Ask Ada Lovelace to raise the budget." in message
    assert refused.value.left == Decimal("0.20") - 2 * PREVIEW
    assert Submission.objects.count() == 1, "nothing of the refused submission remains"
    assert Reservation.objects.count() == 2


def test_a_personal_budget_limits_one_person_only(designer, project, project_admin):
    Budget.objects.create(project=project, user=designer, amount_usd=Decimal("0.10"))
    _submit(designer, project)
    with pytest.raises(BudgetExceeded, match="your monthly budget in Acme Launch"):
        _submit(designer, project)
    _submit(project_admin, project)  # the admin has no personal budget


def test_approval_reserves_the_final_and_is_refused_when_it_does_not_fit(
    designer, reviewer, project, project_admin
):
    first, second = _in_review(designer, project, variants=2)  # 0.134 spent
    Budget.objects.create(project=project, amount_usd=Decimal("0.30"))

    generation_approve(generation_id=first.pk, user=reviewer)  # +0.151 = 0.285
    reservation = Reservation.objects.get(generation=first, phase="final")
    assert (reservation.status, reservation.amount_usd) == ("open", FINAL)

    with pytest.raises(BudgetExceeded, match=r"approving #\d+ \(4K final\) would cost \$0.15,"):
        generation_approve(generation_id=second.pk, user=reviewer)
    second.refresh_from_db()
    assert second.state == State.IN_REVIEW, "the refused approval changed nothing"
    assert not Reservation.objects.filter(generation=second, phase="final").exists()


def test_approving_many_reports_the_budget_refusal_for_the_ones_that_do_not_fit(
    designer, reviewer, project
):
    generations = _in_review(designer, project, variants=3)
    Budget.objects.create(project=project, amount_usd=Decimal("0.50"))  # 0.201 spent
    approved, refused = generation_approve_many(
        generation_ids=[g.pk for g in generations], user=reviewer
    )
    assert len(approved) == 1 and len(refused) == 2
    assert all("Over budget" in why for why in refused.values())


def test_a_final_that_ends_releases_its_reservation_and_frees_the_budget(
    designer, reviewer, project
):
    (generation,) = _in_review(designer, project)
    budget = Budget.objects.create(project=project, amount_usd=Decimal("1"))
    generation_approve(generation_id=generation.pk, user=reviewer)
    assert budgets.standing(budget).committed == FINAL

    assert _render(generation, ContentBlocked("no")) == State.DELIVERED_FALLBACK

    assert budgets.standing(budget).committed == 0
    assert budgets.standing(budget).spent == PREVIEW, "the fallback costs nothing more"
    assert Reservation.objects.get(generation=generation, phase="final").status == "released"


def test_a_manual_retry_reserves_again_and_is_refused_over_budget(designer, project):
    (generation,) = _submit(designer, project).generations.all()
    assert _render(generation, ContentBlocked("no")) == State.PREVIEW_FAILED
    Budget.objects.create(project=project, amount_usd=Decimal("0.05"))
    with pytest.raises(BudgetExceeded, match=r"retrying #\d+ \(1K\)"):
        services.generation_retry(generation_id=generation.pk, user=designer)
    generation.refresh_from_db()
    assert generation.state == State.PREVIEW_FAILED


def test_refunds_give_budget_back(designer, reviewer, project, project_admin):
    (generation,) = _in_review(designer, project)
    budget = Budget.objects.create(project=project, amount_usd=Decimal("0.20"))
    with pytest.raises(BudgetExceeded):
        generation_approve(generation_id=generation.pk, user=reviewer)
    charge = LedgerEntry.objects.get(generation=generation)
    ledger.ledger_refund(entry=charge, reason="bad render", user=project_admin)
    assert budgets.standing(budget).spent == 0
    generation_approve(generation_id=generation.pk, user=reviewer)


def test_auto_approval_over_budget_leaves_the_preview_in_review_with_the_reason(
    designer, project, project_admin
):
    project.review_required = False
    project.save()
    Budget.objects.create(project=project, amount_usd=Decimal("0.10"))
    (generation,) = _submit(designer, project).generations.all()

    assert _render(generation, OK) == State.IN_REVIEW

    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW
    assert generation.waiting_reason.startswith("Not approved automatically: over budget")
    assert "ask ada" in generation.waiting_reason
    assert LedgerEntry.objects.filter(generation=generation).count() == 1, "preview charged"


# --- the soft threshold ----------------------------------------------------------------


def test_admins_hear_once_per_period_when_the_soft_threshold_is_crossed(
    designer, project, project_admin
):
    budget = Budget.objects.create(project=project, amount_usd=Decimal("0.50"))  # 80 %: 0.40
    _submit(designer, project, variants=4)  # 0.268 reserved: 53 %
    assert not Notification.objects.filter(kind="budget_threshold").exists()

    _submit(designer, project, variants=3)  # 0.469: 93 %
    (note,) = Notification.objects.filter(kind="budget_threshold")
    assert note.recipient == project_admin
    assert "Budget of Acme Launch is 93% used ($0.47 of $0.50 this month" in note.text

    budget.amount_usd = Decimal("0.60")
    budget.save()
    _submit(designer, project)  # still over 80 %, same month: no second note
    assert Notification.objects.filter(kind="budget_threshold").count() == 1

    # Next month the alert may come again.
    BudgetAlert.objects.update(period_start=dt.date(2000, 1, 1))
    budgets.budget_check_threshold(project_id=project.pk, user_id=designer.pk)
    assert Notification.objects.filter(kind="budget_threshold").count() == 2


def test_the_sweeper_releases_a_reservation_that_outlived_its_phase(designer, project, caplog):
    from generations.rendering.sweeper import generations_sweep

    (generation,) = _submit(designer, project).generations.all()
    # A move made behind the state machine's back (a manual fix in the database).
    Generation.objects.filter(pk=generation.pk).update(state=State.CANCELLED)

    assert generations_sweep().released == 1

    reservation = Reservation.objects.get(generation=generation)
    assert reservation.status == "released" and "sweeper" in reservation.closed_reason
    assert "released 1 stray preview reservation" in caplog.text
    assert generations_sweep().released == 0
