"""Fidelity end to end: a real worker process holds a final that drifted from what was
approved for the reviewer instead of delivering it; in Chromium, compare shows each
image's fidelity and the reviewer's three choices work from the generation page."""

from __future__ import annotations

import time

import pytest

from generations import services
from generations.models import Generation, Image, Notification, Phase
from generations.rendering.jobs import generation_render
from generations.review.decisions import final_differs_decide, generation_approve
from generations.states import State
from generations.strategies import Strategy
from tests.e2e.conftest import VIEWPORT, screenshot, wait_for
from tests.support.drift import DRIFTING_SEED
from tests.support.factories import PASSWORD
from tests.support.fakes import drain_cpu_queue

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PROMPT = "a red fox in fresh snow at dawn"


def _state(generation: Generation) -> str:
    return Generation.objects.values_list("state", flat=True).get(pk=generation.pk)


def _submit(project, designer, variants: int = 1) -> list[Generation]:
    project.final_size = "2K"  # quick local renders; the behaviour is the same at 4K
    project.save()
    submission = services.submission_create(
        project=project, user=designer, prompt=PROMPT, model_key="nano-banana-pro",
        aspect_ratio="1:1", preview_size="1K", variants=variants,
        seed=DRIFTING_SEED,  # variant 1's prompt-only final drifts (tests/support/drift.py)
    )  # fmt: skip
    return list(submission.generations.order_by("variant"))


def test_a_worker_holds_a_drifting_final_for_the_reviewer_instead_of_delivering_it(
    celery_worker, project, designer, reviewer
):
    celery_worker.start(profile="fixed:latency=0.2,fail=0")
    (generation,) = _submit(project, designer)
    wait_for(lambda: _state(generation) == State.IN_REVIEW, timeout=60, what="preview")

    # From the prompt alone, the local model recomposes the picture at the final's size.
    generation_approve(generation_id=generation.pk, user=reviewer, strategy=Strategy.FROM_PROMPT)
    wait_for(lambda: _state(generation) == State.FINAL_DIFFERS, timeout=90, what="held final")

    final = Image.objects.get(generation=generation, phase=Phase.FINAL)
    assert final.fidelity_ssim < project.fidelity_threshold
    assert Notification.objects.filter(
        recipient=reviewer, kind=Notification.Kind.FINAL_DIFFERS
    ).exists()
    assert not Notification.objects.filter(kind=Notification.Kind.DELIVERED).exists()
    # Held means held: the sweeper (beat runs in the worker) leaves it with the reviewer.
    time.sleep(3)
    assert _state(generation) == State.FINAL_DIFFERS

    # The reviewer has it re-rendered from the preview: the worker keeps the picture.
    final_differs_decide(generation_id=generation.pk, user=reviewer, choice="rerender")
    wait_for(lambda: _state(generation) == State.DELIVERED, timeout=90, what="re-rendered final")
    final = Image.objects.get(generation=generation, phase=Phase.FINAL)
    assert final.fidelity_ssim > 0.9
    attempts = generation.attempts.filter(phase=Phase.FINAL).order_by("number")
    assert [a.strategy for a in attempts] == [Strategy.FROM_PROMPT, Strategy.FROM_PREVIEW]


# --- in Chromium ------------------------------------------------------------------------


@pytest.fixture
def held(project, designer, reviewer, settings) -> list[Generation]:
    """Three variants whose prompt-only finals differ from their previews (rendered
    in-process; no worker listens to the test's queue)."""
    settings.STUDIO_RENDER_QUEUE = "e2e-fidelity-unused"
    settings.STUDIO_IMAGE_QUEUE = "e2e-fidelity-unused-images"
    generations = _submit(project, designer, variants=3)
    for generation in generations:
        generation_render(generation_id=generation.pk, worker="e2e")
        generation_approve(
            generation_id=generation.pk, user=reviewer, strategy=Strategy.FROM_PROMPT
        )
        assert generation_render(generation_id=generation.pk, worker="e2e") == (State.FINAL_DIFFERS)
    drain_cpu_queue()
    return generations


def _sign_in(browser, base_url: str, username: str):
    page = browser.new_context(viewport=VIEWPORT, base_url=base_url).new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


@pytest.mark.browser
def test_compare_shows_fidelity_and_the_reviewer_s_three_choices_work(
    live_server, browser, held, reviewer
):
    page = _sign_in(browser, live_server.url, reviewer.username)
    first = held[0]
    preview = first.images.get(phase=Phase.PREVIEW)
    final = first.images.get(phase=Phase.FINAL)

    page.goto(f"/compare/?images={preview.pk},{final.pk}")
    row = page.locator("tr[data-row='fidelity']")
    row.wait_for()
    text = row.inner_text()
    assert "Fidelity to the approved preview" in text
    assert f"{final.fidelity_ssim:.2f}" in text and "from the prompt and seed" in text
    screenshot(page, "fidelity-compare")

    for generation, choice, label, expected in (
        (held[0], "accept", "Accept this final", State.DELIVERED),
        (held[1], "rerender", "Re-render from the preview", State.FINAL_QUEUED),
        (held[2], "upscale", "Deliver the upscale", State.FINAL_QUEUED),
    ):
        page.goto(f"/g/{generation.pk}/")
        panel = page.locator("[data-final-differs]")
        assert "This final differs from what was approved" in panel.inner_text()
        if choice == "accept":
            screenshot(page, "fidelity-held-final", full_page=True)
        panel.get_by_role("button", name=label).click()
        page.wait_for_function(
            "() => !document.querySelector('[data-final-differs]')", timeout=15_000
        )
        generation.refresh_from_db()
        assert generation.state == expected, choice
        reason = generation.transitions.filter(from_state=State.FINAL_DIFFERS).get().reason
        assert reason, choice
    strategies = [
        g.escalation_strategy
        for g in Generation.objects.filter(pk__in=[h.pk for h in held]).order_by("variant")
    ]
    assert strategies == [Strategy.FROM_PROMPT, Strategy.FROM_PREVIEW, Strategy.UPSCALE]
    assert not Image.objects.filter(generation__in=held[1:], phase=Phase.FINAL).exists()
