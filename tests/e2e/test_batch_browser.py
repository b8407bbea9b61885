"""Batches in headless Chromium: a designer uploads a CSV, reads the plan (the rows, the
refused ones and why, one estimate), fixes the file, queues the batch and watches its
progress; a reviewer opens the batch's previews in the review queue and decides them in
row order from the keyboard."""

from __future__ import annotations

import re

import pytest

from generations.models import Batch, Generation, Reservation, Submission
from generations.rendering.jobs import generation_render
from generations.states import State
from tests.e2e.conftest import VIEWPORT, screenshot
from tests.support.factories import PASSWORD
from tests.support.fakes import drain_cpu_queue

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEADER = "prompt,aspect_ratio,variants,model,preview_size,reference_image_ids\n"
GOOD = (
    '"a ceramic mug on an oak table, soft morning light",1:1,2,nano-banana-pro,1K,\n'
    "a glass bottle on a marble slab,16:9,1,nano-banana-2,1K,\n"
    "a canvas tote on a brass hook,3:4,1,nano-banana-2,1K,\n"
)


def sign_in(browser, base_url: str, username: str):
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/accounts/login/" not in page.url, f"{username} could not sign in"
    return page


def upload(page, name: str, text: str | bytes, mime: str = "text/csv") -> None:
    data = text.encode() if isinstance(text, str) else text
    page.set_input_files(
        "#batch-csv input[type=file]", {"name": name, "mimeType": mime, "buffer": data}
    )
    with page.expect_navigation():
        page.click("#batch-csv button[type=submit]")


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """The live server runs in this process: the kicks go nowhere; the test renders."""
    monkeypatch.setattr("generations.dispatch.kick_batch", lambda batch_id: None)
    monkeypatch.setattr("generations.dispatch.kick", lambda pk: None)


def test_a_designer_uploads_a_csv_reviews_the_plan_and_queues_it(
    live_server, browser, price_list, project, designer, reviewer
):
    expect = playwright_api.expect
    page = sign_in(browser, live_server.url, "dana")
    page.goto(f"/p/{project.slug}/")
    page.click("nav.tabs >> text=Batches")
    expect(page.locator("h1")).to_have_text("Acme Launch · batches")

    # Not a text file: a list of what is wrong, nothing planned.
    upload(page, "moodboard.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", mime="image/png")
    expect(page.locator(".batch-problems")).to_contain_text(
        "This is a PNG image, not a CSV text file."
    )
    assert not Batch.objects.exists()

    # A bad row: the plan shows it refused with why, and cannot be queued.
    upload(page, "launch.csv", HEADER + GOOD + "a paper kite,1:1,1,dall-e-3,1K,\n")
    expect(page.locator("h1")).to_contain_text("· plan")
    refused = page.locator("#batch-refused")
    expect(refused).to_contain_text("1 row refused")
    expect(refused).to_contain_text("Unknown model “dall-e-3”")
    expect(page.locator("#batch-queue")).to_be_disabled()
    screenshot(page, "batch-1-plan-refused", full_page=True)
    page.click("text=Discard the plan")
    expect(page.locator(".message--success")).to_contain_text("nothing was queued")

    # The fixed file: every row, one estimate, then queue.
    upload(page, "launch.csv", HEADER + GOOD)
    rows = page.locator("#batch-rows tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("a ceramic mug on an oak table, soft morning light")
    estimate = page.locator("#batch-estimate")
    # 2 × $0.134 (Pro 1K) + 2 × $0.067 (NB2 1K) = $0.402; finals 2 × 0.24 + 2 × 0.151.
    expect(estimate).to_contain_text("3 rows → 4 previews: $0.40")
    expect(estimate).to_contain_text("Approving all of them as 4K finals: $0.78 more")
    queue = page.locator("#batch-queue")
    expect(queue).to_have_text("Queue 3 rows (4 previews)")
    screenshot(page, "batch-2-plan", full_page=True)
    assert not Submission.objects.exists()
    with page.expect_navigation():
        queue.click()

    batch = Batch.objects.get(status=Batch.Status.QUEUED)
    expect(page.locator(".message--success")).to_contain_text(
        f"Queued batch #{batch.pk}: 3 rows, 4 previews."
    )
    progress = page.locator("#batch-progress")
    expect(progress).to_contain_text("4 with the workers")
    generations = list(Generation.objects.filter(submission__batch=batch).order_by("pk"))
    assert [g.submission.batch_row for g in generations] == [1, 1, 2, 3]
    assert Reservation.objects.filter(generation__in=generations).count() == 4

    # The workers (here: the instant local provider in this process) render the previews;
    # the progress panel follows without a reload.
    page.evaluate("window.__marker = 1")
    for generation in generations:
        generation_render(generation_id=generation.pk, worker="e2e")
    drain_cpu_queue()
    expect(progress).to_contain_text("none with the workers", timeout=15_000)
    expect(progress.locator("strong").nth(1)).to_have_text("4")
    assert page.evaluate("window.__marker") == 1
    page.click("#batch-progress a[data-state=in_review]")
    expect(page.locator("#batch-items article.card")).to_have_count(4)
    screenshot(page, "batch-3-progress", full_page=True)

    # A reviewer decides the batch's previews in order, from the keyboard.
    review = sign_in(browser, live_server.url, "rui")
    review.goto(f"/batches/{batch.pk}/")
    review.click("#batch-review")
    expect(review.locator(".queue__batch")).to_contain_text(f"#{batch.pk}")
    items = review.locator("[data-review-item]")
    expect(items).to_have_count(4)
    ids = [int(re.sub(r"\D", "", items.nth(i).get_attribute("id"))) for i in range(4)]
    assert ids == [g.pk for g in generations]
    expect(review.locator(f"#review-{ids[0]}")).to_have_class("review-item is-current")
    review.keyboard.press("a")
    expect(review.locator(f"#review-{ids[0]}")).to_have_attribute("data-decided", "1")
    expect(review.locator(f"#review-{ids[1]}")).to_have_class("review-item is-current")
    expect(review.locator("#queue-count")).to_have_text("3")
    screenshot(review, "batch-4-review-in-order", full_page=True)
    assert Generation.objects.get(pk=ids[0]).state == State.FINAL_QUEUED
