"""Compare in a real browser: headless Chromium against the live server.

The images are real renders of the local provider (the worker step called directly): a 1K
preview, approved, then its 4K final. We zoom with the wheel at a point and read back from
the DOM that every pane shows the same region of the picture; watch the network to see the
original requested only once the zoom passes the screen rendition; drag the slider; flip;
and check that someone without access to one of the images gets nothing of any of them.
Screenshots of each mode go to test-artifacts/.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest

from generations import services
from generations.models import Generation, Image, Membership, Role
from generations.rendering.jobs import generation_render
from generations.review.decisions import generation_approve
from generations.states import State
from tests.e2e.conftest import VIEWPORT, screenshot
from tests.support.factories import PASSWORD, ProjectFactory, UserFactory
from tests.support.fakes import drain_cpu_queue

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ORIGINAL = re.compile(r"/media/(\d+)/original(\?|$)")
PROMPT = "a paper crane on a rainy windowsill, soft morning light"
RENDITION_IS = (
    "([id, state]) => document.querySelector(`[data-image-id='${id}']`).dataset.rendition === state"
)


@pytest.fixture(autouse=True)
def _own_queue(settings):
    # Approvals kick the broker after commit; no worker listens to this queue.
    settings.STUDIO_RENDER_QUEUE = "e2e-compare-unused"
    settings.STUDIO_IMAGE_QUEUE = "e2e-compare-unused-images"


def render(generation: Generation) -> Generation:
    generation_render(generation_id=generation.pk, worker="e2e")
    drain_cpu_queue()  # what the CPU-queue worker would do
    generation.refresh_from_db()
    return generation


@dataclass
class Pair:
    generation: Generation
    preview: Image
    final: Image
    other: Image  # a second variant's preview, still in review


@pytest.fixture
def pair(project, designer, reviewer) -> Pair:
    """Variant 1: 1K preview → approved → 4K final. Variant 2: a 1K preview in review."""
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt=PROMPT,
        model_key="nano-banana-pro",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=2,
    )
    first, second = submission.generations.order_by("variant")
    assert render(first).state == State.IN_REVIEW
    assert render(second).state == State.IN_REVIEW
    generation_approve(generation_id=first.pk, user=reviewer)
    assert render(first).state == State.DELIVERED
    preview, final = first.images.get(phase="preview"), first.images.get(phase="final")
    assert (preview.width, final.width) == (1024, 4096)
    return Pair(first, preview, final, second.images.get())


def sign_in(browser, base_url: str, username: str):
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def shot(page, name: str, *, full_page: bool = False) -> None:
    screenshot(page, f"compare-{name}", full_page=full_page)


def frames(page, count: int = 2) -> None:
    """Let the page draw (the view renders on the next animation frame)."""
    for _ in range(count):
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done()))")


def open_compare(page, *images: Image, fragment: str = "") -> None:
    ids = ",".join(str(image.pk) for image in images)
    page.goto(f"/compare/?images={ids}{fragment}")
    page.wait_for_selector("[data-compare][data-ready=true]")
    # The screen renditions are in before we measure anything.
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-screen]')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )
    frames(page)


def panes(page) -> list[dict]:
    """What each pane shows, read back from the DOM."""
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-pane]')].map((pane) => {
            const rect = pane.getBoundingClientRect();
            const d = pane.dataset;
            return {
                id: Number(d.imageId), hidden: pane.hidden,
                current: pane.classList.contains('is-current'),
                x0: Number(d.x0), y0: Number(d.y0), x1: Number(d.x1), y1: Number(d.y1),
                scale: Number(d.scale), zoom: Number(d.zoom), rendition: d.rendition,
                badge: pane.querySelector('[data-res]').textContent,
                left: rect.left, top: rect.top, width: rect.width, height: rect.height,
                clip: getComputedStyle(pane).clipPath,
            };
        })"""
    )


def region(pane: dict) -> tuple[float, float, float, float]:
    return (pane["x0"], pane["y0"], pane["x1"], pane["y1"])


