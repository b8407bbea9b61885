"""Every page at phone (390 px), tablet (768 px) and desktop (1440 px) widths in headless
Chromium: none scrolls sideways (wide tables scroll inside their own box), the top
navigation folds into a menu on narrow screens, and the generation page shows the image
first on a phone. Each page is screenshotted into test-artifacts/ (CI keeps them).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils import timezone

from generations.batches.services import batch_plan_csv
from generations.models import Role, WebhookEndpoint, WebhookEvent
from generations.webhooks.signing import secret_new
from tests.e2e.conftest import screenshot
from tests.e2e.test_review_keyboard import previews
from tests.support.factories import PASSWORD, UserFactory
from tests.support.review import member
from tests.support.spend import build_ledger

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE, TABLET, DESKTOP = 390, 768, 1440
# The March 2026 ledger of tests/support/spend: every breakdown table has rows.
MARCH = "date_from=2026-03-01&date_to=2026-03-08"


@dataclass(frozen=True)
class Studio:
    """A project with work in every state a page shows, and its ids for the URLs."""

    slug: str
    generation: int
    decided: int
    images: str
    batch: int
    webhook: int


@pytest.fixture
def studio(project, designer, reviewer):
    """Sam is staff and holds every role in the project, so every link and tab shows."""
    sam = UserFactory(username="sam", is_staff=True)
    for role in (Role.DESIGNER, Role.REVIEWER, Role.ADMIN):
        member(project, "sam", role)
    assert sam.is_staff
    build_ledger(project)
    # A long, unbroken prompt is the classic cause of sideways scrolling.
    waiting = previews(
        project,
        designer,
        "a lighthouse on a cliff at dusk, oil painting, warm light, long exposure, "
        "seen_from_the_sea_with_a_very_long_unbroken_token_that_must_wrap_somewhere",
        3,
    )
    decided = previews(project, designer, "a paper crane on a rainy windowsill", 2)
    from generations.review.decisions import generation_reject

    generation_reject(generation_id=decided[0].pk, user=reviewer, comment="too grey")
    image_ids = ",".join(str(g.images.get().pk) for g in waiting[:2])
    # A draft batch (its plan page) and a webhook endpoint with a long address.
    batch = batch_plan_csv(
        project=project,
        user=sam,
        filename="autumn-campaign-with-a-rather-long-file-name.csv",
        data=(
            b"prompt,aspect_ratio,variants,model,preview_size\n"
            b"a lighthouse at dawn,16:9,2,nano-banana-pro,1K\n"
            b"a red kite over dunes,1:1,1,nano-banana-2,1K\n"
        ),
    )
    webhook = WebhookEndpoint.objects.create(
        project=project,
        url="https://hooks.example.com/proof-studio/receivers/a-very-long-path-to-wrap/events",
        events=list(WebhookEvent.values),
        secret=secret_new(),
        created_at=timezone.now(),
    )
    return Studio(
        slug=project.slug,
        generation=waiting[0].pk,
        decided=decided[0].pk,
        images=image_ids,
        batch=batch.pk,
        webhook=webhook.pk,
    )


def pages(studio: Studio) -> dict[str, str]:
    slug = studio.slug
    return {
        "studio": f"/p/{slug}/",
        "generation": f"/g/{studio.generation}/",
        "generation-decided": f"/g/{studio.decided}/",
        "review": "/review/",
        "gallery": "/gallery/",
        "compare": f"/compare/?images={studio.images}",
        "spend": f"/spend/?{MARCH}",
        "savings": f"/spend/savings/?{MARCH}",
        "ledger": f"/spend/ledger/?{MARCH}",
        "prices": "/spend/prices/",
        "settings": f"/p/{slug}/settings/",
        "members": f"/p/{slug}/members/",
        "batches": f"/p/{slug}/batches/",
        "batch": f"/batches/{studio.batch}/",
        "webhooks": f"/p/{slug}/webhooks/",
        "webhook": f"/p/{slug}/webhooks/{studio.webhook}/",
        "api-tokens": "/settings/tokens/",
        "quality": "/quality/",
        "provider health": "/health/?window=30d",
        "notifications": "/notifications/",
    }


def signed_in(browser, base_url: str, username: str, width: int):
    context = browser.new_context(
        viewport={"width": width, "height": 844 if width < 500 else 900}, base_url=base_url
    )
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/accounts/login/" not in page.url, f"{username} could not sign in"
    return page


def overflow(page) -> int:
    """How far the page scrolls sideways (0 when it does not)."""
    return page.evaluate("Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")


def widest(page) -> str:
    """The element sticking out furthest to the right (outside any box that scrolls or
    clips it), for the failure message."""
    return page.evaluate(
        """() => {
          const clipped = (el) => {
            for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
              if (getComputedStyle(up).overflowX !== 'visible') return true;
            }
            return false;
          };
          let worst = null, right = window.innerWidth;
          for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            if (box.width && box.right > right + 0.5 && !clipped(el)) {
              right = box.right; worst = el;
            }
          }
          if (!worst) return '';
          const name = typeof worst.className === 'string' && worst.className.trim()
            ? '.' + worst.className.trim().split(/\\s+/).join('.') : '';
          return worst.tagName.toLowerCase() + (worst.id ? '#' + worst.id : '') + name +
            ' to ' + Math.round(right);
        }"""
    )


def check_pages(browser, base_url: str, studio: Studio, width: int, only=None) -> None:
    page = signed_in(browser, base_url, "sam", width)
    problems = []
    for name, path in pages(studio).items():
        if only and name not in only:
            continue
        response = page.goto(path)
        status = response.status if response else None
        assert response is not None and response.ok, f"{name} {path}: {status}"
        page.wait_for_load_state("load")
        screenshot(page, f"responsive-{width}-{name}", full_page=True)
        if extra := overflow(page):
            problems.append(f"{name} ({path}) scrolls {extra} px sideways: {widest(page)}")
    assert not problems, "\n".join(problems)


def test_no_page_scrolls_sideways_on_a_phone(live_server, browser, studio):
    check_pages(browser, live_server.url, studio, PHONE)


def test_no_page_scrolls_sideways_on_a_wide_desktop(live_server, browser, studio):
    check_pages(browser, live_server.url, studio, DESKTOP)


def test_the_busiest_pages_fit_a_tablet(live_server, browser, studio):
    check_pages(
        browser,
        live_server.url,
        studio,
        TABLET,
        only={"studio", "generation", "review", "compare", "spend", "prices", "settings"},
    )


def test_the_top_bar_folds_into_a_menu_on_a_phone(live_server, browser, studio):
    page = signed_in(browser, live_server.url, "sam", PHONE)
    page.goto(f"/p/{studio.slug}/")
    menu = page.locator("#topbar-menu")
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_be_visible()
    expect(page.locator("#bell")).to_be_visible()  # the bell stays in the bar
    expect(menu.get_by_role("link", name="Review")).to_be_hidden()

    toggle.click()
    for name in ("Acme Launch", "Review", "Gallery", "Spend", "API tokens"):
        link = menu.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE, name
    sign_out = menu.get_by_role("button", name="Sign out")
    expect(sign_out).to_be_visible()
    box = sign_out.bounding_box()
    assert box and box["x"] + box["width"] <= PHONE, "Sign out is clipped"
    screenshot(page, "responsive-390-menu-open")

    page.keyboard.press("Escape")
    expect(menu.get_by_role("link", name="Review")).to_be_hidden()
    toggle.click()
    menu.get_by_role("link", name="Review").click()
    # Review opens the canvas: one picture at a time, large (the grid is one link away).
    page.wait_for_url("**/review/canvas/")
    expect(page.get_by_role("heading", name="Review", exact=True)).to_be_visible()
    assert overflow(page) == 0

    # On a desktop the links sit in the bar and there is no menu button.
    wide = signed_in(browser, live_server.url, "sam", DESKTOP)
    expect(wide.get_by_role("button", name="Menu")).to_be_hidden()
    for name in ("Acme Launch", "Review", "Gallery", "Spend", "Quality"):
        expect(wide.locator(".topbar").get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(wide.get_by_role("button", name="Sign out")).to_be_visible()


def test_on_a_phone_the_generation_page_shows_the_image_first(live_server, browser, studio):
    page = signed_in(browser, live_server.url, "sam", PHONE)
    page.goto(f"/g/{studio.generation}/")
    image = page.locator(".image--preview").first
    expect(image).to_be_visible()
    top = {
        name: page.locator(selector).first.bounding_box()["y"]
        for name, selector in {
            "image": ".image--preview",
            "status": ".status",
            "details": ".gen-side .panel",
            "comment": "#comment-form",
            "timeline": "#timeline",
        }.items()
    }
    assert top["image"] < top["status"] < top["details"] < top["comment"] < top["timeline"], top
    assert image.bounding_box()["width"] >= PHONE - 40, "the image takes the screen's width"


def test_the_review_queue_heading_and_approve_selected_fit_a_phone(live_server, browser, studio):
    page = signed_in(browser, live_server.url, "sam", PHONE)
    page.goto("/review/")
    heading = page.get_by_role("heading", name="Review queue")
    box = heading.bounding_box()
    assert box and box["height"] < 60, "the heading wraps a word per line"
    approve = page.locator("[data-bulk-approve]")
    expect(approve).to_be_visible()
    box = approve.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE, "Approve selected is cut off"
