"""The economy lane end to end: a real Celery worker with its embedded beat runs the one
poller against the fake Gemini Batch API on loopback. The worker and beat are killed
(SIGKILL, the whole process group) between "recorded" and "created", between "created"
and its record, and between "succeeded" and "stored"; after a restart there is exactly
one job and every result is stored once. In Chromium, a reviewer approves into the
economy lane and sees the final delivered when the fake job succeeds."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from generations import services
from generations.lanes import Lane
from generations.models import EconomyJob, Generation, Image, LedgerEntry, Phase
from generations.review.decisions import generation_approve
from generations.states import State
from tests.e2e.conftest import FILESYSTEM_BROKER, VIEWPORT, screenshot, wait_for
from tests.support.batch_server import FakeBatchService
from tests.support.factories import PASSWORD
from tests.support.provider_server import FakeProviderServer, gemini_ok

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET = "AIzaSy-E2E-ONLY-economy-not-a-real-key"
KEY_ENV = "STUDIO_E2E_GEMINI_KEY"
PAUSE_S = 30  # a worker waits this long at the chaos point: killed long before it ends


@pytest.fixture
def provider_server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def batch(provider_server) -> FakeBatchService:
    service = FakeBatchService()
    provider_server.router = service
    return service


@pytest.fixture
def economy_env(provider_server, settings, monkeypatch, project) -> dict[str, str]:
    """nano-banana-pro pointed at the fake server, its key set, a quick poller."""
    override = {"base_url": provider_server.url, "api_key_env": KEY_ENV}
    settings.STUDIO_MODELS = {
        **settings.STUDIO_MODELS,
        "nano-banana-pro": {**settings.STUDIO_MODELS["nano-banana-pro"], **override},
    }
    monkeypatch.setenv(KEY_ENV, SECRET)
    project.final_size = "2K"  # quick fake answers; the lane is the same at 4K
    project.fidelity_threshold = 0
    project.save()
    return {
        "STUDIO_MODELS": json.dumps({"nano-banana-pro": override}),
        KEY_ENV: SECRET,
        # The filesystem broker hands a worker about one message a second (conftest).
        "STUDIO_ECONOMY_POLL_SECONDS": "3" if FILESYSTEM_BROKER else "1",
        "STUDIO_ECONOMY_JOB_POLL_SECONDS": "1",
        "STUDIO_ECONOMY_JOB_LEASE_SECONDS": "3",
    }


def _reviewed(project, designer, provider_server, *, variants: int) -> list[Generation]:
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt="a paper boat on a flooded street, morning light",
        model_key="nano-banana-pro",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=variants,
    )
    provider_server.script(*[gemini_ok() for _ in range(variants)])
    generations = list(submission.generations.order_by("variant"))
    wait_for(
        lambda: all(_state(g) == State.IN_REVIEW for g in generations), timeout=60, what="previews"
    )
    return generations


def _state(generation: Generation) -> str:
    return Generation.objects.values_list("state", flat=True).get(pk=generation.pk)


def _paused(worker, stage: str) -> bool:
    return bool(re.search(rf"chaos: pid \d+ paused at {stage}\b", worker.log.read_text()))


@pytest.mark.parametrize(
    "stage",
    [
        "economy_recorded",  # the job row and its items written, nothing created yet
        "economy_created",  # created at the provider, not yet recorded as created
        # Succeeded, the first result stored, the others not: the poll redelivered after
        # the kill, so it runs on every broker (the other two points are database-only).
        pytest.param("economy_item", marks=pytest.mark.broker),
    ],
)
def test_killing_worker_and_beat_leaves_one_job_and_every_result_once(
    celery_worker, economy_env, batch, provider_server, project, designer, reviewer, stage
):
    celery_worker.start(extra_env=economy_env)
    generations = _reviewed(project, designer, provider_server, variants=3)
    celery_worker.stop()
    for generation in generations:
        generation_approve(generation_id=generation.pk, user=reviewer, lane=Lane.BATCH)

    chaos = {"STUDIO_CHAOS_PAUSE_AT": stage, "STUDIO_CHAOS_PAUSE_SECONDS": str(PAUSE_S)}
    celery_worker.start(extra_env={**economy_env, **chaos})
    wait_for(lambda: _paused(celery_worker, stage), timeout=60, what=f"the pause at {stage}")
    celery_worker.kill()  # worker, pool and beat: SIGKILL
    (job,) = EconomyJob.objects.all()
    assert job.status != EconomyJob.Status.STORED

    celery_worker.start(extra_env=economy_env)
    wait_for(
        lambda: all(_state(g) == State.DELIVERED for g in generations),
        timeout=90,
        what="every final delivered after the restart",
    )
    assert EconomyJob.objects.count() == 1
    assert batch.creates == 1 and len(batch.jobs) == 1
    for generation in generations:
        assert Image.objects.filter(generation=generation, phase=Phase.FINAL).count() == 1
        charges = LedgerEntry.objects.filter(generation=generation, phase=Phase.FINAL)
        assert [c.lane for c in charges] == [Lane.BATCH]
    wait_for(
        lambda: EconomyJob.objects.get().status == EconomyJob.Status.STORED,
        timeout=10,
        what="the job stored",
    )


@pytest.mark.browser
def test_a_reviewer_approves_into_the_economy_lane_and_sees_it_delivered(
    live_server, browser, celery_worker, economy_env, batch, provider_server, project, designer,
    reviewer,
):  # fmt: skip
    celery_worker.start(extra_env=economy_env)
    (generation,) = _reviewed(project, designer, provider_server, variants=1)

    page = browser.new_context(viewport=VIEWPORT, base_url=live_server.url).new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", reviewer.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()

    page.goto(f"/g/{generation.pk}/")
    lane = page.locator("#approve-lane")
    options = lane.locator("option").all_inner_texts()
    assert any(o.startswith("Economy (Batch API) · $0.07") and "24 h" in o for o in options)
    lane.select_option("batch")
    page.click("button.btn--approve")
    page.get_by_text("the final goes by the economy lane").wait_for()
    screenshot(page, "economy-approved")

    # The page follows the final: delivered once the fake Batch API job has succeeded.
    page.locator("[data-state='delivered']").first.wait_for(timeout=90_000)
    screenshot(page, "economy-delivered")
    assert batch.creates == 1 and batch.polls >= 2
    charge = LedgerEntry.objects.get(generation=generation, phase=Phase.FINAL)
    assert (charge.lane, str(charge.amount_usd)) == (Lane.BATCH, "0.0676")