def assert_same_region(states: list[dict], tolerance: float = 1e-4) -> None:
    first = region(states[0])
    for state in states[1:]:
        assert region(state) == pytest.approx(first, abs=tolerance), (states[0], state)


def image_point(pane: dict, x: float, y: float) -> tuple[float, float]:
    """The normalised image point under page coordinates (x, y), from the pane's state."""
    u = pane["x0"] + (x - pane["left"]) / pane["width"] * (pane["x1"] - pane["x0"])
    v = pane["y0"] + (y - pane["top"]) / pane["height"] * (pane["y1"] - pane["y0"])
    return u, v


def wheel_at(page, x: float, y: float, delta_y: float) -> None:
    page.mouse.move(x, y)
    page.mouse.wheel(0, delta_y)
    frames(page)


def test_wheel_zoom_keeps_every_pane_on_the_same_region_and_loads_originals_only_past_the_rendition(
    live_server, browser, pair, reviewer
):
    page = sign_in(browser, live_server.url, reviewer.username)
    originals: list[int] = []
    page.on(
        "request",
        lambda request: (m := ORIGINAL.search(request.url)) and originals.append(int(m[1])),
    )
    open_compare(page, pair.preview, pair.final)
    start = panes(page)
    assert [p["id"] for p in start] == [pair.preview.pk, pair.final.pk]
    assert_same_region(start)
    assert all(p["zoom"] == 1 and p["rendition"] == "screen" for p in start)
    # Fit: a 4096² final is drawn at a quarter of the 1024² preview's scale per image pixel.
    assert start[0]["scale"] / start[1]["scale"] == pytest.approx(4, rel=1e-3)
    assert start[1]["badge"] == "Screen rendition · 2048 px"
    assert originals == []
    shot(page, "1-side-by-side-fit")

    # Zoom with the wheel at a point off-centre in the preview's pane.
    preview_pane = start[0]
    x = round(preview_pane["left"] + preview_pane["width"] * 0.62)
    y = round(preview_pane["top"] + preview_pane["height"] * 0.7)
    before = image_point(start[0], x, y)

    # Step 1: still within both renditions (preview < 1 px/px, final < 0.5 px/px).
    wheel_at(page, x, y, -200)
    step1 = panes(page)
    assert step1[0]["zoom"] > 1.3
    assert_same_region(step1)
    assert image_point(step1[0], x, y) == pytest.approx(before, abs=1e-3)
    assert step1[0]["scale"] < 1 and step1[1]["scale"] < 0.5
    frames(page, 3)
    assert originals == [], "an original was requested before the zoom needed it"
    assert {p["rendition"] for p in step1} == {"screen"}

    # Step 2: past the preview's rendition (its 1024 px WebP), not yet past the final's 2048.
    wheel_at(page, x, y, -260)
    step2 = panes(page)
    assert_same_region(step2)
    assert image_point(step2[0], x, y) == pytest.approx(before, abs=1e-3)
    assert step2[0]["scale"] > 1 and step2[1]["scale"] < 0.5
    page.wait_for_function(RENDITION_IS, arg=[pair.preview.pk, "original"])
    assert originals == [pair.preview.pk]
    assert panes(page)[1]["rendition"] == "screen"

    # Step 3: past the final's rendition too: its 4096 px original loads, with the indicator.
    wheel_at(page, x, y, -320)
    step3 = panes(page)
    assert_same_region(step3)
    assert image_point(step3[0], x, y) == pytest.approx(before, abs=1e-3)
    assert step3[1]["scale"] > 0.5
    final_pane = f"[data-image-id='{pair.final.pk}']"
    expect = playwright_api.expect
    loading_or_loaded = re.compile("loading|original")
    expect(page.locator(final_pane)).to_have_attribute("data-rendition", loading_or_loaded)
    expect(page.locator(final_pane)).to_have_attribute("data-rendition", "original", timeout=20_000)
    expect(page.locator(f"{final_pane} [data-res]")).to_have_text("Original · 4096 px")
    assert originals == [pair.preview.pk, pair.final.pk]

    # A 1:1 look at the final (0 = one image pixel per screen pixel in the focused pane).
    page.keyboard.press("2")
    page.keyboard.press("0")
    frames(page)
    one = panes(page)
    assert one[1]["scale"] == pytest.approx(1, abs=1e-3)
    assert one[0]["scale"] == pytest.approx(4, abs=4e-3)  # the preview, 4× magnified
    assert_same_region(one)
    frames(page, 3)
    shot(page, "2-side-by-side-1to1")
    assert originals == [pair.preview.pk, pair.final.pk], "each original is fetched once"

    # Drag pans every pane together.
    pane = one[0]
    page.mouse.move(pane["left"] + 300, pane["top"] + 300)
    page.mouse.down()
    page.mouse.move(pane["left"] + 200, pane["top"] + 250, steps=4)
    page.mouse.up()
    frames(page)
    dragged = panes(page)
    assert dragged[0]["x0"] > one[0]["x0"] and dragged[0]["y0"] > one[0]["y0"]
    assert_same_region(dragged)

    # Zoom out to fit again; never beyond.
    page.keyboard.press("f")
    frames(page)
    fitted = panes(page)
    assert [p["zoom"] for p in fitted] == [1, 1]
    assert_same_region(fitted)
    assert region(fitted[0]) == pytest.approx(region(start[0]), abs=1e-6)
    wheel_at(page, x, y, 500)
    assert panes(page)[0]["zoom"] == 1


