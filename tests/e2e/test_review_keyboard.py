"""The review workflow in headless Chromium against the live server.

A reviewer works through a queue of five real previews (rendered by the local provider,
no worker needed) with the keyboard only: J/K, A, R and C with a comment, X and Shift+A,
Z and ?. Then the other pages of the workflow — a pinned comment dropped by clicking the
image, the gallery, notifications, project settings and members — each screenshotted at
1280×800 into test-artifacts/.
"""

from __future__ import annotations

import pytest

from generations import services
from generations.models import Comment, Generation, Role, Transition
from generations.rendering.jobs import generation_render
from generations.review.decisions import generation_request_changes
from generations.states import State
from tests.e2e.conftest import VIEWPORT, screenshot
from tests.support.factories import PASSWORD
from tests.support.fakes import drain_cpu_queue
from tests.support.review import member

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name: str, *, full_page: bool = False) -> None:
    screenshot(page, f"review-{name}", full_page=full_page)


def sign_in(browser, base_url: str, username: str):
    """Sign in with the keyboard: type, Tab, type, Enter."""
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.focus("#id_username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/accounts/login/" not in page.url, f"{username} could not sign in"
    return page


def previews(project, designer, prompt: str, variants: int) -> list[Generation]:
    """Real previews waiting for review: submitted, then rendered by the instant local
    provider in this process (the live server reads the same database)."""
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt=prompt,
        model_key="nano-banana-pro",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=variants,
    )
    made = []
    for generation in submission.generations.order_by("variant"):
        generation_render(generation_id=generation.pk, worker="e2e")
        drain_cpu_queue()  # what the CPU-queue worker would do
        generation.refresh_from_db()
        assert generation.state == State.IN_REVIEW
        made.append(generation)
    return made


def current(page) -> str:
    return page.locator(".review-item.is-current").get_attribute("id")


def test_a_reviewer_works_through_five_previews_with_the_keyboard_only(
    live_server, browser, project, designer, reviewer
):
    expect = playwright_api.expect
    lighthouse = previews(project, designer, "a lighthouse on a cliff at dusk, oil painting", 3)
    crane = previews(project, designer, "a paper crane on a rainy windowsill", 2)
    a1, a2, a3 = lighthouse
    b1, b2 = crane

    page = sign_in(browser, live_server.url, "rui")
    page.goto("/review/")
    page.evaluate("window.__marker = 1")
    expect(page.locator("[data-review-item]")).to_have_count(5)
    expect(page.locator("#queue-count")).to_have_text("5")
    expect(page.locator(".queue-group")).to_have_count(2)
    # The oldest prompt's first variant has the focus.
    expect(page.locator(f"#review-{a1.pk}")).to_have_class("review-item is-current", timeout=5_000)
    expect(page.locator(f"#review-{a1.pk} .decide__price")).to_have_text("$0.24")
    shot(page, "1-queue")

    # ? shows the keys; ? again closes them.
    page.keyboard.press("?")
    expect(page.locator("#review-keys")).to_be_visible()
    shot(page, "2-keys")
    page.keyboard.press("?")
    expect(page.locator("#review-keys")).to_be_hidden()

    # J / K move through the queue.
    page.keyboard.press("j")
    assert current(page) == f"review-{a2.pk}"
    page.keyboard.press("k")
    assert current(page) == f"review-{a1.pk}"

    # Z zooms the current image; Z closes it.
    page.keyboard.press("z")
    zoom = page.locator("#review-zoom")
    expect(zoom).to_be_visible()
    expect(zoom.locator("img")).to_have_js_property("complete", True)
    shot(page, "3-zoom")
    page.keyboard.press("z")
    expect(zoom).to_be_hidden()

    # A approves; the focus moves on to the next item waiting.
    page.keyboard.press("a")
    expect(page.locator(f"#review-{a1.pk}")).to_have_attribute("data-decided", "1")
    expect(page.locator(f"#review-{a2.pk}")).to_have_class("review-item is-current")
    expect(page.locator("#queue-count")).to_have_text("4")

    # R asks for a comment: Enter with none is refused on the spot; with one, it rejects.
    page.keyboard.press("r")
    comment = page.locator(f"#comment-{a2.pk}")
    expect(comment).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(f"#review-{a2.pk} [data-decide-error]")).to_contain_text("Write why")
    page.keyboard.type("too dark, the cliff disappears")
    shot(page, "4-rejecting")
    page.keyboard.press("Enter")
    expect(page.locator(f"#review-{a2.pk}")).to_have_attribute("data-decided", "1")
    expect(page.locator(f"#review-{a3.pk}")).to_have_class("review-item is-current")

    # C requests changes, with its comment.
    page.keyboard.press("c")
    expect(page.locator(f"#comment-{a3.pk}")).to_be_focused()
    page.keyboard.type("warmer light on the water, please")
    page.keyboard.press("Enter")
    expect(page.locator(f"#review-{a3.pk}")).to_have_attribute("data-decided", "1")
    expect(page.locator(f"#review-{b1.pk}")).to_have_class("review-item is-current")

    # X selects the current item, J moves, X selects another; Shift+A approves both.
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator("[data-bulk-count]")).to_have_text("2 selected")
    shot(page, "5-selected")
    page.keyboard.press("Shift+A")
    for generation in crane:
        expect(page.locator(f"#review-{generation.pk}")).to_have_attribute("data-decided", "1")
    expect(page.locator("#queue-count")).to_have_text("0")
    expect(page.locator("#messages")).to_contain_text("Approved 2 generations")
    assert page.evaluate("window.__marker") == 1, "the queue was reloaded"
    shot(page, "6-done")

    states = {
        g.pk: g for g in Generation.objects.filter(pk__in=[a1.pk, a2.pk, a3.pk, b1.pk, b2.pk])
    }
    assert [states[g.pk].state for g in (a1, a2, a3, b1, b2)] == [
        State.FINAL_QUEUED,
        State.REJECTED,
        State.CHANGES_REQUESTED,
        State.FINAL_QUEUED,
        State.FINAL_QUEUED,
    ]
    decisions = {
        t.generation_id: (t.actor.username, t.reason)
        for t in Transition.objects.filter(from_state=State.IN_REVIEW).select_related("actor")
    }
    assert decisions[a2.pk] == ("rui", "too dark, the cliff disappears")
    assert decisions[a3.pk] == ("rui", "warmer light on the water, please")
    assert {decisions[g.pk][0] for g in (a1, b1, b2)} == {"rui"}


