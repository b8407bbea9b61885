"""Renditions on the CPU queue, through a real Celery worker and a real browser.

The preview enters review before its renditions exist: the card shows the blurred
placeholder and keeps polling; once the worker serving the images queue has made them,
the card swaps in the WebP thumbnail without a reload.
"""

from __future__ import annotations

import pytest

from generations import services
from generations.models import Generation, Image
from generations.rendering.jobs import generation_render
from generations.states import State
from tests.e2e.conftest import VIEWPORT, screenshot, wait_for
from tests.support.factories import PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_card_shows_the_placeholder_then_gets_its_thumbnail_from_the_cpu_queue(
    live_server, celery_worker, browser, project, designer
):
    expect = playwright_api.expect
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt="a glass greenhouse in fog, early morning",
        model_key="nano-banana-pro",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=1,
    )
    generation = submission.generations.get()
    # The render step in this process: its commit sends make_renditions to the test's
    # images queue, which no worker serves yet.
    assert generation_render(generation_id=generation.pk, worker="e2e") == State.IN_REVIEW
    image = Image.objects.get(generation=generation)
    assert image.thumbnail.name == "" and image.placeholder.startswith("data:image/webp")

    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", designer.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"/p/{project.slug}/")
    page.evaluate("window.__marker = 1")
    card = page.locator(f"#gen-{generation.pk}")
    expect(card).to_have_attribute("data-state", State.IN_REVIEW)
    pending = card.locator("img.rendition--pending")
    expect(pending).to_be_visible()
    assert pending.get_attribute("src").startswith("data:image/webp;base64,")
    assert card.get_attribute("data-live-poll") == "2", "the page must ask for its thumbnail"
    assert card.locator("img[src*='/media/']").count() == 0, "nothing may be fetched yet"
    screenshot(page, "renditions-1-placeholder")

    # The worker serves renders and images; the message sent at commit waits for it.
    celery_worker.start()
    wait_for(
        lambda: Image.objects.filter(pk=image.pk).exclude(thumbnail="").exists(),
        timeout=60,
        what="renditions from the CPU queue",
    )
    thumbnail = card.locator(f"img[src='/media/{image.pk}/thumbnail']")
    expect(thumbnail).to_be_visible(timeout=15_000)
    expect(card.locator("img.rendition--pending")).to_have_count(0)
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    handle = thumbnail.element_handle()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=handle)
    assert 0 < page.evaluate("(img) => img.naturalWidth", handle) <= 384
    answer = page.request.get(f"/media/{image.pk}/thumbnail")
    assert answer.status == 200
    assert answer.headers["content-type"] == "image/webp"
    assert answer.headers["cache-control"].startswith("private")
    screenshot(page, "renditions-2-thumbnail")
    # Settled: in review, with its renditions, the card polls at the state's pace only.
    assert Generation.objects.get(pk=generation.pk).state == State.IN_REVIEW
    context.close()