def test_double_click_keys_sync_toggle_and_the_zoom_limits(live_server, browser, pair, designer):
    page = sign_in(browser, live_server.url, designer.username)
    open_compare(page, pair.preview, pair.final)
    start = panes(page)

    # Double-click in the final's pane: 1:1 of the final at that point; again: fit.
    final = start[1]
    # Whole pixels: mouse events report integer coordinates.
    x, y = round(final["left"] + final["width"] * 0.3), round(final["top"] + final["height"] * 0.4)
    before = image_point(final, x, y)
    page.mouse.dblclick(x, y)
    frames(page)
    zoomed = panes(page)
    assert zoomed[1]["scale"] == pytest.approx(1, abs=1e-3)
    assert image_point(zoomed[1], x, y) == pytest.approx(before, abs=1e-3)
    assert_same_region(zoomed)
    page.mouse.dblclick(x, y)
    frames(page)
    assert [p["zoom"] for p in panes(page)] == [1, 1]

    # 0 is 1:1 of the focused pane, arrows pan, + zooms in up to 4× beyond 1:1.
    page.keyboard.press("2")
    page.keyboard.press("0")
    frames(page)
    centred = panes(page)
    assert centred[1]["scale"] == pytest.approx(1, abs=1e-3)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    frames(page)
    moved = panes(page)
    assert moved[1]["x0"] > centred[1]["x0"] and moved[1]["y0"] > centred[1]["y0"]
    assert moved[1]["scale"] == pytest.approx(1, abs=1e-3)
    assert_same_region(moved)
    for _ in range(12):
        page.keyboard.press("+")
    frames(page)
    limit = panes(page)
    assert limit[1]["scale"] == pytest.approx(4, abs=1e-3)
    assert_same_region(limit)

    # Sync off: the wheel zooms only the pane under it.
    page.keyboard.press("f")
    page.click("[data-sync-toggle]")
    frames(page)
    assert page.get_attribute("[data-compare]", "data-sync") == "false"
    preview = panes(page)[0]
    wheel_at(page, preview["left"] + 100, preview["top"] + 100, -400)
    apart = panes(page)
    assert apart[0]["zoom"] > 1 and apart[1]["zoom"] == 1
    # Sync on again: everything follows the focused pane.
    page.click("[data-sync-toggle]")
    frames(page)
    assert_same_region(panes(page))
    assert panes(page)[1]["zoom"] == pytest.approx(apart[0]["zoom"], rel=1e-4)

    # The view is in the URL: a reload (or a shared link) comes back to it.
    # The fragment is written 250 ms after the last change: wait for the one of this view.
    page.wait_for_function(
        """() => {
            const params = new URLSearchParams(location.hash.slice(1));
            const zoom = Number(document.querySelector('[data-pane]').dataset.zoom);
            return !params.has('sync') && Math.abs(Number(params.get('z')) - zoom) < 1e-3;
        }"""
    )
    kept = panes(page)
    page.reload()
    page.wait_for_selector("[data-compare][data-ready=true]")
    frames(page, 3)
    assert_same_region([kept[0], panes(page)[0]], tolerance=1e-3)


