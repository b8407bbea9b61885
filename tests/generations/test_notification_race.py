"""A reviewer approves one variant while a worker records another variant of the same
submission into review, on PostgreSQL: both write the reviewers' "awaits review" notes
of that submission. They must take those rows in one order (by recipient), or each
holds a row the other waits for and PostgreSQL kills one with "deadlock detected" — a
reviewer's approval answered with an error, or a worker's result thrown away (seen in
the chaos suite, tests/e2e/test_chaos.py).

Staged deterministically: one side's transaction holds the first reviewer's note, the
other side starts and blocks, then the first goes on to the second reviewer's note. The
blocked side's connection reads rows in heap order (index scans off), where an update has
moved the first reviewer's note behind the second's — an order the planner may pick.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from generations import notifications
from generations.models import Generation, Notification, Role
from generations.review.decisions import generation_approve
from generations.states import Actor, State
from tests.support.review import member, rendered, submit

pytestmark = pytest.mark.django_db(transaction=True)

Kind = Notification.Kind


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the concurrent race needs PostgreSQL (SQLite serialises writers)")


def _blocked_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row) and row[0] == "Lock"


def test_an_approval_and_a_preview_landing_in_review_never_deadlock(
    monkeypatch, project, designer, price_list
):
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    first, second = (member(project, name, Role.REVIEWER) for name in ("ana", "bo"))
    assert first.pk < second.pk
    submission = submit(project, designer, variants=2)
    decided, landing = submission.generations.order_by("variant")
    rendered(decided)  # in review: one "awaits review" note per reviewer
    asks = {n.recipient_id: n for n in Notification.objects.filter(kind=Kind.REVIEW_REQUESTED)}
    assert set(asks) == {first.pk, second.pk}
    # An update leaves a new row version behind the other note in the heap.
    Notification.objects.filter(pk=asks[first.pk].pk).update(read_at=None)

    approval_pid: list[int] = []
    outcome: dict[str, object] = {}

    def approve() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
                approval_pid.append(connection.connection.info.backend_pid)
            generation_approve(generation_id=decided.pk, user=second)
            outcome["approval"] = "done"
        except Exception as error:  # noqa: BLE001 - the test reports what was raised
            outcome["approval"] = error
        finally:
            connection.close()

    def worker() -> None:
        try:
            with transaction.atomic():
                Notification.objects.select_for_update().get(pk=asks[first.pk].pk)
                # The worker's move of the other variant, not committed yet.
                Generation.objects.filter(pk=landing.pk).update(state=State.IN_REVIEW)
                landing.state = State.IN_REVIEW
                thread.start()
                deadline = time.monotonic() + 20
                while not (approval_pid and _blocked_on_a_lock(approval_pid[0])):
                    assert time.monotonic() < deadline, "the approval never waited"
                    time.sleep(0.05)
                notifications.notify_transition(
                    generation=landing, source=State.PREVIEW_RENDERING, target=State.IN_REVIEW,
                    actor=Actor.WORKER, user=None, reason="",
                )  # fmt: skip
            outcome["worker"] = "done"
        except Exception as error:  # noqa: BLE001
            outcome["worker"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=approve)
    recorder = threading.Thread(target=worker)
    recorder.start()
    recorder.join(timeout=40)
    thread.join(timeout=40)

    assert outcome == {"worker": "done", "approval": "done"}
    decided.refresh_from_db()
    assert decided.state == State.FINAL_QUEUED
    # The first reviewer still has the landed variant to review: the approval counted what
    # waits once the worker had committed, so it did not resolve the request.
    note = Notification.objects.get(recipient=first, kind=Kind.REVIEW_REQUESTED)
    assert note.resolved_at is None
    assert note.read_at is None


def test_a_worker_telling_the_reviewers_waits_its_turn_behind_an_approval(
    monkeypatch, project, designer, price_list
):
    """The other way round: the approval's transaction holds the first reviewer's note;
    the worker's one UPDATE of both notes must not take the second one first."""
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    first, second = (member(project, name, Role.REVIEWER) for name in ("ana", "bo"))
    submission = submit(project, designer, variants=2)
    decided, landing = submission.generations.order_by("variant")
    rendered(decided)
    asks = {n.recipient_id: n for n in Notification.objects.filter(kind=Kind.REVIEW_REQUESTED)}
    Notification.objects.filter(pk=asks[first.pk].pk).update(read_at=None)

    worker_pid: list[int] = []
    outcome: dict[str, object] = {}

    def worker() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
                worker_pid.append(connection.connection.info.backend_pid)
            with transaction.atomic():
                Generation.objects.filter(pk=landing.pk).update(state=State.IN_REVIEW)
                landing.state = State.IN_REVIEW
                notifications.notify_transition(
                    generation=landing, source=State.PREVIEW_RENDERING, target=State.IN_REVIEW,
                    actor=Actor.WORKER, user=None, reason="",
                )  # fmt: skip
            outcome["worker"] = "done"
        except Exception as error:  # noqa: BLE001 - the test reports what was raised
            outcome["worker"] = error
        finally:
            connection.close()

    def approval() -> None:
        try:
            with transaction.atomic():
                Notification.objects.select_for_update().get(pk=asks[first.pk].pk)
                thread.start()
                deadline = time.monotonic() + 20
                while not (worker_pid and _blocked_on_a_lock(worker_pid[0])):
                    assert time.monotonic() < deadline, "the worker never waited"
                    time.sleep(0.05)
                Notification.objects.select_for_update().get(pk=asks[second.pk].pk)
            outcome["approval"] = "done"
        except Exception as error:  # noqa: BLE001
            outcome["approval"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    holder = threading.Thread(target=approval)
    holder.start()
    holder.join(timeout=40)
    thread.join(timeout=40)

    assert outcome == {"approval": "done", "worker": "done"}
    counts = dict(
        Notification.objects.filter(kind=Kind.REVIEW_REQUESTED).values_list("recipient", "count")
    )
    assert counts == {first.pk: 2, second.pk: 2}  # both told of the second variant
