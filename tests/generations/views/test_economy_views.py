"""The economy lane as reviewers and admins meet it: the lane at approval with its price
and wait (generation page, review queue, canvas), the project's default lane, and the
local simulation of the Batch API that `make run` uses (no key)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from generations.lanes import Lane
from generations.models import EconomyJob, LedgerEntry, Phase, Reservation
from generations.providers.base import RenderRequest, ServerError
from generations.providers.batch import BatchItem, JobState
from generations.providers.local_batch import LocalBatchProvider
from generations.rendering import economy
from generations.states import State
from tests.support.fakes import drain_cpu_queue
from tests.support.review import in_review

pytestmark = pytest.mark.django_db

# Nano Banana Pro 4K as seeded (simulated locally: no key in tests), from the preview.
NOW_4K = Decimal("0.24") + Decimal("0.0011")
ECONOMY_4K = Decimal("0.12") + Decimal("0.0006")  # half of 0.0011, to four places


@pytest.fixture(autouse=True)
def _quiet(monkeypatch, settings, tmp_path, price_list):
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    settings.STUDIO_LOCAL_ECONOMY_DIR = str(tmp_path / "local-batches")
    settings.STUDIO_LOCAL_ECONOMY_SECONDS = 0  # the simulated job is done when polled
    settings.STUDIO_LOCAL_ECONOMY_FAILURE_RATE = 0


def test_the_approval_form_offers_both_lanes_with_price_and_wait(
    client, project, designer, reviewer
):
    (generation,) = in_review(project, designer)
    client.force_login(reviewer)
    html = client.get(reverse("generation", args=[generation.pk])).content.decode()
    assert 'name="lane"' in html
    assert "Now (standard) · $0.24 · starts now" in html
    assert "Economy (Batch API) · $0.12 · up to 24 h" in html
    assert "Economy lane: $0.12 instead of $0.24" in html


def test_approving_into_the_economy_lane_reserves_half_and_says_so(
    client, project, designer, reviewer
):
    (generation,) = in_review(project, designer)
    client.force_login(reviewer)
    response = client.post(
        reverse("generation_approve", args=[generation.pk]), {"lane": "batch"}, follow=True
    )
    html = response.content.decode()
    assert "the final goes by the economy lane (Batch API, half price, up to 24 h" in html
    generation.refresh_from_db()
    assert (generation.state, generation.final_lane) == (State.FINAL_QUEUED, Lane.BATCH)
    assert "Economy lane: goes in the next Batch API job" in generation.waiting_reason
    reserved = Reservation.objects.get(generation=generation, phase=Phase.FINAL)
    assert reserved.amount_usd == ECONOMY_4K


def test_the_review_queue_offers_the_lanes_and_approves_into_the_economy_lane(
    client, project, designer, reviewer
):
    (generation,) = in_review(project, designer)
    client.force_login(reviewer)
    html = client.get(reverse("review")).content.decode()
    assert "Economy (Batch API) · $0.12" in html
    client.post(
        reverse("review_decide", args=[generation.pk]), {"decision": "approve", "lane": "batch"}
    )
    generation.refresh_from_db()
    assert generation.final_lane == Lane.BATCH


def test_the_projects_default_lane_is_what_an_approval_takes(
    client, project, designer, reviewer, project_admin
):
    client.force_login(project_admin)
    page = client.get(reverse("project_settings", args=[project.slug])).content.decode()
    assert "Lane of an approved final" in page
    form = {
        "review_required": "on",
        "allowed_models": ["nano-banana-pro", "nano-banana-2", "nano-banana", "local"],
        "final_size": "4K",
        "fallback_policy": "upscale",
        "escalation_strategy": "from_preview",
        "final_lane": "batch",
    }
    client.post(reverse("project_settings", args=[project.slug]), form)
    project.refresh_from_db()
    assert project.final_lane == Lane.BATCH

    (generation,) = in_review(project, designer)
    client.force_login(reviewer)
    canvas = client.get(reverse("review_canvas") + f"?at={generation.pk}").content.decode()
    assert '<option value="batch" selected>' in canvas
    client.post(reverse("generation_approve", args=[generation.pk]))  # no lane picked
    generation.refresh_from_db()
    assert generation.final_lane == Lane.BATCH


def test_the_local_simulation_delivers_an_economy_final_at_the_batch_price(
    project, designer, reviewer
):
    from generations.review.decisions import generation_approve

    (generation,) = in_review(project, designer)
    generation_approve(generation_id=generation.pk, user=reviewer, lane=Lane.BATCH)
    report = economy.economy_poll()
    assert (report.created, report.sent) == (1, 1)
    job = EconomyJob.objects.get()
    assert job.provider == "local" and job.provider_job.startswith("batches/local-")
    # Done at once here (0 s): the next run stores the result.
    economy.economy_poll()
    drain_cpu_queue()
    generation.refresh_from_db()
    assert generation.state == State.DELIVERED
    final = generation.images.get(phase=Phase.FINAL)
    assert (final.width, final.height) == (4096, 4096)
    assert final.fidelity_ssim > 0.9  # made from the approved preview: the same picture
    charge = LedgerEntry.objects.get(generation=generation, phase=Phase.FINAL)
    assert (charge.lane, charge.amount_usd, charge.simulated) == (Lane.BATCH, ECONOMY_4K, True)


def _request(seed: int = 1) -> RenderRequest:
    return RenderRequest(
        prompt="a kite",
        model_id="local",
        aspect_ratio="1:1",
        size="1K",
        width=1024,
        height=1024,
        seed=seed,
        timeout_s=1,
    )


def test_the_local_batch_simulation_tells_the_truth_about_its_state(tmp_path):
    now = [1000.0]
    provider = LocalBatchProvider(
        directory=tmp_path, seconds=40, failure_rate=0.0, clock=lambda: now[0]
    )
    status = provider.create(
        display_name="ours-1", items=[BatchItem("a", _request()), BatchItem("b", _request(2))]
    )
    assert status.state == JobState.PENDING
    now[0] += 15
    assert provider.get(status.name).state == JobState.RUNNING
    now[0] += 30
    done = provider.get(status.name)
    assert done.state == JobState.SUCCEEDED
    outcomes = dict(provider.results(done))
    assert set(outcomes) == {"a", "b"}
    assert all(result.width == 1024 for result in outcomes.values())  # type: ignore[union-attr]
    assert provider.find(display_name="ours-1").name == status.name  # type: ignore[union-attr]
    assert provider.find(display_name="nobody's") is None


def test_the_local_simulation_fails_items_on_their_own_and_always_the_same_ones(tmp_path):
    provider = LocalBatchProvider(directory=tmp_path, seconds=0, failure_rate=0.5)
    items = [BatchItem(f"item-{n}", _request(n)) for n in range(12)]
    status = provider.create(display_name="ours-2", items=items)
    first = {key: isinstance(o, ServerError) for key, o in provider.results(status)}
    again = {key: isinstance(o, ServerError) for key, o in provider.results(status)}
    assert first == again
    assert 0 < sum(first.values()) < 12