def test_the_review_pages_look_right_and_a_comment_pins_where_the_image_is_clicked(
    live_server, browser, project, designer, reviewer, project_admin
):
    expect = playwright_api.expect
    (generation,) = previews(project, designer, "a red kite over dunes at noon", 1)
    others = previews(project, designer, "a fox in the snow, woodcut", 2)
    generation_request_changes(
        generation_id=others[0].pk, user=reviewer, comment="make the fox smaller"
    )
    member(project, "vera", Role.REVIEWER)

    # The reviewer clicks a spot of the preview and comments on it.
    page = sign_in(browser, live_server.url, "rui")
    page.goto(f"/g/{generation.pk}/")
    board = page.locator(".image--preview .pinboard")
    expect(board.locator("img")).to_have_js_property("complete", True)
    board.scroll_into_view_if_needed()  # the click is at a point of the image: on screen
    box = board.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.6)
    expect(page.locator(".pin--pending")).to_be_visible()
    page.keyboard.type("this dune looks flat")
    page.locator("#comment-form button[type=submit]").click()
    expect(page.locator(".image--preview .pin:not(.pin--pending)")).to_have_text("1")
    expect(page.locator("#timeline")).to_contain_text("this dune looks flat")
    comment = Comment.objects.get()
    assert comment.image_id == generation.images.get().pk
    assert abs(comment.pin_x - 0.25) < 0.02 and abs(comment.pin_y - 0.6) < 0.02
    shot(page, "7-generation-pinned", full_page=True)

    page.goto("/gallery/")
    expect(page.locator("#gallery-results article.card")).to_have_count(3)
    page.fill("#id_q", "fox")
    expect(page.locator("#gallery-results article.card")).to_have_count(2)
    shot(page, "8-gallery")

    # The designer hears of it all, once per submission and kind: the two previews of the
    # two-variant submission are one "ready" note, not two.
    designer_page = sign_in(browser, live_server.url, "dana")
    expect(designer_page.locator(".bell__count")).to_have_text("4")
    designer_page.goto("/notifications/")
    shot(designer_page, "9-notifications")
    designer_page.goto(f"/g/{others[0].pk}/")
    expect(designer_page.locator(".status__line--decision")).to_contain_text("make the fox smaller")
    shot(designer_page, "10-changes-requested")

    admin_page = sign_in(browser, live_server.url, "ada")
    admin_page.goto(f"/p/{project.slug}/settings/")
    shot(admin_page, "11-settings", full_page=True)
    admin_page.goto(f"/p/{project.slug}/members/")
    shot(admin_page, "12-members")
