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
from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass
class Scene:
    first: object  # the reviewer whose note comes first by id (and last in the heap)
    second: object
    decided: Generation  # variant 1, in review, about to be approved
    landing: Generation  # variant 2, about to land in review
    asks: dict[int, Notification]  # each reviewer's "awaits review" note


@pytest.fixture
def scene(monkeypatch, project, designer, price_list) -> Scene:
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    first, second = (member(project, name, Role.REVIEWER) for name in ("ana", "bo"))
    submission = submit(project, designer, variants=2)
    decided, landing = submission.generations.order_by("variant")
    rendered(decided)  # in review: one "awaits review" note per reviewer
    asks = {n.recipient_id: n for n in Notification.objects.filter(kind=Kind.REVIEW_REQUESTED)}
    assert set(asks) == {first.pk, second.pk} and asks[first.pk].pk < asks[second.pk].pk
    # An update leaves a new row version behind the other note in the heap.
    Notification.objects.filter(pk=asks[first.pk].pk).update(read_at=None)
    return Scene(first, second, decided, landing, asks)


def _land(landing: Generation) -> None:
    """What the worker's move writes and tells, inside its transaction."""
    Generation.objects.filter(pk=landing.pk).update(state=State.IN_REVIEW)
    landing.state = State.IN_REVIEW
    notifications.notify_transition(
        generation=landing, source=State.PREVIEW_RENDERING, target=State.IN_REVIEW,
        actor=Actor.WORKER, user=None, reason="",
    )  # fmt: skip


def _stage(
    *, holder: str, hold: Callable[[], None], then: Callable[[], None],
    contender: str, contend: Callable[[], None],
) -> dict[str, object]:  # fmt: skip
    """`holder`'s transaction runs `hold` (taking the first note), starts `contender` and
    waits until it blocks on a lock, then runs `then`. The contender reads in heap order
    (index scans off). Returns each side's "done" or what it raised."""
    contender_pid: list[int] = []
    outcome: dict[str, object] = {}

    def run_contender() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
                contender_pid.append(connection.connection.info.backend_pid)
            contend()
            outcome[contender] = "done"
        except Exception as error:  # noqa: BLE001 - the test reports what was raised
            outcome[contender] = error
        finally:
            connection.close()  # this thread's own connection

    def run_holder() -> None:
        try:
            with transaction.atomic():
                hold()
                other.start()
                deadline = time.monotonic() + 20
                while not (contender_pid and _blocked_on_a_lock(contender_pid[0])):
                    assert time.monotonic() < deadline, f"the {contender} never waited"
                    time.sleep(0.05)
                then()
            outcome[holder] = "done"
        except Exception as error:  # noqa: BLE001
            outcome[holder] = error
        finally:
            connection.close()

    other = threading.Thread(target=run_contender)
    first = threading.Thread(target=run_holder)
    first.start()
    first.join(timeout=40)
    other.join(timeout=40)
    return outcome


def _hold_note(note: Notification) -> Callable[[], None]:
    return lambda: Notification.objects.select_for_update().get(pk=note.pk) and None


def test_an_approval_and_a_preview_landing_in_review_never_deadlock(scene):
    """The worker's transaction holds the first reviewer's note; the approval of the
    other variant must not take the second one first."""
    outcome = _stage(
        holder="worker", hold=_hold_note(scene.asks[scene.first.pk]),
        then=lambda: _land(scene.landing),
        contender="approval",
        contend=lambda: generation_approve(generation_id=scene.decided.pk, user=scene.second),
    )  # fmt: skip

    assert outcome == {"worker": "done", "approval": "done"}
    scene.decided.refresh_from_db()
    assert scene.decided.state == State.FINAL_QUEUED
    # The first reviewer still has the landed variant to review: the approval counted what
    # waits once the worker had committed, so it did not resolve the request.
    note = Notification.objects.get(recipient=scene.first, kind=Kind.REVIEW_REQUESTED)
    assert note.resolved_at is None
    assert note.read_at is None


def test_a_worker_telling_the_reviewers_waits_its_turn_behind_an_approval(scene):
    """The other way round: the approval's transaction holds the first reviewer's note;
    the worker's one UPDATE of both notes must not take the second one first."""

    def land() -> None:
        with transaction.atomic():
            _land(scene.landing)

    outcome = _stage(
        holder="approval", hold=_hold_note(scene.asks[scene.first.pk]),
        then=_hold_note(scene.asks[scene.second.pk]),
        contender="worker", contend=land,
    )  # fmt: skip

    assert outcome == {"approval": "done", "worker": "done"}
    counts = dict(
        Notification.objects.filter(kind=Kind.REVIEW_REQUESTED).values_list("recipient", "count")
    )
    assert counts == {scene.first.pk: 2, scene.second.pk: 2}  # both told of the second variant
