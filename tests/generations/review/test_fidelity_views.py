"""Where people see fidelity and choose strategies: the approval says how the final will
be made and what it costs before anyone pays; a final that differs is shown as such with
three choices; compare's metadata table and the quality page show the measures."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from generations import services
from generations.models import Generation, LedgerEntry, Membership, Phase, Role
from generations.rendering import jobs
from generations.review.decisions import generation_approve
from generations.states import State
from generations.strategies import Strategy
from tests.support.drift import DRIFTING_SEED

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch, project, price_list):
    quick = {"timeout": 30, "tries": 1, "base_delay": 1}
    settings.STUDIO_ATTEMPT_POLICY = {size: dict(quick) for size in ("1K", "2K", "4K")}
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    project.final_size = "2K"
    project.save()


def _reviewed(designer, project, model_key="nano-banana-2") -> Generation:
    generation = services.submission_create(
        project=project, user=designer, prompt="a red fox in fresh snow at dawn",
        model_key=model_key, aspect_ratio="1:1", preview_size="1K", variants=1,
        seed=DRIFTING_SEED,  # its prompt-only final drifts (tests/support/drift.py)
    ).generations.get()  # fmt: skip
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == State.IN_REVIEW
    return generation


def _held(designer, reviewer, project) -> Generation:
    generation = _reviewed(designer, project)
    generation_approve(generation_id=generation.pk, user=reviewer, strategy=Strategy.FROM_PROMPT)
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == State.FINAL_DIFFERS
    return generation


def test_the_approval_offers_each_strategy_with_its_price(client, designer, reviewer, project):
    generation = _reviewed(designer, project)
    client.force_login(reviewer)
    html = client.get(reverse("generation", args=[generation.pk])).content.decode()
    assert "From the approved preview · $0.10" in html  # 0.101 + 0.0003
    assert "From the prompt and seed · $0.10" in html
    assert "Upscale the preview (not native 4K) · $0.00" in html
    assert "takes no input images" not in html

    response = client.post(
        reverse("generation_approve", args=[generation.pk]), {"strategy": "upscale"}
    )
    assert response.status_code == 302
    generation.refresh_from_db()
    assert (generation.state, generation.escalation_strategy) == (
        State.FINAL_QUEUED,
        Strategy.UPSCALE,
    )


def test_the_approval_says_before_paying_that_a_model_without_inputs_renders_from_the_prompt(
    client, settings, designer, reviewer, project
):
    settings.STUDIO_MODELS = {
        **settings.STUDIO_MODELS,
        "nano-banana-2": {**settings.STUDIO_MODELS["nano-banana-2"], "max_input_images": 0},
    }
    generation = _reviewed(designer, project)
    client.force_login(reviewer)
    for url in (reverse("generation", args=[generation.pk]), reverse("review")):
        html = client.get(url).content.decode()
        assert "takes no input images, so its final cannot be made from the approved" in html
        assert "(no input images: prompt + seed)" in html


def test_the_review_queue_prices_the_approval_by_strategy_and_passes_the_choice(
    client, designer, reviewer, project
):
    generation = _reviewed(designer, project)
    client.force_login(reviewer)
    html = client.get(reverse("review")).content.decode()
    assert "final from the approved preview" in html
    assert re.search(r'<option value="from_preview" selected>From the approved preview', html)
    client.post(
        reverse("review_decide", args=[generation.pk]),
        {"decision": "approve", "strategy": "from_prompt"},
    )
    generation.refresh_from_db()
    assert generation.escalation_strategy == Strategy.FROM_PROMPT
    assert "final from the prompt and seed" in generation.transitions.last().reason


def test_a_final_that_differs_shows_its_fidelity_and_the_three_choices(
    client, designer, reviewer, project
):
    generation = _held(designer, reviewer, project)
    final = generation.images.get(phase=Phase.FINAL)
    client.force_login(reviewer)
    html = client.get(reverse("generation", args=[generation.pk])).content.decode()
    assert "This final differs from what was approved" in html
    assert f"similarity <strong>{final.fidelity_ssim:.2f}</strong>" in html
    for label in ("Accept this final", "Re-render from the preview", "Deliver the upscale"):
        assert label in html
    # The designer sees the measure but does not decide.
    client.force_login(designer)
    html = client.get(reverse("generation", args=[generation.pk])).content.decode()
    assert "Fidelity to the approved preview" in html and "Accept this final" not in html
    response = client.post(
        reverse("generation_final_differs", args=[generation.pk]), {"choice": "accept"}
    )
    assert Generation.objects.get(pk=generation.pk).state == State.FINAL_DIFFERS
    assert response.status_code == 302


def test_the_reviewer_chooses_through_the_page(client, designer, reviewer, project):
    generation = _held(designer, reviewer, project)
    client.force_login(reviewer)
    url = reverse("generation_final_differs", args=[generation.pk])
    response = client.post(url, {"choice": "upscale", "note": "close enough"}, follow=True)
    assert "Queued: the approved preview is upscaled" in response.content.decode()
    generation.refresh_from_db()
    assert (generation.state, generation.escalation_strategy) == (
        State.FINAL_QUEUED,
        Strategy.UPSCALE,
    )
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == State.DELIVERED
    upscale = generation.attempts.filter(phase=Phase.FINAL).order_by("-number").first()
    assert LedgerEntry.objects.get(attempt=upscale).amount_usd == Decimal("0.001")
    # A bad choice is a message, not a 500.
    response = client.post(url, {"choice": "nope"}, follow=True)
    assert response.status_code == 200


def test_compare_and_quality_show_fidelity_by_strategy(client, designer, reviewer, project):
    generation = _held(designer, reviewer, project)
    preview, final = (generation.images.get(phase=phase) for phase in (Phase.PREVIEW, "final"))
    client.force_login(reviewer)
    html = client.get(f"{reverse('compare')}?images={preview.pk},{final.pk}").content.decode()
    assert "Fidelity to the approved preview" in html
    assert f"{final.fidelity_ssim:.2f}" in html and "from the prompt and seed" in html

    Membership.objects.create(project=project, user=reviewer, role=Role.ADMIN)
    html = client.get(reverse("quality_drift")).content.decode()
    assert 'data-fidelity-row="nano-banana-2/from_prompt"' in html


def test_project_admins_set_the_strategy_and_the_threshold(client, project, project_admin):
    client.force_login(project_admin)
    url = reverse("project_settings", args=[project.slug])
    form = {
        "allowed_models": ["nano-banana-pro", "nano-banana-2"],
        "final_size": "4K",
        "fallback_policy": "upscale",
        "escalation_strategy": "from_prompt",
        "fidelity_threshold": "0.75",
    }
    assert 'name="escalation_strategy"' in client.get(url).content.decode()
    client.post(url, form)
    project.refresh_from_db()
    assert (project.escalation_strategy, project.fidelity_threshold) == ("from_prompt", 0.75)

    bad = client.post(url, {**form, "fidelity_threshold": "1.5", "escalation_strategy": "x"})
    assert bad.status_code == 400
    project.refresh_from_db()
    assert project.fidelity_threshold == 0.75


def test_revise_from_the_page_can_keep_the_seed(client, designer, project):
    generation = _reviewed(designer, project)
    client.force_login(designer)
    client.post(
        reverse("generation_revise", args=[generation.pk]),
        {"prompt": "a red fox at dusk", "aspect_ratio": "1:1", "preview_size": "1K",
         "variants": "1", "keep_seed": "on"},
    )  # fmt: skip
    revision = Generation.objects.get(submission__parent=generation)
    assert revision.seed == generation.seed
    assert (
        "Keep the seed" in client.get(reverse("generation", args=[generation.pk])).content.decode()
    )
