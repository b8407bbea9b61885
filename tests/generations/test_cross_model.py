"""Cross-model previews (issue 15, item 2): previews on a cheap model (Nano Banana 2, at
512 px), finals on another (Nano Banana Pro) made from the approved preview — the pairs
the catalogue declares, the form's refusal of the others, what is reserved and charged in
each phase and on which model, and the estimate the submit form shows."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from generations import catalog, services
from generations.models import (
    Attempt,
    LedgerEntry,
    ModelPause,
    Phase,
    Reservation,
    SavingsRollup,
    Submission,
)
from generations.rendering import jobs
from generations.review.decisions import generation_approve
from generations.spend import budgets, rollups
from generations.states import State
from generations.strategies import Strategy

pytestmark = pytest.mark.django_db

PRO, NB2 = "nano-banana-pro", "nano-banana-2"
# The seeded price list (migrations 0007 and 0016): Nano Banana 2 at 512, Nano Banana
# Pro's images and one input image (the approved preview sent with the final's request).
NB2_512, PRO_2K, PRO_4K, PRO_INPUT = (
    Decimal("0.045"),
    Decimal("0.134"),
    Decimal("0.24"),
    Decimal("0.0011"),
)


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch, price_list):
    quick = {"timeout": 30, "tries": 1, "base_delay": 1}
    settings.STUDIO_ATTEMPT_POLICY = {size: dict(quick) for size in ("512", "1K", "2K", "4K")}
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)


def _submit(designer, project, **overrides) -> Submission:
    fields = {
        "prompt": "a red fox in fresh snow at dawn",
        "model_key": NB2,
        "final_model_key": PRO,
        "aspect_ratio": "1:1",
        "preview_size": "512",
        "variants": 4,
    }
    return services.submission_create(project=project, user=designer, **{**fields, **overrides})


def _text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


# --- the catalogue's pairs ------------------------------------------------------------


def test_the_catalogue_lets_nano_banana_2_previews_feed_pro_finals_and_not_the_reverse():
    assert [m.key for m in catalog.final_models_for(NB2)] == [PRO, NB2]
    assert [m.key for m in catalog.final_models_for(PRO)] == [PRO]
    assert catalog.pairing_refusal(preview_key=NB2, final_key=PRO) == ""
    assert catalog.pairing_refusal(preview_key=PRO, final_key=PRO) == ""
    refusal = catalog.pairing_refusal(preview_key=PRO, final_key=NB2)
    assert "finals cannot be made from" in refusal and "Nano Banana Pro" in refusal


def test_a_final_model_without_input_images_cannot_take_another_models_previews(settings):
    settings.STUDIO_MODELS = {
        **settings.STUDIO_MODELS,
        "gateway": {
            "provider": "openai",
            "label": "Gateway",
            "model_id": "g-1",
            "base_url": "https://gateway.example",
            "api_key_env": "GATEWAY_KEY_UNSET",
            "preview_models": [NB2],
            "max_input_images": 0,
        },
    }
    assert "gateway" not in [m.key for m in catalog.final_models_for(NB2)]
    assert "takes no input images" in catalog.pairing_refusal(preview_key=NB2, final_key="gateway")


def test_512_is_half_of_1k_in_pixels():
    model = catalog.get_model(NB2)
    assert model.pixel_size(aspect_ratio="1:1", size="512") == (512, 512)
    assert model.pixel_size(aspect_ratio="16:9", size="512") == (688, 384)


# --- submitting the pair ----------------------------------------------------------------


def test_a_pair_the_catalogue_does_not_declare_is_refused_on_the_final_model(designer, project):
    with pytest.raises(ValidationError) as refused:
        _submit(designer, project, model_key=PRO, final_model_key=NB2, preview_size="1K")

    assert "finals cannot be made from" in refused.value.message_dict["final_model_key"][0]
    assert not Submission.objects.exists()


def test_the_submit_form_shows_the_refusal_next_to_the_final_model(client, designer, project):
    client.force_login(designer)
    data = {
        "prompt": "a lighthouse at dusk",
        "model_key": PRO,
        "final_model_key": NB2,
        "aspect_ratio": "1:1",
        "preview_size": "1K",
        "variants": 2,
    }

    response = client.post(reverse("submission_create", args=[project.slug]), data)

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "finals cannot be made from" in errors["final_model_key"][0]
    assert "finals cannot be made from" in _text(response)
    assert not Submission.objects.exists()


def test_a_project_that_does_not_allow_the_final_model_refuses_the_pair(designer, project):
    project.allowed_models = [NB2]
    project.save()
    with pytest.raises(ValidationError) as refused:
        _submit(designer, project)
    assert "does not allow" in refused.value.message_dict["final_model_key"][0]


def test_previews_are_reserved_at_the_preview_models_price(designer, project):
    submission = _submit(designer, project)

    assert (submission.model_key, submission.final_model, submission.preview_size) == (
        NB2,
        PRO,
        "512",
    )
    amounts = Reservation.objects.filter(phase=Phase.PREVIEW).values_list("amount_usd", flat=True)
    assert sorted(amounts) == [NB2_512] * 4


def test_a_revision_keeps_the_pair(designer, project):
    generation = _submit(designer, project, variants=1).generations.get()
    revised = services.generation_revise(
        generation_id=generation.pk, user=designer, prompt="a red fox, closer"
    )
    assert (revised.model_key, revised.final_model) == (NB2, PRO)


# --- estimates ----------------------------------------------------------------------------


def test_the_estimate_prices_the_finals_at_the_final_models_4k_with_the_input_image(
    designer, project
):
    estimate = budgets.submission_estimate(
        project=project,
        user=designer,
        model_key=NB2,
        preview_size="512",
        variants=4,
        final_model_key=PRO,
    )

    assert estimate.cross_model
    assert estimate.previews == Decimal("0.180")  # 4 × 0.045
    assert estimate.final_unit == PRO_4K + PRO_INPUT == Decimal("0.2411")
    assert estimate.finals == Decimal("0.9644")  # 4 × 0.2411


def test_the_submit_form_shows_the_pair_and_its_estimate(client, designer, project):
    client.force_login(designer)
    data = {
        "prompt": "",
        "model_key": NB2,
        "final_model_key": PRO,
        "aspect_ratio": "1:1",
        "preview_size": "512",
        "variants": 4,
    }

    page = _text(client.get(reverse("submission_estimate", args=[project.slug]), data))

    assert re.search(
        r"Previews on Nano Banana 2 \(Gemini 3\.1 Flash Image\)[^→]* at 512 → finals on "
        r"Nano Banana Pro \(Gemini 3 Pro Image\)[^,]* at 4K, made from the approved preview",
        page,
    )
    assert "4 previews at 512: $0.18 ($0.05 each)" in page
    assert "Approving all 4 as 4K finals: $0.96 more ($0.24 each on Nano Banana Pro" in page
    assert "input image included" in page
    # The studio page offers the final model with the pair it may take.
    studio = client.get(reverse("project", args=[project.slug])).content.decode()
    assert 'name="final_model_key"' in studio
    assert 'data-final-models=" nano-banana-pro"' in studio  # NB2 feeds Pro


# --- the worker: each phase on its model, charged at its price ----------------------------


def test_previews_and_the_final_run_and_are_charged_on_their_own_models(
    designer, reviewer, project
):
    project.final_size = "2K"  # quick local renders; the pricing is the same rule at 4K
    project.save()
    generation = _submit(designer, project, variants=1).generations.get()

    assert jobs.generation_render(generation_id=generation.pk, worker="w") == State.IN_REVIEW
    generation_approve(generation_id=generation.pk, user=reviewer)
    final_reserved = Reservation.objects.get(generation=generation, phase=Phase.FINAL)
    assert final_reserved.amount_usd == PRO_2K + PRO_INPUT
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == State.DELIVERED

    preview, final = Attempt.objects.filter(generation=generation).order_by("number")
    assert (preview.phase, preview.model_key, preview.size) == ("preview", NB2, "512")
    assert (final.phase, final.model_key, final.size) == ("final", PRO, "2K")
    assert (final.strategy, final.input_images) == (Strategy.FROM_PREVIEW, 1)
    assert final.provider_meta["inputs"][0]["role"] == "approved preview"
    charges = {
        row.phase: (row.model_key, row.size, row.amount_usd, row.simulated)
        for row in LedgerEntry.objects.filter(generation=generation, kind="charge")
    }
    assert charges == {
        "preview": (NB2, "512", NB2_512, True),
        "final": (PRO, "2K", PRO_2K + PRO_INPUT, True),
    }
    images = {image.phase: image for image in generation.images.all()}
    assert (images["preview"].model_key, images["preview"].width) == (NB2, 512)
    assert (images["final"].model_key, images["final"].width) == (PRO, 2048)
    # Fidelity compares the final with the approved preview, whatever model made it.
    assert images["final"].fidelity_ssim > project.fidelity_threshold
    # The savings roll-up counts it on its path, as a recount of the ledger does.
    path = SavingsRollup.objects.get()
    assert (path.preview_model_key, path.preview_size, path.model_key, path.final_size) == (
        NB2,
        "512",
        PRO,
        "2K",
    )
    assert (path.previewed, path.approved, path.delivered) == (1, 1, 1)
    assert rollups.rollups_check().clean


def test_a_cross_model_final_is_made_from_the_preview_even_when_the_prompt_is_asked(
    designer, reviewer, project
):
    resolved = catalog.escalation(asked=Strategy.FROM_PROMPT, model_key=PRO, preview_key=NB2)
    assert resolved.strategy == Strategy.FROM_PREVIEW and "another model" in resolved.note
    same = catalog.escalation(asked=Strategy.FROM_PROMPT, model_key=PRO, preview_key=PRO)
    assert same.strategy == Strategy.FROM_PROMPT

    project.escalation_strategy = Strategy.FROM_PROMPT
    project.save()
    generation = _submit(designer, project, variants=1).generations.get()
    jobs.generation_render(generation_id=generation.pk, worker="w")
    generation_approve(generation_id=generation.pk, user=reviewer)
    assert Reservation.objects.get(generation=generation, phase=Phase.FINAL).amount_usd == (
        PRO_4K + PRO_INPUT
    )


def test_the_review_queue_shows_the_pair_and_prices_the_approval_on_the_final_model(
    client, designer, reviewer, project
):
    generation = _submit(designer, project, variants=1).generations.get()
    jobs.generation_render(generation_id=generation.pk, worker="w")
    client.force_login(reviewer)

    page = _text(client.get(reverse("review")))

    assert re.search(r"Nano Banana 2[^·]*→ Nano Banana Pro", page)
    # Pro 4K from the preview: $0.24 + $0.0011 (NB2's own 4K would be $0.15).
    assert "$0.24" in page and "$0.15" not in page


# --- a paused model (a used-up daily quota) holds the phases that call it ---------------


def test_a_pause_of_the_final_model_holds_the_final_and_not_the_previews(
    designer, reviewer, project
):
    now = timezone.now()
    ModelPause.objects.create(
        model_key=PRO, until=now + dt.timedelta(hours=3), reason="daily quota", created_at=now
    )
    generation = _submit(designer, project, variants=1).generations.get()
    # The previews render on Nano Banana 2, which is not paused.
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == State.IN_REVIEW
    generation_approve(generation_id=generation.pk, user=reviewer)

    # The final calls Nano Banana Pro: it waits for the reset, using no attempt.
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == "skipped"
    generation.refresh_from_db()
    assert generation.state == State.FINAL_QUEUED
    assert generation.next_attempt_at >= now + dt.timedelta(hours=3) - dt.timedelta(seconds=5)
    assert not generation.attempts.filter(phase=Phase.FINAL).exists()

    ModelPause.objects.filter(model_key=PRO).update(until=now)
    generation.next_attempt_at = None
    generation.save(update_fields=["next_attempt_at"])
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == State.DELIVERED
    final = generation.attempts.get(phase=Phase.FINAL)
    assert final.model_key == PRO
