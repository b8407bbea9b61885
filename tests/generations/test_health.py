"""Provider health (issue 15, item 3): success, 429 share and p50/p95 latency by model ×
size × hour from the attempts — the same figures on PostgreSQL (percentile_cont) and on
SQLite (Python) — on the admins' page, and the one line reviewers read at approval."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from generations import health
from generations.models import Attempt, Generation
from generations.states import State
from tests.support.factories import GenerationFactory, SubmissionFactory, UserFactory
from tests.support.review import member, waiting

pytestmark = pytest.mark.django_db

MODEL = "nano-banana-pro"


@pytest.fixture(autouse=True)
def _local_models(settings, monkeypatch):
    settings.STUDIO_MODELS = {
        MODEL: {"label": "Nano Banana Pro", "provider": "local", "model_id": "gemini-3-pro-image"},
        "nano-banana-2": {
            "label": "Nano Banana 2",
            "provider": "local",
            "model_id": "gemini-3.1-flash-image",
        },
    }
    settings.TIME_ZONE = "UTC"
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)


def _calls(
    generation: Generation,
    *,
    at: dt.datetime,
    size: str = "4K",
    outcome: str = Attempt.Outcome.SUCCEEDED,
    error_kind: str = "",
    latency_s: float | None = None,
    model_key: str = MODEL,
) -> Attempt:
    number = Attempt.objects.filter(generation=generation).count() + 1
    return Attempt.objects.create(
        generation=generation,
        number=number,
        phase="final",
        size=size,
        provider="gemini",
        model_id="gemini-3-pro-image",
        model_key=model_key,
        started_at=at,
        finished_at=at,
        outcome=outcome,
        error_kind=error_kind,
        latency_ms=None if latency_s is None else round(latency_s * 1000),
    )


@pytest.fixture
def attempts(project) -> dt.datetime:
    """A week of Pro 4K calls: 4 images (100–400 s), 2 failures, 2 refused with a 429, one
    still running; one image a fortnight ago; and a 1K call of another model."""
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    generation = GenerationFactory(
        submission=SubmissionFactory(project=project), state=State.DELIVERED
    )
    at = now - dt.timedelta(hours=3)  # all in one hour of the day
    for seconds in (100, 200, 300, 400):
        _calls(generation, at=at, latency_s=seconds)
    for _ in range(2):
        _calls(generation, at=at, outcome=Attempt.Outcome.FAILED, error_kind="server_error")
    _calls(generation, at=at, outcome=Attempt.Outcome.FAILED, error_kind="rate_limited")
    _calls(generation, at=at, outcome=Attempt.Outcome.FAILED, error_kind="quota_exhausted")
    _calls(generation, at=at, outcome=Attempt.Outcome.RUNNING)
    _calls(generation, at=now - dt.timedelta(days=14), latency_s=50)
    _calls(generation, at=at, size="1K", latency_s=20, model_key="nano-banana-2")
    return now


def test_the_figures_per_model_and_size_over_a_week(attempts):
    report = health.provider_health(window="7d", now=attempts)

    pro = next(s for s in report.series if (s.model_key, s.size) == (MODEL, "4K"))
    cell = pro.overall
    assert (cell.calls, cell.refused, cell.tries, cell.made) == (8, 2, 6, 4)
    assert cell.success == pytest.approx(4 / 6)
    assert cell.refused_share == pytest.approx(2 / 8)
    # percentile_cont: interpolated between the nearest values (ms).
    assert cell.p50_ms == pytest.approx(250_000)
    assert cell.p95_ms == pytest.approx(385_000)
    hour = (attempts - dt.timedelta(hours=3)).hour
    assert pro.by_hour.keys() == {hour}
    assert pro.hour(hour).made == 4
    assert [(s.label, s.size) for s in report.series] == [
        ("Nano Banana Pro", "4K"),
        ("Nano Banana 2", "1K"),
    ]


def test_the_window_decides_which_calls_count(attempts):
    month = health.provider_health(window="30d", now=attempts)
    pro = next(s for s in month.series if s.size == "4K")
    assert (pro.overall.made, pro.overall.p50_ms) == (5, 200_000)

    later = health.provider_health(window="24h", now=attempts + dt.timedelta(hours=22))
    assert later.series == []


def test_percentile_is_the_same_continuous_one_as_postgresql():
    assert health.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert health.percentile([10.0], 0.95) == 10.0
    assert health.percentile([], 0.5) is None


def test_admins_see_the_page_with_its_figures_and_charts(client, attempts, project):
    admin = UserFactory(username="root", is_staff=True)
    client.force_login(admin)

    page = client.get(reverse("provider_health"))

    assert page.status_code == 200
    text = page.content.decode()
    row = text.split('data-health-row="nano-banana-pro/4K"')[1].split("</tr>")[0]
    assert ">8<" in row  # calls
    assert "67 %" in row and "25 %" in row  # first-try success, 429 share
    assert "4 min" in row and "6 min" in row  # p50 250 s, p95 385 s
    assert 'data-health-chart="nano-banana-pro/4K"' in text
    assert "<svg" in text and 'data-hour="' in text
    month = client.get(reverse("provider_health") + "?window=30d", headers={"HX-Request": "true"})
    assert 'data-window="30d" class="is-active"' in month.content.decode()
    assert "<html" not in month.content.decode()  # the report alone for htmx


def test_a_project_admin_sees_the_page_and_others_get_a_404(client, project):
    client.force_login(member(project, "ada", "admin"))
    assert client.get(reverse("provider_health")).status_code == 200
    client.force_login(member(project, "dana", "designer"))
    assert client.get(reverse("provider_health")).status_code == 404
    client.logout()
    assert client.get(reverse("provider_health")).status_code in (302, 404)


def test_the_approval_point_shows_the_models_figure_for_the_final(client, attempts, project):
    designer = member(project, "dana", "designer")
    reviewer = member(project, "rui", "reviewer")
    (generation,) = waiting(project, designer)
    client.force_login(reviewer)

    expected = "Nano Banana Pro 4K: 67 % first-try success this week, p50 4 min"
    page = client.get(reverse("generation", args=[generation.pk])).content.decode()
    assert expected in page
    queue = client.get(reverse("review")).content.decode()
    assert expected in queue
    canvas = client.get(reverse("review_canvas")).content.decode()
    assert expected in canvas


def test_a_model_without_calls_says_so_at_approval(project):
    figure = health.approval_figure(model_key="nano-banana-2", size="4K")
    assert figure.text == "Nano Banana 2 4K: no tries measured this week."


def test_the_figures_are_kept_for_a_while_then_computed_again(settings, attempts, project):
    from django.core.cache import cache

    settings.STUDIO_HEALTH_CACHE_SECONDS = 300
    cache.clear()
    first = health.approval_figure(model_key=MODEL, size="4K").cell
    generation = Generation.objects.first()
    _calls(generation, at=timezone.now() - dt.timedelta(minutes=5), latency_s=100)

    assert health.approval_figure(model_key=MODEL, size="4K").cell.made == first.made  # kept
    cache.clear()  # as when the time is up
    assert health.approval_figure(model_key=MODEL, size="4K").cell.made == first.made + 1