def test_the_slider_moves_and_zooms_both_images_together(live_server, browser, pair, designer):
    page = sign_in(browser, live_server.url, designer.username)
    open_compare(page, pair.preview, pair.final)
    page.keyboard.press("l")
    frames(page)
    root = page.locator("[data-compare]")
    playwright_api.expect(root).to_have_attribute("data-mode", "slider")
    divider = page.locator("[data-divider]")
    playwright_api.expect(divider).to_be_visible()
    assert root.get_attribute("data-split") == "0.5"
    states = panes(page)
    assert "50%" in states[1]["clip"]
    assert states[0]["width"] == states[1]["width"]  # stacked in one frame
    shot(page, "3-slider-50")

    # Drag the divider to a quarter.
    box = divider.bounding_box()
    stage = page.locator("[data-stage]").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(stage["x"] + stage["width"] * 0.25, box["y"] + box["height"] / 2, steps=6)
    page.mouse.up()
    frames(page)
    assert float(root.get_attribute("data-split")) == pytest.approx(0.25, abs=0.01)
    assert re.search(r"inset\(0px 0px 0px 2[45](\.\d+)?%\)", panes(page)[1]["clip"])
    assert divider.bounding_box()["x"] < box["x"] - stage["width"] * 0.2
    # The keyboard moves it too.
    divider.focus()
    page.keyboard.press("ArrowRight")
    frames(page)
    assert float(root.get_attribute("data-split")) == pytest.approx(0.27, abs=0.011)

    # Zoom in the slider: both images show the same region.
    x, y = stage["x"] + stage["width"] * 0.6, stage["y"] + stage["height"] * 0.5
    wheel_at(page, x, y, -900)
    zoomed = panes(page)
    assert zoomed[0]["zoom"] > 4
    assert_same_region(zoomed)
    frames(page, 3)
    for state in zoomed:
        page.wait_for_function(RENDITION_IS, arg=[state["id"], "original"], timeout=20_000)
    shot(page, "4-slider-zoomed")


def test_flip_cycles_the_images_in_place(live_server, browser, pair, designer):
    page = sign_in(browser, live_server.url, designer.username)
    open_compare(page, pair.preview, pair.final, pair.other)
    page.keyboard.press("t")
    frames(page)
    root = page.locator("[data-compare]")
    playwright_api.expect(root).to_have_attribute("data-mode", "flip")
    current = [p["current"] for p in panes(page)]
    assert current == [True, False, False]
    assert page.locator("[data-flip-label]").text_content().startswith("1 / 3")
    shot(page, "5-flip-1")
    page.keyboard.press("t")
    frames(page)
    assert [p["current"] for p in panes(page)] == [False, True, False]
    current_id = page.locator("[data-pane].is-current").get_attribute("data-image-id")
    assert current_id == str(pair.final.pk)
    # Every image keeps the same region while flipping.
    states = panes(page)
    assert_same_region(states)
    page.keyboard.press("3")
    frames(page)
    assert [p["current"] for p in panes(page)] == [False, False, True]
    page.keyboard.press("Shift+T")
    frames(page)
    assert [p["current"] for p in panes(page)] == [False, True, False]
    shot(page, "6-flip-2")
    # Back to side by side: three panes.
    page.keyboard.press("s")
    frames(page)
    assert root.get_attribute("data-mode") == "side"
    shot(page, "7-side-by-side-three", full_page=True)

    # Four images, one with another prompt: four panes, and the slider between any two.
    fourth = services.submission_create(
        project=pair.generation.project,
        user=designer,
        prompt="a paper crane on a sunny windowsill, soft evening light, film grain",
        model_key="nano-banana-2",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=1,
    ).generations.get()
    fourth_image = render(fourth).images.get()
    open_compare(page, pair.preview, pair.final, pair.other, fourth_image)
    four = panes(page)
    assert len(four) == 4 and len({round(p["width"]) for p in four}) == 1
    assert_same_region(four)
    prompt_row = page.locator("[data-row=prompt] td").nth(3)
    assert prompt_row.locator("del").all_text_contents() == ["rainy", "morning"]
    assert prompt_row.locator("ins").all_text_contents() == ["sunny", "evening", ", film grain"]
    shot(page, "7b-side-by-side-four", full_page=True)
    page.keyboard.press("l")
    page.select_option("[data-pair='0']", "2")
    page.select_option("[data-pair='1']", "3")
    frames(page)
    slider = panes(page)
    assert [p["hidden"] for p in slider] == [True, True, False, False]
    assert "50%" in slider[3]["clip"] and slider[2]["clip"] == "none"
    shot(page, "7c-slider-three-and-four")


