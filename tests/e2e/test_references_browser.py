"""Reference images and edits in a real browser (headless Chromium, the live server; the
renders are the local provider's, run in the test's own process as a worker would):

drop a picture on the submit form (a DataTransfer drop event, as a file dragged from the
desktop) → its chip appears → submit → the card shows the reference → the reviewer sees it
in the review queue → approve, the final is delivered → "Edit" it with an instruction →
the edit's preview renders → one click compares source ↔ edit. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import base64

import pytest

from generations.models import Generation, Phase, Submission, Upload
from generations.rendering.jobs import generation_render
from generations.review.decisions import generation_approve
from generations.states import State
from tests.e2e.conftest import VIEWPORT, screenshot
from tests.support import pictures
from tests.support.factories import PASSWORD
from tests.support.fakes import drain_cpu_queue

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DROP = """([data, name]) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
    const zone = document.querySelector("[data-drop]");
    for (const type of ["dragenter", "dragover", "drop"]) {
        const init = { bubbles: true, cancelable: true, dataTransfer: transfer };
        zone.dispatchEvent(new DragEvent(type, init));
    }
}"""


@pytest.fixture(autouse=True)
def _own_queue(settings):
    # Kicks go to a queue nobody listens to: the test renders in its own process.
    settings.STUDIO_RENDER_QUEUE = "e2e-references-unused"
    settings.STUDIO_IMAGE_QUEUE = "e2e-references-unused-images"


def render(generation: Generation) -> Generation:
    generation_render(generation_id=generation.pk, worker="e2e")
    drain_cpu_queue()
    generation.refresh_from_db()
    return generation


def sign_in(browser, base_url: str, username: str):
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def loaded(page, selector: str) -> None:
    """Every picture under `selector` is in (decoded, not broken)."""
    page.wait_for_function(
        "(s) => [...document.querySelectorAll(s)].length > 0 && "
        "[...document.querySelectorAll(s)].every((img) => img.complete && img.naturalWidth > 0)",
        arg=selector,
    )


def test_drop_a_reference_submit_review_then_edit_the_final_and_compare(
    live_server, browser, project, designer, reviewer, price_list
):
    expect = playwright_api.expect
    studio = sign_in(browser, live_server.url, "dana")
    studio.goto(f"/p/{project.slug}/")

    # A file dragged onto the drop zone is uploaded at once and shown as a chip.
    photo = base64.b64encode(pictures.jpeg_rotated_by_exif(6)).decode()
    studio.evaluate(DROP, [photo, "boat.jpg"])
    chip = studio.locator("[data-chips] [data-chip^='u']")
    expect(chip).to_have_count(1)
    upload = Upload.objects.get()
    assert (upload.width, upload.height) == (200, 300)  # upright, as the phone showed it
    loaded(studio, "[data-chips] img")
    expect(studio.locator("#estimate")).to_contain_text("1 attached")
    screenshot(studio, "references-1-dropped", full_page=True)

    studio.fill("#id_prompt", "a fishing boat in a harbour, in the style of the reference")
    studio.select_option("#id_preview_size", "1K")
    studio.select_option("#id_variants", "1")
    studio.click("#submit-form button[type=submit]")
    card = studio.locator("#cards > article.card").first
    expect(card.locator(f"[data-reference='u{upload.pk}'] img")).to_be_visible()
    submission = Submission.objects.get()
    assert [ref.upload_id for ref in submission.references.all()] == [upload.pk]
    screenshot(studio, "references-2-card", full_page=True)

    generation = render(submission.generations.get())
    assert generation.state == State.IN_REVIEW
    assert generation.attempts.get().input_images == 1

    # The reviewer sees the reference beside the prompt in the queue and on the canvas.
    review = sign_in(browser, live_server.url, "rui")
    review.goto("/review/")
    expect(review.locator(f"[data-reference='u{upload.pk}'] img").first).to_be_visible()
    loaded(review, f"[data-reference='u{upload.pk}'] img")
    screenshot(review, "references-3-review", full_page=True)
    review.goto(f"/review/canvas/?at={generation.pk}")
    expect(review.locator(f"[data-reference='u{upload.pk}'] img").first).to_be_visible()

    generation_approve(generation_id=generation.pk, user=reviewer)
    generation = render(generation)
    assert generation.state == State.DELIVERED
    final = generation.images.get(phase=Phase.FINAL)

    # Edit the delivered final with an instruction.
    studio.goto(f"/g/{generation.pk}/")
    studio.locator("#edit summary").click()
    studio.check(f"#edit input[value='i{final.pk}']")
    studio.fill("#edit-instruction", "make the sky stormy, keep the boat")
    studio.click("#edit button[type=submit]")
    edit = Submission.objects.exclude(pk=submission.pk).get()
    edited = edit.generations.get()
    expect(studio).to_have_url(f"{live_server.url}/g/{edited.pk}/")
    expect(studio.locator("[data-edit-of]")).to_contain_text(f"Final #{generation.pk}")
    assert render(edited).state == State.IN_REVIEW
    preview = edited.images.get(phase=Phase.PREVIEW)

    # One click: source ↔ edit side by side.
    studio.reload()
    studio.click("[data-compare-edit]")
    studio.wait_for_selector("[data-compare][data-ready=true]")
    ids = studio.eval_on_selector_all("[data-pane]", "(ps) => ps.map((p) => +p.dataset.imageId)")
    assert ids == [final.pk, preview.pk]
    expect(studio.locator("[data-row='inputs']")).to_contain_text(f"edited: Final #{generation.pk}")
    screenshot(studio, "references-4-compare-edit", full_page=True)
