"""The economy lane end to end against a fake Gemini Batch API on loopback: approvals at
the batch price, one poller that records a job before creating it, polls it, and stores
every result once — including after a crash between "recorded" and "created", between
"created" and its record, and between "succeeded" and "stored"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from generations import catalog, references, services
from generations.lanes import Lane
from generations.models import (
    Attempt,
    EconomyJob,
    Generation,
    Image,
    LedgerEntry,
    Phase,
    PriceEntry,
    Reservation,
)
from generations.rendering import economy, jobs
from generations.rendering.sweeper import generations_sweep
from generations.review.decisions import generation_approve
from generations.states import State
from tests.support import hosted
from tests.support.batch_server import FakeBatchService
from tests.support.fakes import drain_cpu_queue, png_bytes
from tests.support.provider_server import FakeProviderServer, gemini_ok

pytestmark = pytest.mark.django_db

STANDARD_2K, BATCH_2K = Decimal("0.1340"), Decimal("0.0670")
STANDARD_INPUT, BATCH_INPUT = Decimal("0.0010"), Decimal("0.0005")


class Crash(Exception):
    """The poller's process killed at a point (in-process: the run stops there)."""


@pytest.fixture
def batch(provider_server: FakeProviderServer) -> FakeBatchService:
    service = FakeBatchService()
    provider_server.router = service
    return service


@pytest.fixture(autouse=True)
def _hosted(settings, monkeypatch, provider_server, project):
    hosted.configure(
        settings, provider_server.url, sizes=["1K", "2K"], preview_sizes=["1K"], final_size="2K"
    )
    monkeypatch.setenv(hosted.KEY_ENV, hosted.SECRET)
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    settings.STUDIO_ECONOMY_JOB_POLL_SECONDS = 60  # `_poll` makes every open job due
    project.final_size = "2K"
    project.fidelity_threshold = 0  # what is tested here is the lane, not the fidelity
    project.save()
    now = timezone.now() - dt.timedelta(days=1)
    for lane, image, input_image in (
        (Lane.STANDARD, STANDARD_2K, STANDARD_INPUT),
        (Lane.BATCH, BATCH_2K, BATCH_INPUT),
    ):
        for size in ("1K", "2K"):
            PriceEntry.objects.create(
                model_key=hosted.MODEL_KEY,
                size=size,
                lane=lane,
                usd_per_image=image,
                effective_from=now,
            )
        PriceEntry.objects.create(
            model_key=hosted.MODEL_KEY,
            size="",
            kind="input_image",
            lane=lane,
            usd_per_image=input_image,
            effective_from=now,
        )


def _approved(designer, reviewer, project, provider_server, *, variants: int = 3):
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt=hosted.PROMPT,
        model_key=hosted.MODEL_KEY,
        aspect_ratio="1:1",
        preview_size="1K",
        variants=variants,
    )
    generations = list(submission.generations.order_by("variant"))
    provider_server.script(*[gemini_ok() for _ in generations])
    for generation in generations:
        assert hosted.render(generation) == State.IN_REVIEW
        generation_approve(generation_id=generation.pk, user=reviewer, lane=Lane.BATCH)
    drain_cpu_queue()
    return generations


def _poll(**kwargs) -> economy.PollReport:
    """One run of the poller, as if a job-poll interval had passed since the last."""
    EconomyJob.objects.update(next_poll_at=timezone.now() - dt.timedelta(seconds=1))
    report = economy.economy_poll(**kwargs)
    drain_cpu_queue()
    return report


def _states(generations) -> list[str]:
    return [hosted.reload(g).state for g in generations]


def _crash_at(monkeypatch, stage: str, *, after: int = 0) -> None:
    seen = {"n": 0}

    def pause_at(at: str, what: str = "") -> None:
        if at == stage:
            seen["n"] += 1
            if seen["n"] > after:
                raise Crash(stage)

    monkeypatch.setattr("generations.rendering.economy.pause_at", pause_at)


def _no_crash(monkeypatch) -> None:
    monkeypatch.setattr("generations.rendering.economy.pause_at", lambda *a, **k: None)


def _lease_lapses() -> None:
    EconomyJob.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))


def test_approval_into_the_economy_lane_reserves_the_batch_price(
    designer, reviewer, project, provider_server, batch
):
    (generation,) = _approved(designer, reviewer, project, provider_server, variants=1)
    generation = hosted.reload(generation)
    assert (generation.state, generation.final_lane) == (State.FINAL_QUEUED, Lane.BATCH)
    reserved = Reservation.objects.get(generation=generation, phase=Phase.FINAL, status="open")
    assert reserved.amount_usd == BATCH_2K + BATCH_INPUT  # half of 0.134 + 0.001
    # No render worker takes it, and the sweeper does not kick it: the poller's.
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == "skipped"
    Generation.objects.filter(pk=generation.pk).update(kicked_at=None)
    assert generations_sweep().kicked == 0


