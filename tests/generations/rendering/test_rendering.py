"""The worker's side: claim under a lease, render, store, and settle — retry with backoff,
fall back, fail, or discard a result nobody wants any more."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from generations import services
from generations.imaging import renditions
from generations.models import Attempt, FallbackPolicy, Generation, Image, Phase, Transition
from generations.providers.base import (
    ContentBlocked,
    RateLimited,
    ServerError,
)
from generations.providers.local import LocalProvider
from generations.rendering import jobs
from generations.rendering.sweeper import generations_sweep
from generations.review.decisions import generation_approve
from generations.states import Actor, State
from tests.support.factories import GenerationFactory
from tests.support.fakes import OK, ScriptedProvider, garbage_result, png_result

pytestmark = pytest.mark.django_db

BASE_DELAY = 10  # seconds; a first retry waits 5–10 s


@pytest.fixture(autouse=True)
def _quick_policy(settings):
    quick = {"timeout": 5, "tries": 2, "base_delay": BASE_DELAY}
    settings.STUDIO_ATTEMPT_POLICY = {"1K": dict(quick), "2K": dict(quick), "4K": dict(quick)}
    settings.STUDIO_LEASE_GRACE_SECONDS = 30
    settings.STUDIO_MODELS = {
        "nano-banana-pro": {
            "label": "Nano Banana Pro",
            "provider": "local",
            "model_id": "gemini-3-pro-image",
        }
    }


@pytest.fixture(autouse=True)
def rendition_kicks(monkeypatch) -> list[int]:
    """Nothing here may reach a broker, even if an on-commit kick were run; the image
    ids sent to the CPU queue are recorded."""
    kicks: list[int] = []
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    monkeypatch.setattr("generations.rendering.sweeper.kick", lambda generation_id: None)
    monkeypatch.setattr(
        "generations.imaging.renditions.enqueue", lambda image_id, **options: kicks.append(image_id)
    )
    return kicks


def _submit(designer, project, *, aspect_ratio="1:1", preview_size="1K") -> Generation:
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt="a lighthouse on a cliff at dusk",
        model_key="nano-banana-pro",
        aspect_ratio=aspect_ratio,
        preview_size=preview_size,
        variants=1,
    )
    return submission.generations.get()


def _render(generation: Generation, provider) -> str:
    return jobs.generation_render(
        generation_id=generation.pk, worker="worker-1@test", provider=provider
    )


def _reload(generation: Generation) -> Generation:
    return Generation.objects.get(pk=generation.pk)


def _make_due(generation: Generation) -> None:
    """Move time forward: the backoff is over."""
    Generation.objects.filter(pk=generation.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def _approved(designer, reviewer, project) -> Generation:
    """A generation whose 1K preview was rendered and approved: its 4K is queued."""
    generation = _submit(designer, project)
    assert _render(generation, ScriptedProvider(OK)) == State.IN_REVIEW
    generation_approve(generation_id=generation.pk, user=reviewer)
    return _reload(generation)


def _media_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _image_names(image: Image) -> set[str]:
    return {image.original.name, image.thumbnail.name, image.screen.name}


def _open(name: str) -> PILImage.Image:
    with default_storage.open(name, "rb") as handle:
        image = PILImage.open(io.BytesIO(handle.read()))
        image.load()
    return image


# --- the happy path -------------------------------------------------------------------


def test_a_queued_preview_is_rendered_and_lands_in_review(
    designer, project, settings, rendition_kicks, django_capture_on_commit_callbacks
):
    generation = _submit(designer, project)
    result = png_result(1024, 1024)
    provider = ScriptedProvider(result)

    with django_capture_on_commit_callbacks(execute=True):
        assert _render(generation, provider) == State.IN_REVIEW

    stored = _reload(generation)
    assert stored.state == State.IN_REVIEW
    assert (stored.attempt_count, stored.tries_used) == (1, 1)
    assert (stored.lease_token, stored.lease_expires_at, stored.next_attempt_at) == (None,) * 3
    assert stored.last_error == ""

    (request,) = provider.requests
    assert (request.width, request.height, request.size) == (1024, 1024, "1K")
    assert request.prompt == "a lighthouse on a cliff at dusk"
    assert (request.model_id, request.aspect_ratio) == ("gemini-3-pro-image", "1:1")
    assert request.seed == stored.seed
    assert request.timeout_s == 5

    image = stored.images.get()
    assert image.phase == Phase.PREVIEW
    assert (image.width, image.height, image.mime_type) == (1024, 1024, "image/png")
    assert image.sha256 == hashlib.sha256(result.data).hexdigest()
    assert image.byte_size == len(result.data)
    assert image.bytes_per_pixel == pytest.approx(len(result.data) / (1024 * 1024))
    assert image.native is True
    assert image.note == ""
    assert (image.model_key, image.size) == ("nano-banana-pro", "1K")
    assert image.placeholder.startswith("data:image/webp;base64,")
    assert len(image.placeholder) < 600
    assert 0 < image.luma_entropy <= 8 and image.detail_energy > 0
    with default_storage.open(image.original.name, "rb") as handle:
        assert handle.read() == result.data
    # In review before its renditions exist: they are the CPU queue's job, kicked once
    # the transition committed.
    assert (image.thumbnail.name, image.screen.name, image.renditions_error) == ("", "", "")
    assert rendition_kicks == [image.pk]
    assert _media_files(settings) == [image.original.name]

    assert renditions.image_renditions_make(image_id=image.pk) == "made"
    image.refresh_from_db()
    for name in (image.thumbnail.name, image.screen.name):
        assert default_storage.exists(name)
        rendition = _open(name)
        assert rendition.format == "WEBP"
        assert max(rendition.size) <= 1024
    assert max(_open(image.thumbnail.name).size) < max(_open(image.screen.name).size)
    assert set(_media_files(settings)) == _image_names(image)

    attempt = stored.attempts.get()
    assert image.attempt == attempt
    assert attempt.outcome == Attempt.Outcome.SUCCEEDED
    assert (attempt.number, attempt.phase, attempt.size) == (1, Phase.PREVIEW, "1K")
    assert (attempt.provider, attempt.model_id) == ("local", "gemini-3-pro-image")
    assert attempt.worker == "worker-1@test"
    assert attempt.latency_ms is not None and attempt.latency_ms >= 0
    assert attempt.finished_at >= attempt.started_at
    assert attempt.error_kind == ""

    trail = list(stored.transitions.values_list("from_state", "to_state", "actor_kind", "attempt"))
    assert trail == [
        ("", State.PREVIEW_QUEUED, Actor.DESIGNER, None),
        (State.PREVIEW_QUEUED, State.PREVIEW_RENDERING, Actor.WORKER, 1),
        (State.PREVIEW_RENDERING, State.IN_REVIEW, Actor.WORKER, 1),
    ]
    assert "worker-1@test" in stored.transitions.all()[1].reason


def test_the_worker_holds_a_lease_of_timeout_plus_grace_while_it_renders(designer, project):
    generation = _submit(designer, project)
    seen: dict[str, object] = {}

    def look(request):
        during = _reload(generation)
        seen.update(
            state=during.state,
            token=during.lease_token,
            left=(during.lease_expires_at - timezone.now()).total_seconds(),
            attempt=Attempt.objects.get(generation=generation).outcome,
        )
        return OK

    _render(generation, ScriptedProvider(look))

    assert seen["state"] == State.PREVIEW_RENDERING
    assert seen["token"] == Attempt.objects.get(generation=generation).lease_token
    assert 30 < seen["left"] <= 35  # 5 s timeout + 30 s grace
    assert seen["attempt"] == Attempt.Outcome.RUNNING


def test_the_local_provider_renders_a_preview_at_the_published_size(designer, project):
    generation = _submit(designer, project, aspect_ratio="16:9", preview_size="1K")

    assert _render(generation, LocalProvider(profile="instant")) == State.IN_REVIEW

    image = _reload(generation).images.get()
    assert (image.width, image.height) == (1376, 768)
    assert image.note == ""
    assert _open(image.original.name).size == (1376, 768)


def test_without_an_injected_provider_the_configured_one_is_used(designer, project):
    generation = _submit(designer, project)

    assert jobs.generation_render(generation_id=generation.pk) == State.IN_REVIEW
    assert _reload(generation).attempts.get().provider == "local"


def test_an_approved_generation_is_delivered_at_native_4k(designer, reviewer, project):
    generation = _approved(designer, reviewer, project)

    assert _render(generation, LocalProvider(profile="instant")) == State.DELIVERED

    stored = _reload(generation)
    assert stored.state == State.DELIVERED
    final = stored.images.get(phase=Phase.FINAL)
    assert (final.width, final.height, final.native) == (4096, 4096, True)
    assert _open(final.original.name).size == (4096, 4096)
    preview = stored.images.get(phase=Phase.PREVIEW)
    assert final.original.name != preview.original.name
    attempt = stored.attempts.get(phase=Phase.FINAL)
    assert (attempt.number, attempt.size, attempt.outcome) == (2, "4K", Attempt.Outcome.SUCCEEDED)
    trail = list(stored.transitions.values_list("to_state", "actor_kind"))
    assert trail[-3:] == [
        (State.FINAL_QUEUED, Actor.REVIEWER),
        (State.FINAL_RENDERING, Actor.WORKER),
        (State.DELIVERED, Actor.WORKER),
    ]


# --- retries --------------------------------------------------------------------------


def test_a_retryable_error_requeues_with_backoff_then_succeeds_when_due(
    designer, project, django_capture_on_commit_callbacks
):
    generation = _submit(designer, project)
    provider = ScriptedProvider(ServerError("upstream answered 500"), OK)

    before = timezone.now()
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = _render(generation, provider)
    after = timezone.now()

    assert outcome == State.PREVIEW_QUEUED
    assert callbacks == [], "a backoff is waited out in the database, not kicked at once"
    stored = _reload(generation)
    assert stored.state == State.PREVIEW_QUEUED
    assert before + dt.timedelta(seconds=BASE_DELAY / 2) <= stored.next_attempt_at
    assert stored.next_attempt_at <= after + dt.timedelta(seconds=BASE_DELAY)
    assert stored.waiting_reason == "Retrying after server error"
    assert stored.last_error == "upstream answered 500"
    assert stored.kicked_at is None
    assert stored.lease_token is None
    failed = stored.attempts.get()
    assert failed.outcome == Attempt.Outcome.FAILED
    assert (failed.error_kind, failed.error_message) == ("server_error", "upstream answered 500")
    assert failed.retryable is True
    assert failed.latency_ms is not None
    audit = stored.transitions.last()
    assert (audit.from_state, audit.to_state, audit.actor_kind) == (
        State.PREVIEW_RENDERING,
        State.PREVIEW_QUEUED,
        Actor.WORKER,
    )
    assert "server_error" in audit.reason and "next try in" in audit.reason

    # An early kick (a duplicate message, an impatient sweeper) does nothing.
    assert _render(generation, provider) == "skipped"
    assert provider.calls == 1
    assert _reload(generation).version == stored.version

    _make_due(generation)
    assert _render(generation, provider) == State.IN_REVIEW

    stored = _reload(generation)
    assert (stored.attempt_count, stored.tries_used) == (2, 2)
    assert (stored.last_error, stored.waiting_reason) == ("", "")
    assert list(stored.attempts.values_list("number", "outcome")) == [
        (1, Attempt.Outcome.FAILED),
        (2, Attempt.Outcome.SUCCEEDED),
    ]
    assert stored.images.get().attempt.number == 2


def test_a_retry_after_hint_is_honoured(designer, project):
    generation = _submit(designer, project)

    before = timezone.now()
    _render(generation, ScriptedProvider(RateLimited("slow down", retry_after=120)))
    after = timezone.now()

    stored = _reload(generation)
    assert stored.state == State.PREVIEW_QUEUED
    assert before + dt.timedelta(seconds=120) <= stored.next_attempt_at
    assert stored.next_attempt_at <= after + dt.timedelta(seconds=120)
    # Waiting like every job of the model after a 429, with its try given back.
    assert stored.waiting_reason.startswith("Waiting for rate limit")
    assert stored.tries_used == 0


def test_a_non_retryable_error_fails_the_preview_at_once(designer, project):
    generation = _submit(designer, project)
    provider = ScriptedProvider(ContentBlocked("The prompt was blocked (SAFETY)."))

    assert _render(generation, provider) == State.PREVIEW_FAILED

    stored = _reload(generation)
    assert stored.state == State.PREVIEW_FAILED
    assert stored.tries_used == 1, "tries were left, but retrying cannot help"
    assert "blocked (SAFETY)" in stored.last_error
    assert stored.next_attempt_at is None
    attempt = stored.attempts.get()
    assert (attempt.error_kind, attempt.retryable) == ("content_blocked", False)
    assert "no tries left" not in stored.transitions.last().reason
    assert not stored.images.exists()


def test_a_preview_that_runs_out_of_tries_fails(designer, project):
    generation = _submit(designer, project)
    provider = ScriptedProvider(ServerError("first 500"), ServerError("second 500"))

    assert _render(generation, provider) == State.PREVIEW_QUEUED
    _make_due(generation)
    assert _render(generation, provider) == State.PREVIEW_FAILED

    stored = _reload(generation)
    assert stored.last_error == "second 500"
    assert stored.waiting_reason == ""
    assert "no tries left" in stored.transitions.last().reason
    assert list(stored.attempts.values_list("outcome", flat=True)) == ["failed", "failed"]


def test_a_provider_crash_is_recorded_as_a_retryable_internal_error(designer, project):
    generation = _submit(designer, project)

    outcome = _render(generation, ScriptedProvider(RuntimeError("api_key=sk-secret leaked")))

    assert outcome == State.PREVIEW_QUEUED
    attempt = _reload(generation).attempts.get()
    assert (attempt.error_kind, attempt.retryable) == ("internal_error", True)
    assert "RuntimeError" in attempt.error_message
    assert "sk-secret" not in attempt.error_message
    assert "sk-secret" not in _reload(generation).last_error


def test_garbage_bytes_are_a_retryable_malformed_response(designer, project, settings):
    generation = _submit(designer, project)

    assert _render(generation, ScriptedProvider(garbage_result())) == State.PREVIEW_QUEUED

    stored = _reload(generation)
    attempt = stored.attempts.get()
    assert attempt.outcome == Attempt.Outcome.FAILED
    assert (attempt.error_kind, attempt.retryable) == ("malformed_response", True)
    assert attempt.error_message
    assert stored.waiting_reason == "Retrying after malformed response"
    assert not stored.images.exists()
    assert _media_files(settings) == []


def test_an_image_of_the_wrong_size_is_kept_with_a_note(designer, project):
    generation = _submit(designer, project)

    assert _render(generation, ScriptedProvider(png_result(512, 512))) == State.IN_REVIEW

    image = _reload(generation).images.get()
    assert (image.width, image.height) == (512, 512)
    assert image.note == "asked for 1024×1024, got 512×512"


# --- the final's fallback -------------------------------------------------------------


def _exhaust_final(generation: Generation, settings) -> str:
    settings.STUDIO_ATTEMPT_POLICY["4K"]["tries"] = 1
    return _render(generation, ScriptedProvider(ServerError("4K overloaded again")))


def test_an_exhausted_final_delivers_the_preview_when_the_project_says_so(
    designer, reviewer, project, settings
):
    project.fallback_policy = FallbackPolicy.DELIVER_PREVIEW
    project.save()
    generation = _approved(designer, reviewer, project)
    files_before = _media_files(settings)

    assert _exhaust_final(generation, settings) == State.DELIVERED_FALLBACK

    stored = _reload(generation)
    preview = stored.images.get(phase=Phase.PREVIEW)
    final = stored.images.get(phase=Phase.FINAL)
    assert _image_names(final) == _image_names(preview)
    assert (final.sha256, final.width, final.height) == (preview.sha256, 1024, 1024)
    assert "preview delivered as final" in final.note
    assert final.attempt is None
    assert _media_files(settings) == files_before, "the preview's files are shared, not copied"
    assert stored.last_error == "4K overloaded again"
    audit = stored.transitions.last()
    assert (audit.to_state, audit.actor_kind) == (State.DELIVERED_FALLBACK, Actor.WORKER)
    assert final.note in audit.reason


def test_an_exhausted_final_is_upscaled_and_flagged_when_the_project_says_so(
    designer, reviewer, project, settings
):
    project.fallback_policy = FallbackPolicy.UPSCALE
    project.save()
    generation = _approved(designer, reviewer, project)

    assert _exhaust_final(generation, settings) == State.DELIVERED_FALLBACK

    stored = _reload(generation)
    preview = stored.images.get(phase=Phase.PREVIEW)
    final = stored.images.get(phase=Phase.FINAL)
    assert (final.width, final.height) == (4096, 4096)
    assert final.native is False
    assert "upscaled" in final.note and "not native" in final.note
    assert final.original.name != preview.original.name
    assert _open(final.original.name).size == (4096, 4096)
    assert (final.model_key, final.size) == ("nano-banana-pro", "4K")
    assert final.placeholder.startswith("data:image/webp;base64,")
    # Detail measures describe what a model rendered; an upscale has none.
    assert (final.luma_entropy, final.detail_energy) == (None, None)
    assert renditions.image_renditions_make(image_id=final.pk) == "made"
    final.refresh_from_db()
    assert all(default_storage.exists(name) for name in _image_names(final))
    assert "upscaled" in stored.transitions.last().reason


def test_an_exhausted_final_fails_when_the_project_says_so(designer, reviewer, project, settings):
    project.fallback_policy = FallbackPolicy.FAIL
    project.save()
    generation = _approved(designer, reviewer, project)

    assert _exhaust_final(generation, settings) == State.FINAL_FAILED

    stored = _reload(generation)
    assert not stored.images.filter(phase=Phase.FINAL).exists()
    assert stored.last_error == "4K overloaded again"
    assert "fallback policy is to fail" in stored.transitions.last().reason


def test_a_final_retries_before_it_falls_back(designer, reviewer, project):
    generation = _approved(designer, reviewer, project)
    provider = ScriptedProvider(ServerError("4K timed out upstream"), OK)

    assert _render(generation, provider) == State.FINAL_QUEUED
    _make_due(generation)
    assert _render(generation, provider) == State.DELIVERED

    assert [r.size for r in provider.requests] == ["4K", "4K"]
    assert _reload(generation).images.get(phase=Phase.FINAL).native is True


# --- results nobody wants any more ----------------------------------------------------


def test_a_result_that_arrives_after_a_cancel_is_discarded_without_orphans(
    designer, project, settings
):
    generation = _submit(designer, project)

    def cancel_meanwhile(request):
        services.generation_cancel(generation_id=generation.pk, user=designer, reason="oops")
        return OK

    assert _render(generation, ScriptedProvider(cancel_meanwhile)) == "discarded"

    stored = _reload(generation)
    assert stored.state == State.CANCELLED
    assert not Image.objects.filter(generation=generation).exists()
    attempt = stored.attempts.get()
    assert attempt.outcome == Attempt.Outcome.DISCARDED
    assert attempt.finished_at is not None
    assert _media_files(settings) == []
    assert stored.transitions.last().to_state == State.CANCELLED
    assert not stored.transitions.filter(to_state=State.IN_REVIEW).exists()


def test_a_failure_that_arrives_after_a_cancel_changes_nothing(designer, project):
    generation = _submit(designer, project)

    def cancel_then_fail(request):
        services.generation_cancel(generation_id=generation.pk, user=designer)
        return ServerError("too late anyway")

    assert _render(generation, ScriptedProvider(cancel_then_fail)) == "discarded"

    stored = _reload(generation)
    assert stored.state == State.CANCELLED
    assert stored.next_attempt_at is None
    assert stored.last_error == ""


def test_a_final_cancelled_while_its_fallback_is_prepared_leaves_no_upscaled_files(
    designer, reviewer, project, settings
):
    project.fallback_policy = FallbackPolicy.UPSCALE
    project.save()
    generation = _approved(designer, reviewer, project)
    preview_files = _media_files(settings)
    settings.STUDIO_ATTEMPT_POLICY["4K"]["tries"] = 1

    def cancel_then_fail(request):
        services.generation_cancel(generation_id=generation.pk, user=designer)
        return ServerError("4K failed")

    assert _render(generation, ScriptedProvider(cancel_then_fail)) == "discarded"

    assert _reload(generation).state == State.CANCELLED
    assert not Image.objects.filter(generation=generation, phase=Phase.FINAL).exists()
    assert _media_files(settings) == preview_files


def test_a_worker_whose_lease_was_reaped_cannot_write_its_late_result(
    designer, project, settings, django_capture_on_commit_callbacks
):
    generation = _submit(designer, project)

    def hang_until_reaped(request):
        Generation.objects.filter(pk=generation.pk).update(
            lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
        assert generations_sweep().reaped == 1
        return OK

    assert _render(generation, ScriptedProvider(hang_until_reaped)) == "discarded"

    stored = _reload(generation)
    assert stored.state == State.PREVIEW_QUEUED, "the reaper's requeue stands"
    # The reap was final: the attempt stays abandoned (never charged; its reservation went
    # to the next attempt), with the late result noted (tests/.../test_late_worker.py).
    attempt = stored.attempts.get()
    assert attempt.outcome == Attempt.Outcome.ABANDONED
    assert "a late result (discarded) came at" in attempt.error_message
    assert not stored.images.exists()
    assert _media_files(settings) == []


@pytest.mark.parametrize(
    "state",
    [
        State.PREVIEW_RENDERING,
        State.FINAL_RENDERING,
        State.IN_REVIEW,
        State.REJECTED,
        State.PREVIEW_FAILED,
        State.DELIVERED,
        State.DELIVERED_FALLBACK,
        State.FINAL_FAILED,
        State.CANCELLED,
    ],
)
def test_a_stale_or_duplicate_kick_does_nothing(state):
    generation = GenerationFactory(state=state, version=7)
    provider = ScriptedProvider()

    assert _render(generation, provider) == "skipped"

    assert provider.calls == 0
    assert _reload(generation).version == 7
    assert not Attempt.objects.exists()
    assert not Transition.objects.exists()


def test_a_kick_for_a_generation_that_no_longer_exists_does_nothing():
    assert jobs.generation_render(generation_id=987654) == "skipped"


def test_a_second_kick_after_the_render_finished_does_nothing(designer, project):
    generation = _submit(designer, project)
    provider = ScriptedProvider(OK)

    assert _render(generation, provider) == State.IN_REVIEW
    assert _render(generation, provider) == "skipped"

    assert provider.calls == 1
    assert Attempt.objects.filter(generation=generation).count() == 1


def test_a_reason_never_reads_full_stop_semicolon_when_a_message_ends_with_one(designer, project):
    generation = _submit(designer, project)
    provider = ScriptedProvider(
        ServerError("The service is overloaded."), ServerError("The service is overloaded.")
    )

    assert _render(generation, provider) == State.PREVIEW_QUEUED
    _make_due(generation)
    assert _render(generation, provider) == State.PREVIEW_FAILED

    reasons = list(_reload(generation).transitions.values_list("reason", flat=True))
    assert not [reason for reason in reasons if ".;" in reason]
    assert any("overloaded; next try in" in reason for reason in reasons)
    assert reasons[-1].endswith("The service is overloaded; no tries left")