def test_a_user_without_access_to_one_image_gets_nothing(live_server, browser, pair, designer):
    other = ProjectFactory(name="Elsewhere", slug="elsewhere")
    stella = UserFactory(username="stella")
    Membership.objects.create(project=other, user=stella, role=Role.DESIGNER)
    hidden = services.submission_create(
        project=other,
        user=stella,
        prompt="a secret",
        model_key="local",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=1,
    ).generations.get()
    hidden_image = render(hidden).images.get()

    # dana may see the pair but not stella's image; stella the reverse.
    for username, images in [
        ("dana", [pair.preview, hidden_image]),
        ("stella", [hidden_image, pair.final]),
    ]:
        page = sign_in(browser, live_server.url, username)
        # Leave the landing page first: its own lazy thumbnails may still be loading.
        page.goto("about:blank")
        media: list[str] = []
        page.on("request", lambda request, seen=media: "/media/" in request.url and seen.append(1))
        ids = ",".join(str(image.pk) for image in images)
        response = page.goto(f"/compare/?images={ids}")
        assert response.status == 404
        playwright_api.expect(page.locator("h1")).to_have_text("Nothing here")
        assert page.locator("[data-pane]").count() == 0
        frames(page)
        assert media == [], "no part of any image may load"
        html = page.content()
        for image in images:
            assert f"/media/{image.pk}/" not in html
        shot(page, f"8-no-access-{username}")
        # And not through the media view either, for the image they lack.
        lacking = images[1]
        for kind in ("thumbnail", "screen", "original"):
            assert page.request.get(f"/media/{lacking.pk}/{kind}").status == 404
        page.context.close()