def test_the_batch_protocol_delivers_blocks_and_retries_items_each_on_its_own(
    designer, reviewer, project, provider_server, batch
):
    batch.outcomes = {1: "blocked", 2: "failed"}
    generations = _approved(designer, reviewer, project, provider_server)

    report = _poll()
    assert (report.created, report.sent) == (1, 3)
    assert batch.creates == 1
    (job,) = EconomyJob.objects.all()
    assert (job.status, job.provider_job, job.items) == ("pending", "batches/1", 3)
    assert _states(generations) == [State.FINAL_RENDERING] * 3
    # Each inlined request is the standard lane's request, tagged with the attempt's key.
    sent = batch.jobs[0]
    assert sent.display_name == job.key
    attempts = {str(a.lease_token): a for a in Attempt.objects.filter(economy_job=job)}
    assert set(sent.keys) == set(attempts)
    for request in sent.requests:
        attempt = attempts[request["metadata"]["key"]]
        body = request["request"]
        assert body["generationConfig"]["seed"] == attempt.generation.seed
        assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1", "imageSize": "2K"}
        parts = body["contents"][0]["parts"]
        assert "inlineData" in parts[0] and "text" in parts[-1]  # the preview, then words
        assert attempt.lane == Lane.BATCH
    assert all(r.headers["x-goog-api-key"] == hosted.SECRET for r in provider_server.requests)

    _poll()  # running
    assert EconomyJob.objects.get().status == "running"
    assert _states(generations) == [State.FINAL_RENDERING] * 3

    report = _poll()  # succeeded: every item recorded, on its own
    assert report.stored == 3
    delivered, blocked, failed = (hosted.reload(g) for g in generations)
    assert delivered.state == State.DELIVERED
    final = delivered.images.get(phase=Phase.FINAL)
    assert (final.width, final.height) == (2048, 2048)
    assert blocked.state == State.DELIVERED_FALLBACK  # the project falls back (upscale)
    assert "blocked" in blocked.last_error.lower()
    assert failed.state == State.FINAL_QUEUED  # retried in a later job
    assert failed.final_lane == Lane.BATCH
    assert EconomyJob.objects.get().status == EconomyJob.Status.STORED

    charge = LedgerEntry.objects.get(kind="charge", phase=Phase.FINAL)
    assert charge.generation_id == delivered.pk
    assert (charge.lane, charge.amount_usd) == (Lane.BATCH, BATCH_2K + BATCH_INPUT)
    assert not LedgerEntry.objects.filter(generation__in=[blocked, failed], phase="final")

    # The failed item goes in the next job once its backoff is over.
    hosted.make_due(failed)
    _poll()
    assert batch.creates == 2 and len(batch.jobs[1].requests) == 1
    _poll()
    _poll()
    assert hosted.reload(failed).state == State.DELIVERED
    hosted.assert_secret_nowhere(hosted.SECRET)


def test_an_expired_job_requeues_its_finals_uncharged(
    designer, reviewer, project, provider_server, batch
):
    batch.plan = ["PENDING", "EXPIRED"]
    generations = _approved(designer, reviewer, project, provider_server, variants=2)
    _poll()
    _poll()
    assert EconomyJob.objects.get().status == EconomyJob.Status.STORED
    for generation in generations:
        generation = hosted.reload(generation)
        assert generation.state == State.FINAL_QUEUED
        assert "expired" in generation.last_error
    assert not LedgerEntry.objects.filter(phase=Phase.FINAL).exists()
    # The reservations stay for the retry: still the economy price.
    assert Reservation.objects.filter(phase=Phase.FINAL, status="open").count() == 2


def test_a_large_job_is_read_from_its_responses_file(
    designer, reviewer, project, provider_server, batch
):
    batch.responses_file = True
    generations = _approved(designer, reviewer, project, provider_server, variants=2)
    for _ in range(3):
        _poll()
    assert batch.downloads == 1
    assert _states(generations) == [State.DELIVERED] * 2
    download = [r for r in provider_server.requests if r.path.startswith("/download/")]
    assert download[0].query == "alt=media"


def test_killed_between_recorded_and_created_the_job_is_created_once(
    designer, reviewer, project, provider_server, batch, monkeypatch
):
    generations = _approved(designer, reviewer, project, provider_server, variants=2)
    _crash_at(monkeypatch, "economy_recorded")
    with pytest.raises(Crash):
        _poll()
    (job,) = EconomyJob.objects.all()
    assert job.status == EconomyJob.Status.RECORDED and batch.creates == 0
    assert _states(generations) == [State.FINAL_RENDERING] * 2

    _no_crash(monkeypatch)
    _poll()  # its lease still runs: nobody touches it
    assert batch.creates == 0
    _lease_lapses()
    report = _poll()  # reconciled: not found at the provider, so created now
    assert report.reconciled == 1 and batch.lists == 1 and batch.creates == 1
    _poll()
    _poll()
    assert EconomyJob.objects.count() == 1
    assert _states(generations) == [State.DELIVERED] * 2
    assert Image.objects.filter(phase=Phase.FINAL).count() == 2
    assert LedgerEntry.objects.filter(kind="charge", phase=Phase.FINAL).count() == 2


