"""Two approvals racing at the edge of the budget, on PostgreSQL: each in its own thread
and connection, both having read their generation before either writes. The budget has
room for one final: exactly one approval passes, the other is refused with the budget's
reason, and the reservations never exceed the budget.

(SQLite serialises writers with a file lock, so the race cannot be staged there.)
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from generations import services
from generations.models import Budget, Generation, Reservation, Role
from generations.rendering import jobs
from generations.review.decisions import generation_approve
from generations.spend import budgets
from generations.states import State
from tests.support.fakes import OK, ScriptedProvider
from tests.support.review import member

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only(monkeypatch, price_list):
    if connection.vendor != "postgresql":
        pytest.skip("the concurrent race needs PostgreSQL (DATABASE_URL=postgres://…)")
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)


@pytest.mark.parametrize("personal", [False, True])
@pytest.mark.parametrize("repeat", range(4))
def test_two_approvals_at_the_edge_of_the_budget_exactly_one_passes(
    repeat, personal, monkeypatch, project, designer
):
    rui = member(project, "rui", Role.REVIEWER)
    vera = member(project, "vera", Role.REVIEWER)
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt="a lighthouse",
        model_key="nano-banana-2",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=2,
    )
    first, second = submission.generations.order_by("variant")
    for generation in (first, second):
        assert (
            jobs.generation_render(generation_id=generation.pk, provider=ScriptedProvider(OK))
            == State.IN_REVIEW
        )
    # Spent 2 × 0.067; room for one 0.151 final, not two.
    Budget.objects.create(
        project=project, user=designer if personal else None, amount_usd=Decimal("0.30")
    )

    both_read = threading.Barrier(2, timeout=20)
    load = services.generation_load

    def load_then_wait(generation_id: int) -> Generation:
        generation = load(generation_id)
        both_read.wait()  # both hold their generation "in review" before anyone writes
        return generation

    monkeypatch.setattr(services, "generation_load", load_then_wait)
    results: dict[str, object] = {}

    def approve(generation: Generation, user) -> None:
        try:
            results[user.username] = generation_approve(generation_id=generation.pk, user=user)
        except Exception as error:  # noqa: BLE001 - the test inspects what was raised
            results[user.username] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=approve, args=(first, rui)),
        threading.Thread(target=approve, args=(second, vera)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)

    passed = [r for r in results.values() if isinstance(r, Generation)]
    refused = [r for r in results.values() if isinstance(r, budgets.BudgetExceeded)]
    assert len(passed) == 1 and len(refused) == 1, results
    assert "Over budget" in str(refused[0]) and "would cost $0.15" in str(refused[0])
    assert Reservation.objects.filter(phase="final", status="open").count() == 1
    states = sorted(
        Generation.objects.filter(submission=submission).values_list("state", flat=True)
    )
    assert states == sorted([State.FINAL_QUEUED, State.IN_REVIEW])
    budget = Budget.objects.get(project=project)
    assert budgets.standing(budget).used <= budget.amount_usd
