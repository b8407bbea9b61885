"""Two reviewers deciding the same preview at the same moment, on PostgreSQL: each in
its own thread and connection, both having read it "in review" before either writes.
Exactly one decision is recorded; the other reviewer is told who decided first.

(SQLite serialises writers with a file lock, so the race cannot be staged there; the
same rule is tested deterministically in test_review_services with a stale read.)
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from generations import services
from generations.models import Generation, Notification, Role, Transition
from generations.review.decisions import (
    generation_approve,
    generation_reject,
    generation_request_changes,
)
from generations.states import State, TransitionConflict
from tests.support.review import member, waiting

pytestmark = pytest.mark.django_db(transaction=True)

DECISIONS = {
    "approve": lambda pk, user: generation_approve(generation_id=pk, user=user),
    "reject": lambda pk, user: generation_reject(generation_id=pk, user=user, comment="too dark"),
    "changes": lambda pk, user: generation_request_changes(
        generation_id=pk, user=user, comment="more sky"
    ),
}


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the concurrent race needs PostgreSQL (DATABASE_URL=postgres://…)")


def race(monkeypatch, pk: int, moves: list[tuple[str, object]]) -> dict[str, object]:
    """Run the decisions in threads that all load the generation, wait for each other,
    then write. Returns username -> the resulting Generation or the exception."""
    both_read = threading.Barrier(len(moves), timeout=20)
    load = services.generation_load

    def load_then_wait(generation_id: int) -> Generation:
        generation = load(generation_id)
        both_read.wait()  # every thread holds a copy "in review" before anyone writes
        return generation

    monkeypatch.setattr(services, "generation_load", load_then_wait)
    results: dict[str, object] = {}

    def run(decision: str, user) -> None:
        try:
            results[user.username] = DECISIONS[decision](pk, user)
        except Exception as error:  # noqa: BLE001 - the test inspects what was raised
            results[user.username] = error
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=move) for move in moves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.parametrize("repeat", range(5))
@pytest.mark.parametrize(("first", "second"), [("approve", "approve"), ("approve", "reject"),
                                               ("changes", "approve")])  # fmt: skip
def test_two_reviewers_deciding_at_once_one_wins_the_other_is_told(
    first, second, repeat, monkeypatch, project, designer
):
    rui = member(project, "rui", Role.REVIEWER)
    vera = member(project, "vera", Role.REVIEWER)
    (generation,) = waiting(project, designer)

    results = race(monkeypatch, generation.pk, [(first, rui), (second, vera)])

    winners = [name for name, result in results.items() if isinstance(result, Generation)]
    losers = [name for name, result in results.items() if isinstance(result, TransitionConflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    winner = winners[0]
    message = str(results[losers[0]])
    assert f"Someone decided first: {winner}" in message
    assert "Your decision was not recorded." in message

    decisions = list(Transition.objects.filter(generation=generation))
    assert len(decisions) == 1 and decisions[0].actor.username == winner
    stored = Generation.objects.get(pk=generation.pk)
    assert stored.state == decisions[0].to_state != State.IN_REVIEW
    assert stored.version == generation.version + 1
    assert Notification.objects.filter(recipient=designer).count() == 1, "one decision heard"
