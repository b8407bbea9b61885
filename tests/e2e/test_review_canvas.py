"""The review canvas (issue 17) in headless Chromium against the live server.

A reviewer works through real previews (rendered by the local provider, no worker needed)
on the canvas with the keyboard only — J/K, A, R, C and Shift+C with their text, X and
Shift+A, Z and ? — and never the mouse; approve is disabled, with why, when the budget
cannot pay; a batch is walked in row order; and at 390 px the panel sits under the
picture without sideways scrolling. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from generations.batches import services as batch_services
from generations.models import Batch, Budget, Comment, Generation, Transition
from generations.rendering.jobs import generation_render
from generations.states import State
from tests.e2e.conftest import screenshot
from tests.e2e.test_review_keyboard import previews, sign_in
from tests.support.fakes import drain_cpu_queue

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def shot(page, name: str, *, full_page: bool = False) -> None:
    screenshot(page, f"canvas-{name}", full_page=full_page)


def overflowing(page) -> list[str]:
    """What on the page (below the top bar, which the responsive pass of issue 17 owns)
    reaches past the right edge of the window: what would make it scroll sideways."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll("main, main *"))
            .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
            .map((e) => `${e.tagName}.${e.className}`)"""
    )


def project_filter_room(page) -> float:
    """Pixels the project filter has beyond its chosen label's text: room for the padding
    and the arrow, or the label is clipped ("All my project")."""
    return page.evaluate(
        """() => {
            const select = document.querySelector("#id_project");
            const style = getComputedStyle(select);
            const pen = document.createElement("canvas").getContext("2d");
            pen.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
            return select.clientWidth - pen.measureText(select.selectedOptions[0].text).width;
        }"""
    )


def shown(page) -> int:
    return int(page.locator("#review-canvas").get_attribute("data-pk"))


def test_a_reviewer_works_through_the_canvas_with_the_keyboard_only(
    live_server, browser, project, designer, reviewer
):
    expect = playwright_api.expect
    a1, a2, a3 = previews(project, designer, "a lighthouse on a cliff at dusk, oil painting", 3)
    b1, b2 = previews(project, designer, "a paper crane on a rainy windowsill", 2)

    page = sign_in(browser, live_server.url, "rui")
    # The grid links to the canvas, with the filter's label in full on both.
    page.goto("/review/")
    assert project_filter_room(page) >= 40
    with page.expect_navigation():
        page.locator("#open-canvas").focus()
        page.keyboard.press("Enter")
    canvas = page.locator("#review-canvas")
    page.evaluate("window.__marker = 1")
    expect(canvas).to_have_attribute("data-pk", str(a1.pk))
    expect(page.locator("#queue-count")).to_have_text("5")
    expect(page.locator(".canvas__position")).to_contain_text("1 of 5 waiting")
    # The picture is large: fit to the stage, far beyond a ~280 px card.
    picture = page.locator("#canvas-stage .pinboard img")
    expect(picture).to_have_js_property("complete", True)
    box = page.locator("#canvas-stage .pinboard").bounding_box()
    assert box["height"] >= 450 and box["y"] + box["height"] <= 800, box
    # The other variants of the prompt as a strip, the current one marked.
    expect(page.locator(".canvas__strip .strip__item")).to_have_count(3)
    expect(page.locator(f'.strip__item[data-strip-pk="{a1.pk}"]')).to_have_class(
        "strip__item is-current"
    )
    expect(page.locator("#canvas-decide .decide__price")).to_have_text("$0.24")
    expect(page.locator("#id_project option").first).to_have_text("All my projects")
    assert project_filter_room(page) >= 40  # (28 px when it read "All my project")
    shot(page, "1-first")

    # ? shows the keys; ? again closes them.
    page.keyboard.press("?")
    expect(page.locator("#review-keys")).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("#review-keys")).to_be_hidden()

    # J / K move through the queue (and the address bar follows).
    page.keyboard.press("j")
    expect(canvas).to_have_attribute("data-pk", str(a2.pk))
    page.wait_for_url(f"**/review/canvas/?at={a2.pk}")
    page.keyboard.press("k")
    expect(canvas).to_have_attribute("data-pk", str(a1.pk))

    # Z zooms; Z closes.
    page.keyboard.press("z")
    zoom = page.locator("#review-zoom")
    expect(zoom).to_be_visible()
    expect(zoom.locator("img")).to_have_js_property("complete", True)
    page.keyboard.press("z")
    expect(zoom).to_be_hidden()

    # A approves: the next item waiting is shown.
    page.keyboard.press("a")
    expect(canvas).to_have_attribute("data-pk", str(a2.pk))
    expect(page.locator("#queue-count")).to_have_text("4")
    expect(page.locator("#messages")).to_contain_text(f"Approved #{a1.pk}")

    # R asks why: Enter with nothing is refused on the spot; with a reason it rejects.
    page.keyboard.press("r")
    reason = page.locator("#decide-comment")
    expect(reason).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("[data-canvas-error]")).to_contain_text("Write why")
    page.keyboard.type("too dark, the cliff disappears")
    shot(page, "2-rejecting")
    page.keyboard.press("Enter")
    expect(canvas).to_have_attribute("data-pk", str(a3.pk))

    # Shift+C writes a comment; the item stays in front, waiting.
    page.keyboard.press("Shift+C")
    expect(page.locator("#canvas-comment textarea")).to_be_focused()
    page.keyboard.type("lovely light on the water")
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text(f"Comment added to #{a3.pk}.")
    expect(canvas).to_have_attribute("data-pk", str(a3.pk))
    expect(canvas).to_be_focused()

    # C requests changes, with what to change.
    page.keyboard.press("c")
    expect(reason).to_be_focused()
    page.keyboard.type("warmer light, please")
    page.keyboard.press("Enter")
    expect(canvas).to_have_attribute("data-pk", str(b1.pk))
    expect(page.locator(".canvas__strip .strip__item")).to_have_count(2)
    assert page.evaluate("window.__marker") == 1, "the canvas was reloaded"

    # X selects, J moves, X selects another; Shift+A approves both.
    page.keyboard.press("x")
    page.keyboard.press("j")
    expect(canvas).to_have_attribute("data-pk", str(b2.pk))
    page.keyboard.press("x")
    expect(page.locator("[data-canvas-bulk-count]")).to_have_text("2 selected")
    shot(page, "3-selected")
    with page.expect_navigation():
        page.keyboard.press("Shift+A")
    expect(page.locator("#messages")).to_contain_text("Approved 2 generations")
    expect(page.locator("#review-canvas")).to_contain_text("All caught up.")
    shot(page, "4-done")

    states = Generation.objects.in_bulk([a1.pk, a2.pk, a3.pk, b1.pk, b2.pk])
    assert [states[g.pk].state for g in (a1, a2, a3, b1, b2)] == [
        State.FINAL_QUEUED,
        State.REJECTED,
        State.CHANGES_REQUESTED,
        State.FINAL_QUEUED,
        State.FINAL_QUEUED,
    ]
    reasons = {
        t.generation_id: t.reason for t in Transition.objects.filter(from_state=State.IN_REVIEW)
    }
    assert reasons[a2.pk] == "too dark, the cliff disappears"
    assert reasons[a3.pk] == "warmer light, please"
    assert Comment.objects.get().body == "lovely light on the water"


def test_approve_is_disabled_with_the_budget_reason_when_the_budget_cannot_pay(
    live_server, browser, project, designer, reviewer, project_admin
):
    expect = playwright_api.expect
    (generation,) = previews(project, designer, "a red kite over dunes at noon", 1)
    Budget.objects.create(project=project, amount_usd=Decimal("0.10"))

    page = sign_in(browser, live_server.url, "rui")
    page.goto("/review/canvas/")
    approve = page.locator('#canvas-decide button[value="approve"]')
    expect(approve).to_be_disabled()
    blocked = page.locator("#approve-blocked")
    expect(blocked).to_be_visible()
    expect(blocked).to_contain_text("Not enough budget to approve: approving costs $0.24")
    expect(blocked).to_contain_text("Ask ada to raise it")
    expect(page.locator(".canvas__budget")).to_have_class("canvas__budget is-over")

    # A says why instead of approving; the item stays, and R still works.
    page.keyboard.press("a")
    expect(blocked).to_have_class("decide__blocked is-flagged")
    shot(page, "5-over-budget")
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW
    page.keyboard.press("r")
    page.keyboard.type("not worth it at this price")
    page.keyboard.press("Enter")
    expect(page.locator("#review-canvas")).to_contain_text("All caught up.")
    generation.refresh_from_db()
    assert generation.state == State.REJECTED


def test_a_batch_is_reviewed_on_the_canvas_in_row_order(
    live_server, browser, project, designer, reviewer, monkeypatch
):
    expect = playwright_api.expect
    monkeypatch.setattr("generations.dispatch.kick_batch", lambda batch_id: None)
    monkeypatch.setattr("generations.dispatch.kick", lambda pk: None)
    (outside,) = previews(project, designer, "older, not in the batch", 1)
    batch = batch_services.batch_plan_csv(
        project=project,
        user=designer,
        filename="rows.csv",
        data=(
            b"prompt,aspect_ratio,variants,model,preview_size\n"
            b"a ceramic mug,1:1,2,nano-banana-pro,1K\na glass bottle,1:1,1,nano-banana-pro,1K\n"
        ),
    )
    batch_services.batch_queue(batch_id=batch.pk, user=designer)
    rows = list(Generation.objects.filter(submission__batch=batch).order_by("pk"))
    for generation in rows:
        generation_render(generation_id=generation.pk, worker="e2e")
    drain_cpu_queue()
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.QUEUED

    page = sign_in(browser, live_server.url, "rui")
    page.goto(f"/batches/{batch.pk}/")
    with page.expect_navigation():
        page.click("#batch-review-canvas")
    canvas = page.locator("#review-canvas")
    expect(page.locator(".canvas__batch")).to_contain_text(f"#{batch.pk}")
    expect(page.locator("#queue-count")).to_have_text("3")
    seen = []
    for generation in rows:
        expect(canvas).to_have_attribute("data-pk", str(generation.pk))
        seen.append(shown(page))
        if not seen[1:]:
            shot(page, "6-batch")
        page.keyboard.press("a")
    expect(canvas).to_contain_text("All caught up.")
    assert seen == [g.pk for g in rows]
    outside.refresh_from_db()
    assert outside.state == State.IN_REVIEW, "the batch filter kept the rest of the queue out"
    assert {g.state for g in Generation.objects.filter(pk__in=seen)} == {State.FINAL_QUEUED}


def test_on_a_phone_the_panel_sits_under_the_picture_without_sideways_scrolling(
    live_server, browser, project, designer, reviewer
):
    expect = playwright_api.expect
    previews(project, designer, "a tall lighthouse, a long prompt " + "with many words " * 12, 2)
    page = sign_in(browser, live_server.url, "rui")
    page.set_viewport_size(PHONE)
    page.goto("/review/canvas/")
    expect(page.locator("#canvas-stage .pinboard img")).to_have_js_property("complete", True)
    assert overflowing(page) == []
    stage = page.locator("#canvas-stage").bounding_box()
    panel = page.locator(".canvas__panel").bounding_box()
    assert panel["y"] >= stage["y"] + stage["height"], (stage, panel)
    assert stage["width"] <= PHONE["width"] and panel["width"] <= PHONE["width"]
    shot(page, "7-phone", full_page=True)
    page.keyboard.press("a")
    expect(page.locator("#queue-count")).to_have_text("1")
    assert overflowing(page) == []
