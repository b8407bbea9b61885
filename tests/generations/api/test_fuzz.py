"""Schemathesis against the served OpenAPI document, bounded: generated requests to every
operation (valid and not), through the whole WSGI stack with a superuser's write token,
must never get a 500 and must answer with a status, content type and body the document
declares."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from generations import tokens
from generations.states import State
from tests.support.factories import GenerationFactory, SubmissionFactory, UserFactory

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 12  # per operation: ~14 operations, a few hundred requests in all


@pytest.fixture
def bearer(db, project) -> dict[str, str]:
    boss = UserFactory(username="boss", is_superuser=True, is_staff=True)
    # Some rows the generated ids may hit (most will be 404s, which the document declares).
    for state in (State.IN_REVIEW, State.PREVIEW_FAILED, State.DELIVERED):
        submission = SubmissionFactory(project=project, created_by=boss)
        GenerationFactory(submission=submission, state=state)
    _, raw = tokens.token_create(user=boss, name="fuzz", scope="write")
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture(autouse=True)
def _requests_keep_the_test_connection():
    """The requests go to the WSGI handler itself, not through Django's test client, which
    is what keeps a request's end from closing the test's database connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# The committed document (test_openapi.py keeps it equal to the served one), loaded at
# import: schemathesis' lazy fixture loader does not run under pytest 9.
schema = schemathesis.openapi.from_path(
    str(Path(django_settings.BASE_DIR) / "docs" / "openapi.json")
)
schema.app = get_wsgi_application()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same requests on every run: a failure reproduces
)
def test_the_api_keeps_to_its_document(case, bearer):
    # Not "schema-valid data is accepted": some 422s are rules the document cannot state
    # (a date range's order, the models a project allows), and are declared as 422.
    case.call_and_validate(headers=bearer, excluded_checks=[positive_data_acceptance])
