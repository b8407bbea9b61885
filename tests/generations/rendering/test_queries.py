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
from generations.models import Generation
from generations.rendering import jobs
from generations.states import State
from tests.support.factories import ProjectFactory
from tests.support.fakes import OK, ScriptedProvider

# Measured when written, in a project with one designer and one reviewer: 29 statements per
# render (4 to claim; 25 to record the preview: the move and its audit row, the
# reservation, the review setting, the designer's and the reviewer's notes, webhooks, the
# image, the attempt, the price, the ledger row in a savepoint with its three roll-ups,
# the budget, the review setting again for auto-approval); without the reviewer 24, which
# was 36 before issue 19 (bench/throughput.py). A
# submission of 4 variants 12. The bounds leave no room for a query per row of anything.
# (Each further reviewer adds their note, 3 queries: docs/benchmarks.md, Throughput.)
# Issue 16's budget hardening adds 3: the outcome locks the generation row first (one lock
# order for worker, reaper and cancel) and the charge takes its price from the
# reservation it closes (select for update, then the update).
# Issue 14 adds 1: the claim reads the submission's references (input images) in order.
MAX_RENDER_QUERIES = 33
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
