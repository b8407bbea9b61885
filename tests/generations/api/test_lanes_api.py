"""Issue 15's lanes through the API: a program approves into the economy lane or off-peak,
reads the lane and the wait back, and is told why the economy lane is refused — through
the same service as the pages, so the reservation is priced in the lane asked for."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from generations import services
from generations.models import Phase
from generations.rendering import jobs
from generations.states import State

pytestmark = pytest.mark.django_db

MODEL = "nano-banana-2"


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch, project, price_list):
    quick = {"timeout": 30, "tries": 1, "base_delay": 1}
    settings.STUDIO_ATTEMPT_POLICY = {size: dict(quick) for size in ("1K", "2K", "4K")}
    settings.TIME_ZONE = "UTC"
    settings.STUDIO_OFFPEAK_MAX_WAIT_HOURS = 12
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    project.final_size = "2K"
    project.save()


def _in_review(project, designer):
    generation = services.submission_create(
        project=project, user=designer, prompt="a lighthouse at dusk", model_key=MODEL,
        aspect_ratio="1:1", preview_size="1K", variants=1,
    ).generations.get()  # fmt: skip
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == State.IN_REVIEW
    return generation


def _final_reservation(generation):
    return generation.reservations.get(phase=Phase.FINAL)


def test_approve_into_the_economy_lane_reserves_its_half_price(api_as, project, designer, reviewer):
    now, economy = _in_review(project, designer), _in_review(project, designer)
    api = api_as(reviewer)

    standard = api.post(f"/generations/{now.pk}/approve", {"lane": "standard"}).json()
    batch = api.post(f"/generations/{economy.pk}/approve", {"lane": "batch"}).json()

    assert (standard["final_lane"], batch["final_lane"]) == ("standard", "batch")
    assert batch["state"] == "final_queued" and batch["not_before"] is None
    assert "economy lane" in batch["timeline"][-1]["reason"]
    halved = _final_reservation(economy).amount_usd * 2
    assert abs(halved - _final_reservation(now).amount_usd) <= Decimal("0.0002")  # rounding


def test_approve_off_peak_says_until_when_the_final_waits(
    settings, api_as, project, designer, reviewer
):
    generation = _in_review(project, designer)
    opening = (timezone.now() + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    settings.STUDIO_OFFPEAK_WINDOWS = {
        MODEL: f"{opening.hour:02d}:00-{(opening.hour + 4) % 24:02d}:00"
    }

    body = (
        api_as(reviewer).post(f"/generations/{generation.pk}/approve", {"lane": "offpeak"}).json()
    )

    assert (body["state"], body["final_lane"]) == ("final_queued", "standard")
    assert dt.datetime.fromisoformat(body["not_before"]) == opening
    # No worker takes it before then.
    assert jobs.generation_render(generation_id=generation.pk) == "skipped"


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"lane": "overnight"}, "lane"), ({"lane": "batch", "strategy": "upscale"}, "lane")],
    ids=["not-a-lane", "upscale-has-no-economy-lane"],
)
def test_a_lane_that_cannot_be_is_refused_and_nothing_is_reserved(
    api_as, project, designer, reviewer, payload, field
):
    generation = _in_review(project, designer)

    response = api_as(reviewer).post(f"/generations/{generation.pk}/approve", payload)

    assert response.status_code == 422
    assert field in response.text
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW
    assert not generation.reservations.filter(phase=Phase.FINAL).exists()