def test_killed_between_created_and_its_record_the_job_is_found_not_made_again(
    designer, reviewer, project, provider_server, batch, monkeypatch
):
    generations = _approved(designer, reviewer, project, provider_server, variants=2)
    _crash_at(monkeypatch, "economy_created")
    with pytest.raises(Crash):
        _poll()
    assert batch.creates == 1
    assert EconomyJob.objects.get().status == EconomyJob.Status.RECORDED

    _no_crash(monkeypatch)
    _lease_lapses()
    report = _poll()  # found by our key among the provider's jobs, adopted
    assert report.reconciled == 1 and batch.creates == 1
    job = EconomyJob.objects.get()
    assert job.provider_job == "batches/1"
    _poll()
    _poll()
    assert batch.creates == 1 and len(batch.jobs) == 1
    assert _states(generations) == [State.DELIVERED] * 2
    assert LedgerEntry.objects.filter(kind="charge", phase=Phase.FINAL).count() == 2


def test_killed_between_succeeded_and_stored_every_result_is_stored_once(
    designer, reviewer, project, provider_server, batch, monkeypatch
):
    generations = _approved(designer, reviewer, project, provider_server, variants=3)
    _poll()
    _poll()
    _crash_at(monkeypatch, "economy_item")  # after the first item, before the others
    with pytest.raises(Crash):
        _poll()
    assert EconomyJob.objects.get().status == EconomyJob.Status.SUCCEEDED
    assert _states(generations).count(State.DELIVERED) == 1

    _no_crash(monkeypatch)
    _lease_lapses()
    _poll()  # reads the results again, records only what is missing
    assert EconomyJob.objects.get().status == EconomyJob.Status.STORED
    assert _states(generations) == [State.DELIVERED] * 3
    assert batch.creates == 1
    for generation in generations:
        assert generation.images.filter(phase=Phase.FINAL).count() == 1
        assert LedgerEntry.objects.filter(generation=generation, phase="final").count() == 1


def test_killed_right_after_succeeded_nothing_is_lost(
    designer, reviewer, project, provider_server, batch, monkeypatch
):
    generations = _approved(designer, reviewer, project, provider_server, variants=2)
    _poll()
    _poll()
    _crash_at(monkeypatch, "economy_succeeded")
    with pytest.raises(Crash):
        _poll()
    assert _states(generations) == [State.FINAL_RENDERING] * 2
    _no_crash(monkeypatch)
    _lease_lapses()
    _poll()
    assert _states(generations) == [State.DELIVERED] * 2
    assert LedgerEntry.objects.filter(kind="charge", phase=Phase.FINAL).count() == 2


def test_a_final_cancelled_while_in_a_job_is_discarded_on_arrival_and_charged_as_waste(
    designer, reviewer, project, provider_server, batch
):
    kept, cancelled = _approved(designer, reviewer, project, provider_server, variants=2)
    _poll()
    services.generation_cancel(generation_id=cancelled.pk, user=designer)
    # The cancel keeps the reservation: the job may still bill the item.
    assert Reservation.objects.get(generation=cancelled, phase="final").status == "open"
    _poll()
    _poll()
    assert hosted.reload(kept).state == State.DELIVERED
    assert hosted.reload(cancelled).state == State.CANCELLED
    assert not cancelled.images.filter(phase=Phase.FINAL).exists()
    attempt = cancelled.attempts.get(phase=Phase.FINAL)
    assert attempt.outcome == Attempt.Outcome.DISCARDED
    waste = LedgerEntry.objects.get(attempt=attempt)
    assert (waste.waste, waste.lane, waste.amount_usd) == (True, Lane.BATCH, BATCH_2K + BATCH_INPUT)
    assert Reservation.objects.get(generation=cancelled, phase="final").status == "charged"


