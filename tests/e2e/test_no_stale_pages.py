"""Back and Forward never show a page with actions as it was before a decision.

A reviewer opens an item from the review queue, approves it on its page, and goes Back:
the queue no longer offers it, and Forward shows the generation as approved, with no live
Approve button. Run twice: as Playwright's Chromium runs by default (no back/forward
cache: Back reads the HTTP cache, which no-store keeps out) and with the back/forward
cache on (the page comes back from memory: `pageshow` with `persisted` reloads it).
"""

from __future__ import annotations

from typing import Any

import pytest

from generations.states import State
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot
from tests.e2e.test_review_keyboard import previews, sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=["http-cache", "bfcache"])
def any_browser(request, browser) -> Any:
    if request.param == "http-cache":
        return browser
    with_bfcache = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        ignore_default_args=["--disable-back-forward-cache"],
    )
    request.addfinalizer(with_bfcache.close)
    return with_bfcache


def test_back_after_approving_shows_the_decided_state_not_a_live_approve_button(
    live_server, any_browser, project, designer, reviewer
):
    first, second = previews(project, designer, "a lighthouse on a cliff at dusk", 2)
    page = sign_in(any_browser, live_server.url, "rui")
    page.goto("/review/")
    expect(page.locator("#queue-count")).to_have_text("2")
    expect(page.locator(f"#review-{first.pk} button[value=approve]")).to_be_visible()

    page.locator(f"#review-{first.pk} a.card__id").click()
    page.wait_for_url(f"**/g/{first.pk}/")
    page.get_by_role("button", name="Approve → render 4K").click()
    expect(page.locator("#live .badge--large")).not_to_have_text("In review")
    first.refresh_from_db()
    assert first.state == State.FINAL_QUEUED

    # (a page restored from the back/forward cache fires no "load": wait for the address)
    page.go_back(wait_until="commit")
    page.wait_for_url("**/review/", wait_until="commit")
    expect(page.locator("#queue-count")).to_have_text("1")
    expect(page.locator(f"#review-{first.pk} button[value=approve]")).to_have_count(0)
    expect(page.locator(f"#review-{second.pk} button[value=approve]")).to_be_visible()
    screenshot(page, "back-review-queue")

    page.go_forward(wait_until="commit")
    page.wait_for_url(f"**/g/{first.pk}/", wait_until="commit")
    expect(page.locator("#live .badge--large")).not_to_have_text("In review")
    expect(page.get_by_role("button", name="Approve → render 4K")).to_have_count(0)
    screenshot(page, "forward-generation")


def test_pages_with_actions_are_never_stored_and_ask_to_be_revalidated(client, project, designer):
    (generation,) = previews(project, designer, "a paper crane", 1)
    client.force_login(designer)
    for url in (f"/g/{generation.pk}/", f"/p/{project.slug}/", "/gallery/"):
        response = client.get(url)
        assert "no-store" in response["Cache-Control"], url
        assert b"data-revalidate" in response.content, url
