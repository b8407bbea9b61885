"""The core flow in a real browser: headless Chromium against the live server, with a real
Celery worker process rendering through the local provider.

prompt → previews appear and turn "in review" live → a reviewer approves → the 4K final is
delivered live → the download is a 4096 px image. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image as PILImage

from tests.e2e.conftest import VIEWPORT, screenshot
from tests.support.factories import PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PREVIEW_TIMEOUT_MS = 60_000
FINAL_TIMEOUT_MS = 120_000


def shot(page, name: str) -> None:
    screenshot(page, f"browser-{name}", full_page=True)


def sign_in(browser, base_url: str, username: str):
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page


def test_prompt_to_previews_to_approval_to_a_4k_download_live_in_the_browser(
    live_server, celery_worker, browser, project, designer, reviewer
):
    expect = playwright_api.expect
    celery_worker.start(profile="fixed:latency=1,fail=0")

    # The designer signs in and lands on their only project.
    _, studio = sign_in(browser, live_server.url, "dana")
    expect(studio).to_have_url(f"{live_server.url}/p/{project.slug}/")
    shot(studio, "1-studio")

    # Submit two 1K square variants; the page must never reload from here on.
    studio.evaluate("window.__marker = 1")
    polls: list[str] = []
    studio.on("request", lambda request: polls.append(request.url))
    studio.fill("#id_prompt", "a paper crane on a rainy windowsill, soft morning light")
    studio.select_option("#id_aspect_ratio", "1:1")
    studio.select_option("#id_preview_size", "1K")
    studio.select_option("#id_variants", "2")
    studio.click("#submit-form button[type=submit]")

    cards = studio.locator("#cards > article.card")
    expect(cards).to_have_count(2)
    expect(studio.locator("#messages")).to_contain_text("Queued 2 previews at 1K.")
    expect(studio.locator("#id_prompt")).to_have_value("")
    shot(studio, "2-submitted")
    ids = [cards.nth(i).get_attribute("id") for i in range(2)]
    for card_id in ids:
        assert card_id and card_id.startswith("gen-")

    # Each card follows its generation on its own until the preview waits for review.
    for card_id in ids:
        expect(studio.locator(f"#{card_id}")).to_have_attribute(
            "data-state", "in_review", timeout=PREVIEW_TIMEOUT_MS
        )
        expect(studio.locator(f"#{card_id} img")).to_be_visible()
    assert studio.evaluate("window.__marker") == 1, "the studio page was reloaded"
    shot(studio, "3-in-review")

    # The reviewer signs in (a separate browser context) and approves the first variant.
    _, review = sign_in(browser, live_server.url, "rui")
    first = int(ids[0].removeprefix("gen-"))
    review.goto("/review/")
    expect(review.locator(f"#gen-{first}")).to_be_visible()
    shot(review, "4-review-list")
    review.goto(f"/g/{first}/")
    live = review.locator("#live")
    expect(live).to_have_attribute("data-state", "in_review")
    review.evaluate("window.__marker = 2")
    shot(review, "5-generation-in-review")
    review.fill("#id_note", "lovely light, ship it")
    review.click("form.action--approve button[type=submit]")

    # The state section follows the 4K final live: queued, rendering, delivered.
    expect(review.locator("#messages")).to_contain_text("Approved")
    expect(live).to_have_attribute("data-state", "delivered", timeout=FINAL_TIMEOUT_MS)
    assert review.evaluate("window.__marker") == 2, "the generation page was reloaded"
    download = review.locator("a", has_text="Download 4K")
    expect(download).to_be_visible()
    expect(live.locator("table").first).to_contain_text("lovely light, ship it")
    shot(review, "6-delivered")

    # The 4K download is the real file: 4096 px on the long edge for 1:1.
    response = review.request.get(download.get_attribute("href"))
    assert response.status == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["cache-control"] == "private, max-age=3600"
    with PILImage.open(io.BytesIO(response.body())) as image:
        assert image.size == (4096, 4096)

    # The designer's card, waiting on the reviewer, saw the decision and followed the final
    # to delivery on its own: still the same page, never reloaded.
    expect(studio.locator(f"#gen-{first}")).to_have_attribute(
        "data-state", "delivered", timeout=FINAL_TIMEOUT_MS
    )
    assert studio.evaluate("window.__marker") == 1, "the studio page was reloaded"
    shot(studio, "7-studio-after-delivery")
    # One request per interval for both cards (static/js/live.js), never one per card.
    card_polls = [url for url in polls if "/card" in url]
    assert card_polls and all("/cards/live/?c=" in url for url in card_polls), card_polls
    asked = [
        {entry.split(".")[0] for entry in parse_qs(urlsplit(url).query)["c"][0].split(",")}
        for url in card_polls
    ]
    assert {card_id.removeprefix("gen-") for card_id in ids} in asked, card_polls