def test_pick_on_cards_then_compare_and_decide_from_compare(
    live_server, browser, pair, designer, reviewer
):
    expect = playwright_api.expect
    studio = sign_in(browser, live_server.url, designer.username)
    studio.goto(f"/p/{pair.generation.project.slug}/")
    first = studio.locator(f"#gen-{pair.generation.pk} [data-compare-pick]")
    second = studio.locator(f"#gen-{pair.other.generation_id} [data-compare-pick]")
    first.check()
    tray = studio.locator("#compare-tray")
    expect(tray).to_be_visible()
    expect(tray.locator("[data-tray-open]")).to_have_text("Compare (1)")
    expect(tray).to_contain_text("Pick one more image.")
    second.check()
    expect(tray.locator("[data-tray-open]")).to_have_text("Compare (2)")
    shot(studio, "9-cards-picked")
    # The picks survive a reload (this tab's session).
    studio.reload()
    expect(studio.locator(f"#gen-{pair.generation.pk} [data-compare-pick]")).to_be_checked()
    studio.click("[data-tray-open]")
    studio.wait_for_selector("[data-compare][data-ready=true]")
    ids = [p["id"] for p in panes(studio)]
    assert ids == [pair.final.pk, pair.other.pk]  # a card offers its best image
    expect(studio.locator("#compare-tray")).to_have_count(0)
    # A designer marks a favourite (htmx): the button and the table follow.
    studio.click(f"[data-decide='{pair.other.pk}'] .cmp-fav__btn")
    expect(studio.locator(f"[data-decide='{pair.other.pk}'] .cmp-fav__btn")).to_have_text(
        "★ My favourite"
    )
    expect(studio.locator("[data-row=favourite]")).to_contain_text("dana")

    # The generation page's one-click preview ↔ final.
    studio.goto(f"/g/{pair.generation.pk}/")
    shot(studio, "9b-generation-page-links")
    studio.click("[data-compare-link=preview-final]")
    studio.wait_for_selector("[data-compare][data-ready=true]")
    assert [p["id"] for p in panes(studio)] == [pair.preview.pk, pair.final.pk]

    # A reviewer approves the other variant from compare, zoomed in, and comes back to the
    # same view.
    review = sign_in(browser, live_server.url, reviewer.username)
    open_compare(review, pair.final, pair.other, fragment="#mode=side&z=3&cx=0.4&cy=0.6&focus=2")
    frames(review, 3)
    before = panes(review)
    assert before[0]["zoom"] == pytest.approx(3, rel=1e-3)
    shot(review, "10-reviewer-compare", full_page=True)
    review.click(f"[data-decide='{pair.other.pk}'] button.btn--approve")
    review.wait_for_selector("[data-compare][data-ready=true]")
    expect(review.locator("#messages")).to_contain_text("Approved")
    assert "z=3" in review.url
    frames(review, 3)
    assert_same_region([before[0], panes(review)[0]], tolerance=1e-3)
    pair.other.generation.refresh_from_db()
    assert pair.other.generation.state == State.FINAL_QUEUED
    expect(review.locator(f"[data-decide='{pair.other.pk}'] button.btn--approve")).to_have_count(0)


def test_touch_pinch_and_trackpad_pinch_zoom_in_sync_on_a_phone(
    live_server, browser, pair, designer
):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, base_url=live_server.url, has_touch=True,
        is_mobile=True, device_scale_factor=1,
    )  # fmt: skip
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", designer.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    open_compare(page, pair.preview, pair.final)
    start = panes(page)
    # A narrow screen stacks the panes.
    assert start[1]["top"] >= start[0]["top"] + start[0]["height"] - 1
    shot(page, "11-phone-fit")

    # Two fingers spread apart in the first pane (CDP touch events → pointer events).
    cdp = context.new_cdp_session(page)
    pane = start[0]
    cx, cy = pane["left"] + pane["width"] / 2, pane["top"] + pane["height"] / 2

    def touch(kind: str, spread: float) -> None:
        points = [{"x": cx - spread, "y": cy, "id": 1}, {"x": cx + spread, "y": cy, "id": 2}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 20)
    for spread in (30, 45, 60, 80):
        touch("touchMove", spread)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    frames(page, 3)
    pinched = panes(page)
    assert pinched[0]["zoom"] == pytest.approx(4, rel=0.05)  # 20 → 80 px apart
    assert_same_region(pinched)
    shot(page, "12-phone-pinched")

    # A trackpad pinch arrives as a wheel event with ctrl held: it zooms, not the page.
    page.keyboard.press("f")  # no physical keyboard on a phone, but the state resets
    frames(page)
    cdp.send(
        "Input.dispatchMouseEvent",
        {"type": "mouseWheel", "x": cx, "y": cy, "deltaX": 0, "deltaY": -60, "modifiers": 2},
    )
    frames(page, 3)
    trackpad = panes(page)
    assert trackpad[0]["zoom"] == pytest.approx(math.exp(60 * 0.01), rel=0.01)  # PINCH_RATE
    assert_same_region(trackpad)
    assert page.evaluate("() => visualViewport.scale") == 1
    context.close()