def test_only_gemini_models_go_by_the_economy_lane(settings, provider_server):
    settings.STUDIO_MODELS["gateway"] = {
        "label": "Gateway",
        "provider": "openai",
        "model_id": "gpt-image-1",
        "base_url": provider_server.url,
        "api_key_env": hosted.KEY_ENV,
    }
    # A project whose default is the economy lane sends this model's finals now, saying why.
    lane, note = catalog.final_lane(
        asked="", default=Lane.BATCH, model_key="gateway", strategy="from_prompt"
    )
    assert lane == Lane.STANDARD and "only Gemini models" in note
    assert catalog.final_lane(
        asked="", default=Lane.BATCH, model_key=hosted.MODEL_KEY, strategy="from_preview"
    ) == (Lane.BATCH, "")
    assert catalog.final_lane(
        asked=Lane.STANDARD, default=Lane.BATCH, model_key=hosted.MODEL_KEY, strategy=""
    ) == (Lane.STANDARD, "")


def test_asking_for_the_economy_lane_with_an_upscale_is_refused(
    designer, reviewer, project, provider_server
):
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt=hosted.PROMPT,
        model_key=hosted.MODEL_KEY,
        aspect_ratio="1:1",
        preview_size="1K",
        variants=1,
    )
    generation = submission.generations.get()
    provider_server.script(gemini_ok())
    hosted.render(generation)
    with pytest.raises(ValidationError, match="no economy lane"):
        generation_approve(
            generation_id=generation.pk, user=reviewer, strategy="upscale", lane=Lane.BATCH
        )
    assert hosted.reload(generation).state == State.IN_REVIEW


def test_a_big_job_is_stored_over_several_runs_each_result_once(
    settings, designer, reviewer, project, provider_server, batch
):
    generations = _approved(designer, reviewer, project, provider_server, variants=3)
    settings.STUDIO_ECONOMY_STORE_SECONDS = -1  # out of time after every item
    _poll()
    _poll()
    stored = [_poll().stored for _ in range(3)]
    assert stored == [1, 1, 1]  # the job's results read again, only the missing recorded
    assert _states(generations) == [State.DELIVERED] * 3
    assert EconomyJob.objects.get().status == EconomyJob.Status.STORED
    assert LedgerEntry.objects.filter(kind="charge", phase=Phase.FINAL).count() == 3


def test_jobs_are_sized_so_their_inlined_answer_stays_readable(
    settings, designer, reviewer, project, provider_server, batch
):
    # Room for two 2K answers (~8 MiB each as base64) per job.
    settings.STUDIO_ECONOMY_MAX_RESPONSE_BYTES = 2 * 2048 * 2048 * 2
    generations = _approved(designer, reviewer, project, provider_server, variants=3)
    report = _poll()
    assert (report.created, report.sent) == (2, 3)
    assert [len(job.requests) for job in batch.jobs] == [2, 1]
    for _ in range(2):
        _poll()
    assert _states(generations) == [State.DELIVERED] * 3


def test_the_api_version_is_configuration(
    settings, designer, reviewer, project, provider_server, batch
):
    settings.STUDIO_GEMINI_API_VERSION = "v1"  # Google's current SDK; older ones v1beta
    generations = _approved(designer, reviewer, project, provider_server, variants=1)
    for _ in range(3):
        _poll()
    assert _states(generations) == [State.DELIVERED]
    batch_paths = [r.path for r in provider_server.requests if "batch" in r.path]
    assert batch_paths[0] == "/v1/models/gemini-3-pro-image:batchGenerateContent"
    assert batch_paths[1:] == ["/v1/batches/1", "/v1/batches/1"]


def test_an_economy_final_sends_and_charges_its_references_as_the_standard_lane_does(
    designer, reviewer, project, provider_server, batch
):
    upload = references.upload_create(
        project=project, user=designer, data=png_bytes(640, 480, color=(20, 120, 200))
    )
    submission = services.submission_create(
        project=project, user=designer, prompt=hosted.PROMPT, model_key=hosted.MODEL_KEY,
        aspect_ratio="1:1", preview_size="1K", variants=1, pictures=[upload],
    )  # fmt: skip
    (generation,) = submission.generations.all()
    provider_server.script(gemini_ok())
    assert hosted.render(generation) == State.IN_REVIEW
    generation_approve(generation_id=generation.pk, user=reviewer, lane=Lane.BATCH)
    reserved = Reservation.objects.get(generation=generation, phase=Phase.FINAL, status="open")
    assert reserved.amount_usd == BATCH_2K + 2 * BATCH_INPUT  # the preview and the reference

    _poll()
    (request,) = batch.jobs[0].requests
    parts = request["request"]["contents"][0]["parts"]
    # The approved preview first, then the reference, then the words: as the standard lane.
    assert [("inlineData" in part, "text" in part) for part in parts] == [
        (True, False),
        (True, False),
        (False, True),
    ]
    _poll()
    _poll()
    assert hosted.reload(generation).state == State.DELIVERED
    charge = LedgerEntry.objects.get(kind="charge", phase=Phase.FINAL)
    assert charge.amount_usd == BATCH_2K + 2 * BATCH_INPUT
    assert Attempt.objects.get(generation=generation, phase=Phase.FINAL).input_images == 2
