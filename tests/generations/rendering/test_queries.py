"""The database work of the hot path — one render, one submission — is bounded and does not
grow with the project: a worker rendering the 42nd preview of a project runs the same
queries as for its 2nd (issue 19). Counted as a worker runs them: transactional tests, so
a worker's transactions are real ones here too, not savepoints inside a test's; BEGIN and
COMMIT are not counted (bench/throughput.py's execute_wrapper does not see them either)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generations import services
from generations.models import Generation, Notification, Role
from generations.rendering import jobs
from generations.states import State
from tests.support.factories import ProjectFactory, UserFactory
from tests.support.fakes import OK, ScriptedProvider

# Issue 19's targets: a render (claim + record) within 15 statements and a submission
# within 8 per variant, whatever the project holds and however many reviewers it has.
# Measured when written (one designer, one or three reviewers): 13 on PostgreSQL — claim
# 4 (the read, with whether the submission has references; the move; its audit row; the
# attempt), record 9 (who hears of it: the review setting, the reviewers, their notes,
# the previews waiting and whether webhooks exist, in one read; the move; its audit row;
# every note in one insert; the image; the attempt; the reservation closed with the price
# it fixed; the ledger row; its three roll-ups in one statement) — and 15 on SQLite, where
# the three roll-ups are three statements. 33 before (29 without a reviewer in
# bench/throughput.py at e22ae05), +3 per reviewer. A one-variant submission runs 6.
MAX_RENDER_QUERIES = 15
MAX_QUERIES_PER_VARIANT = 8

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _local_model(settings, monkeypatch):
    settings.STUDIO_MODELS = {
        "nano-banana-pro": {
            "label": "Nano Banana Pro",
            "provider": "local",
            "model_id": "gemini-3-pro-image",
        }
    }
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    monkeypatch.setattr("generations.imaging.renditions.enqueue", lambda image_id, **_: None)


def _submit(project, designer, *, variants: int = 1):
    return services.submission_create(
        project=project,
        user=designer,
        prompt="a lighthouse on a cliff at dusk",
        model_key="nano-banana-pro",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=variants,
    )


def _render(generation: Generation) -> str:
    return jobs.generation_render(
        generation_id=generation.pk, worker="worker-1@test", provider=ScriptedProvider(OK)
    )


def _grown(project, designer, previews: int) -> None:
    """A project with history: `previews` previews rendered, in review, charged."""
    for _ in range(previews):
        assert _render(_submit(project, designer).generations.get()) == State.IN_REVIEW


def _render_queries(project, designer) -> list[str]:
    generation = _submit(project, designer).generations.get()
    with CaptureQueriesContext(connection) as queries:
        assert _render(generation) == State.IN_REVIEW
    return _statements(queries)


def _statements(queries: CaptureQueriesContext) -> list[str]:
    # SQLite's "BEGIN IMMEDIATE" (settings: transaction_mode) is its BEGIN, not a query.
    control = ("BEGIN", "COMMIT")
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(control)]


def _submit_queries(project, designer, *, variants: int) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        _submit(project, designer, variants=variants)
    return _statements(queries)


def test_a_render_runs_as_many_queries_in_a_large_project_as_in_a_small_one(
    project, designer, reviewer, price_list
):
    _grown(project, designer, 1)
    small = _render_queries(project, designer)
    _grown(project, designer, 40)
    large = _render_queries(project, designer)

    assert len(large) == len(small), "\n".join(large)
    assert len(small) <= MAX_RENDER_QUERIES, "\n".join(small)


def test_a_render_runs_as_many_queries_for_three_reviewers_as_for_one(
    project, designer, reviewer, price_list
):
    _grown(project, designer, 1)
    one = _render_queries(project, designer)
    for name in ("rita", "raj"):
        project.memberships.create(user=UserFactory(username=name), role=Role.REVIEWER)
    three = _render_queries(project, designer)

    assert len(three) == len(one), "\n".join(three)
    assert len(three) <= MAX_RENDER_QUERIES, "\n".join(three)
    # Each of them was told, in the one insert.
    told = Notification.objects.filter(kind=Notification.Kind.REVIEW_REQUESTED)
    assert told.values("recipient").distinct().count() == 3


def test_a_second_variant_brings_every_note_up_to_date_in_as_many_queries(
    project, designer, reviewer, price_list
):
    """The notes of a submission's later variants are updated (counted), not added:
    still one statement for all of them."""
    for name in ("rita", "raj"):
        project.memberships.create(user=UserFactory(username=name), role=Role.REVIEWER)
    _grown(project, designer, 1)
    first, second = _submit(project, designer, variants=2).generations.order_by("variant")
    with CaptureQueriesContext(connection) as queries:
        assert _render(first) == State.IN_REVIEW
    fresh = _statements(queries)
    with CaptureQueriesContext(connection) as queries:
        assert _render(second) == State.IN_REVIEW
    again = _statements(queries)

    assert len(again) == len(fresh) <= MAX_RENDER_QUERIES, "\n".join(again)
    ready = Notification.objects.get(
        kind=Notification.Kind.PREVIEW_READY, submission=first.submission
    )
    assert ready.count == 2
    assert ready.text.startswith("2 previews of")
    asked = Notification.objects.filter(
        kind=Notification.Kind.REVIEW_REQUESTED, submission=first.submission
    )
    assert sorted(note.count for note in asked) == [2, 2, 2]
    assert all(note.text.startswith("2 of dana") for note in asked)


def test_a_submission_runs_a_few_queries_per_variant_whatever_the_project_holds(
    project, designer, price_list
):
    _grown(project, designer, 1)
    small = _submit_queries(project, designer, variants=4)
    _grown(project, designer, 40)
    large = _submit_queries(project, designer, variants=4)
    single = _submit_queries(project, designer, variants=1)

    assert len(large) == len(small), "\n".join(large)
    assert len(small) <= 4 * MAX_QUERIES_PER_VARIANT, "\n".join(small)
    assert len(single) <= MAX_QUERIES_PER_VARIANT, "\n".join(single)


def test_another_project_growing_changes_nothing_in_a_render(project, designer, price_list):
    _grown(project, designer, 1)
    before = _render_queries(project, designer)
    other = ProjectFactory(name="Busy", slug="busy")
    other.memberships.create(user=designer, role="designer")
    _grown(other, designer, 30)

    assert len(_render_queries(project, designer)) == len(before)
