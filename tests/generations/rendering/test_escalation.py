"""Finals by escalation strategy, through the worker with the local provider (which, like
a hosted model, keeps the composition only when given the preview): what each strategy
sends, what it is charged, its fidelity, and the reviewer's three choices for a final
that differs from what was approved."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from generations import services
from generations.models import Attempt, Generation, LedgerEntry, Notification, Phase, Reservation
from generations.rendering import jobs
from generations.review.decisions import final_differs_decide, generation_approve
from generations.states import IllegalTransition, State
from generations.strategies import Strategy
from tests.support.drift import DRIFTING_SEED

pytestmark = pytest.mark.django_db

# nano-banana-2 as the seeded list prices it (simulated locally: no key in tests).
IMAGE_2K, INPUT, UPSCALE_2K = Decimal("0.101"), Decimal("0.0003"), Decimal("0.001")


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch, project, price_list):
    quick = {"timeout": 30, "tries": 1, "base_delay": 1}
    settings.STUDIO_ATTEMPT_POLICY = {size: dict(quick) for size in ("1K", "2K", "4K")}
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    project.final_size = "2K"  # a 2K final keeps the local renders quick
    project.save()


def _reviewed(designer, project) -> Generation:
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt="a red fox in fresh snow at dawn",
        model_key="nano-banana-2",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=1,
        seed=DRIFTING_SEED,  # its prompt-only final drifts (tests/support/drift.py)
    )
    generation = submission.generations.get()
    assert _render(generation) == State.IN_REVIEW
    return generation


def _render(generation: Generation) -> str:
    return jobs.generation_render(generation_id=generation.pk, worker="w")


def _final_attempts(generation: Generation) -> list[Attempt]:
    return list(generation.attempts.filter(phase=Phase.FINAL).order_by("number"))


def _charge(attempt: Attempt) -> Decimal:
    return LedgerEntry.objects.get(attempt=attempt, kind="charge").amount_usd


def test_a_final_from_the_preview_keeps_the_picture_and_pays_for_the_input_image(
    designer, reviewer, project
):
    generation = _reviewed(designer, project)
    generation_approve(generation_id=generation.pk, user=reviewer)
    reserved = Reservation.objects.get(generation=generation, phase="final")
    assert reserved.amount_usd == IMAGE_2K + INPUT

    assert _render(generation) == State.DELIVERED

    (attempt,) = _final_attempts(generation)
    assert (attempt.strategy, attempt.input_images) == (Strategy.FROM_PREVIEW, 1)
    assert attempt.provider_meta["inputs"][0]["role"] == "approved preview"
    final = generation.images.get(phase=Phase.FINAL)
    assert final.fidelity_ssim > 0.9 and final.fidelity_hash_distance <= 4
    assert attempt.fidelity_ssim == final.fidelity_ssim
    assert _charge(attempt) == IMAGE_2K + INPUT


def test_a_prompt_only_final_drifts_and_is_held_for_the_reviewer_not_delivered(
    designer, reviewer, project
):
    generation = _reviewed(designer, project)
    generation_approve(generation_id=generation.pk, user=reviewer, strategy=Strategy.FROM_PROMPT)
    assert Reservation.objects.get(generation=generation, phase="final").amount_usd == IMAGE_2K

    assert _render(generation) == State.FINAL_DIFFERS

    generation.refresh_from_db()
    final = generation.images.get(phase=Phase.FINAL)
    assert final.fidelity_ssim < project.fidelity_threshold
    (attempt,) = _final_attempts(generation)
    assert (attempt.strategy, attempt.input_images) == (Strategy.FROM_PROMPT, 0)
    assert _charge(attempt) == IMAGE_2K  # rendered and paid for, like a delivered one
    held = generation.transitions.get(to_state=State.FINAL_DIFFERS)
    assert "differs from the approved preview" in held.reason
    reservation = Reservation.objects.get(generation=generation, phase="final")
    assert reservation.status == Reservation.Status.CHARGED
    note = Notification.objects.get(kind=Notification.Kind.FINAL_DIFFERS)
    assert note.recipient == reviewer and "differs from what you approved" in note.text
    assert not Notification.objects.filter(kind=Notification.Kind.DELIVERED).exists()


def _held(designer, reviewer, project) -> Generation:
    generation = _reviewed(designer, project)
    generation_approve(generation_id=generation.pk, user=reviewer, strategy=Strategy.FROM_PROMPT)
    assert _render(generation) == State.FINAL_DIFFERS
    return Generation.objects.get(pk=generation.pk)


def test_accepting_a_final_that_differs_delivers_it_and_charges_nothing_more(
    designer, reviewer, project
):
    generation = _held(designer, reviewer, project)
    charges = LedgerEntry.objects.count()

    final_differs_decide(generation_id=generation.pk, user=reviewer, choice="accept", note="ok")

    generation.refresh_from_db()
    assert generation.state == State.DELIVERED
    assert LedgerEntry.objects.count() == charges
    accepted = generation.transitions.get(from_state=State.FINAL_DIFFERS)
    assert (accepted.to_state, accepted.actor) == (State.DELIVERED, reviewer)
    assert accepted.reason.startswith("accepted the final that differs")
    assert Notification.objects.filter(
        kind=Notification.Kind.DELIVERED, recipient=designer
    ).exists()


def test_re_rendering_from_the_preview_replaces_the_final_and_charges_a_render_from_it(
    designer, reviewer, project, django_capture_on_commit_callbacks
):
    generation = _held(designer, reviewer, project)
    drifted = generation.images.get(phase=Phase.FINAL)
    drifted_file = drifted.original.name

    with django_capture_on_commit_callbacks(execute=True):  # its files go once it commits
        final_differs_decide(generation_id=generation.pk, user=reviewer, choice="rerender")

    generation.refresh_from_db()
    assert (generation.state, generation.escalation_strategy) == (
        State.FINAL_QUEUED,
        Strategy.FROM_PREVIEW,
    )
    assert not generation.images.filter(phase=Phase.FINAL).exists()
    assert not drifted.original.storage.exists(drifted_file)
    reserved = Reservation.objects.get(generation=generation, phase="final", status="open")
    assert reserved.amount_usd == IMAGE_2K + INPUT

    assert _render(generation) == State.DELIVERED

    first, second = _final_attempts(generation)
    assert (first.strategy, second.strategy) == (Strategy.FROM_PROMPT, Strategy.FROM_PREVIEW)
    assert first.fidelity_ssim < 0.6 < second.fidelity_ssim  # both measures kept
    assert (_charge(first), _charge(second)) == (IMAGE_2K, IMAGE_2K + INPUT)
    reason = generation.transitions.get(from_state=State.FINAL_DIFFERS).reason
    assert reason.startswith("re-render from the preview instead of the final that differs")


def test_delivering_the_upscale_makes_no_model_call_and_charges_the_upscale_price(
    designer, reviewer, project
):
    generation = _held(designer, reviewer, project)

    final_differs_decide(generation_id=generation.pk, user=reviewer, choice="upscale")
    generation.refresh_from_db()
    reserved = Reservation.objects.get(generation=generation, phase="final", status="open")
    assert reserved.amount_usd == UPSCALE_2K

    assert _render(generation) == State.DELIVERED

    upscale = _final_attempts(generation)[-1]
    assert (upscale.strategy, upscale.provider, upscale.input_images) == (
        Strategy.UPSCALE,
        "upscale",
        0,
    )
    final = generation.images.get(phase=Phase.FINAL)
    assert (final.native, final.width, final.height) == (False, 2048, 2048)
    assert "not native 4K" in final.note
    assert final.fidelity_ssim > 0.95
    charge = LedgerEntry.objects.get(attempt=upscale, kind="charge")
    assert (charge.model_key, charge.amount_usd, charge.simulated) == ("upscale", UPSCALE_2K, False)


def test_only_a_final_that_differs_takes_these_choices(designer, reviewer, project):
    generation = _reviewed(designer, project)
    with pytest.raises(IllegalTransition, match="Only a final that differs"):
        final_differs_decide(generation_id=generation.pk, user=reviewer, choice="accept")
    with pytest.raises(ValidationError):
        final_differs_decide(generation_id=generation.pk, user=reviewer, choice="shrug")


def test_a_model_that_takes_no_input_images_falls_back_to_the_prompt_and_cannot_re_render(
    settings, designer, reviewer, project
):
    settings.STUDIO_MODELS = {
        **settings.STUDIO_MODELS,
        "nano-banana-2": {**settings.STUDIO_MODELS["nano-banana-2"], "max_input_images": 0},
    }
    generation = _reviewed(designer, project)
    approved = generation_approve(generation_id=generation.pk, user=reviewer)
    assert "from the prompt and seed" in approved.transitions.last().reason
    assert Reservation.objects.get(generation=generation, phase="final").amount_usd == IMAGE_2K

    assert _render(generation) == State.FINAL_DIFFERS
    (attempt,) = _final_attempts(generation)
    assert (attempt.strategy, attempt.input_images) == (Strategy.FROM_PROMPT, 0)
    with pytest.raises(ValidationError, match="takes no input images"):
        final_differs_decide(generation_id=generation.pk, user=reviewer, choice="rerender")


def test_a_project_that_upscales_by_default_never_calls_the_model_for_finals(
    designer, reviewer, project
):
    project.escalation_strategy = Strategy.UPSCALE
    project.save()
    generation = _reviewed(designer, project)
    generation_approve(generation_id=generation.pk, user=reviewer)

    assert _render(generation) == State.DELIVERED
    (attempt,) = _final_attempts(generation)
    assert (attempt.strategy, attempt.provider, attempt.model_id) == (
        Strategy.UPSCALE,
        "upscale",
        "upscale",
    )


def test_revise_can_keep_the_seed_or_draw_a_new_one(designer, reviewer, project):
    generation = _reviewed(designer, project)
    kept = services.generation_revise(
        generation_id=generation.pk,
        user=designer,
        prompt="a red fox in fresh snow at dusk",
        variants=2,
        keep_seed=True,
    )
    seeds = list(kept.generations.order_by("variant").values_list("seed", flat=True))
    assert seeds[0] == generation.seed and seeds[1] != generation.seed
    fresh = services.generation_revise(
        generation_id=generation.pk, user=designer, prompt="a grey fox", variants=1
    )
    assert fresh.generations.get().seed != generation.seed
