"""The smaller things of issue 17 a designer or reviewer notices in the browser: the
submit form keeps its options and logs no aborted requests, cards keep their order after
a reload, Cancel asks in the page, the reviewer's boxes are wide enough to write in,
spend tables show every column at 1440 px, and Hebrew prompts read right to left."""

from __future__ import annotations

import pytest

from generations.models import Generation
from generations.states import State
from tests.e2e.conftest import screenshot
from tests.e2e.test_responsive import DESKTOP, MARCH, PHONE, signed_in
from tests.e2e.test_review_keyboard import previews
from tests.support.factories import UserFactory
from tests.support.spend import build_ledger

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_submit_form_keeps_its_options_and_cards_keep_their_order(
    live_server, browser, project, designer
):
    page = signed_in(browser, live_server.url, "dana", DESKTOP)
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(f"/p/{project.slug}/")

    # Changing the options quickly: each change asks for an estimate; none is aborted.
    for ratio, variants in (("16:9", "1"), ("9:16", "4"), ("1:1", "2"), ("16:9", "3")):
        page.select_option("#id_aspect_ratio", ratio)
        page.select_option("#id_variants", variants)
    expect(page.locator(".estimate__now")).to_contain_text("3 previews")
    page.fill("#id_prompt", "a paper crane on a rainy windowsill")
    page.get_by_role("button", name="Render previews").click()
    expect(page.locator("#cards article.card")).to_have_count(3)
    assert not [e for e in errors if "sendAbort" in e or "htmx" in e], errors

    # The form keeps what was chosen, with an empty prompt for the next idea.
    expect(page.locator("#id_aspect_ratio")).to_have_value("16:9")
    expect(page.locator("#id_variants")).to_have_value("3")
    expect(page.locator("#id_prompt")).to_have_value("")
    after_submit = page.locator("#cards article.card").evaluate_all("cards => cards.map(c => c.id)")

    page.reload()
    after_reload = page.locator("#cards article.card").evaluate_all("cards => cards.map(c => c.id)")
    assert after_reload == after_submit
    expected = [
        f"gen-{pk}" for pk in Generation.objects.order_by("variant").values_list("pk", flat=True)
    ]
    assert after_reload == expected
    expect(page.locator("#id_aspect_ratio")).to_have_value("16:9")
    expect(page.locator("#id_variants")).to_have_value("3")


def test_cancel_asks_in_the_page_not_with_the_browsers_confirm(
    live_server, browser, project, designer
):
    (generation,) = previews(project, designer, "a red kite over dunes", 1)
    page = signed_in(browser, live_server.url, "dana", PHONE)
    native: list[str] = []
    page.on("dialog", lambda dialog: (native.append(dialog.message), dialog.dismiss()))
    page.goto(f"/g/{generation.pk}/")

    page.get_by_role("button", name="Cancel generation").click()
    confirm = page.locator("#cancel-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text(f"Cancel generation #{generation.pk}?")
    screenshot(page, "cancel-confirm")
    confirm.get_by_role("button", name="Keep it").click()
    expect(confirm).to_be_hidden()
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW

    page.get_by_role("button", name="Cancel generation").click()
    confirm.get_by_role("button", name="Yes, cancel it").click()
    expect(page.locator("#live .badge--large")).to_have_text("Cancelled")
    generation.refresh_from_db()
    assert generation.state == State.CANCELLED
    assert native == [], "the browser's own confirm box was used"


def test_the_reviewers_boxes_are_wide_enough_to_write_in(
    live_server, browser, project, designer, reviewer
):
    (generation,) = previews(project, designer, "a lighthouse at dusk", 1)
    page = signed_in(browser, live_server.url, "rui", DESKTOP)
    page.goto(f"/g/{generation.pk}/")
    for box in ("#id_note", "#id_changes-comment", "#id_comment", "#id_body"):
        field = page.locator(box)
        expect(field).to_be_visible()
        width = field.bounding_box()["width"]
        assert width >= 250, f"{box} is {width:.0f} px wide"
        # The placeholder is not clipped: on one line in an input, in the box's height in
        # a textarea (where it wraps).
        clipped = field.evaluate(
            """el => {
                 const style = getComputedStyle(el), probe = document.createElement('div');
                 const across = el.clientWidth - parseFloat(style.paddingLeft)
                   - parseFloat(style.paddingRight);
                 const down = el.clientHeight - parseFloat(style.paddingTop)
                   - parseFloat(style.paddingBottom);
                 probe.style.cssText = `position:absolute; font:${style.font};
                   width:${across}px; white-space:${el.tagName === 'INPUT' ? 'nowrap' : 'pre-wrap'};
                   overflow-wrap:break-word; line-height:${style.lineHeight}`;
                 probe.textContent = el.placeholder;
                 document.body.append(probe);
                 const out = el.tagName === 'INPUT' ? probe.scrollWidth > across + 1
                   : probe.scrollHeight > down + 1;
                 probe.remove();
                 return out;
               }"""
        )
        assert not clipped, f"the placeholder of {box} is clipped"


def test_spend_tables_show_every_column_at_1440_px(live_server, browser, project):
    build_ledger(project)
    UserFactory(username="sam", is_staff=True)
    page = signed_in(browser, live_server.url, "sam", 1440)
    page.goto(f"/spend/?{MARCH}")
    wraps = page.locator(".breakdown .table-wrap")
    expect(wraps.first).to_be_visible()
    cut = wraps.evaluate_all(
        "els => els.filter(el => el.scrollWidth > el.clientWidth)"
        ".map(el => el.innerText.slice(0, 40))"
    )
    assert cut == [], f"columns cut off in {cut}"
    expect(page.locator("table[data-breakdown=model] tbody th").first).to_have_text(
        "Nano Banana Pro"
    )


def test_a_hebrew_prompt_reads_right_to_left(live_server, browser, project, designer):
    (generation,) = previews(project, designer, "מגדלור על צוק בשקיעה, ציור שמן", 1)
    page = signed_in(browser, live_server.url, "dana", DESKTOP)
    page.goto(f"/g/{generation.pk}/")
    assert page.locator(".prompt").evaluate("el => getComputedStyle(el).direction") == "rtl"
    page.goto(f"/p/{project.slug}/")
    card = page.locator(f"#gen-{generation.pk} .card__prompt")
    assert card.evaluate("el => getComputedStyle(el).direction") == "rtl"
    page.fill("#id_prompt", "שלום")
    assert page.locator("#id_prompt").evaluate("el => el.matches(':dir(rtl)')")


def test_every_input_on_prices_and_budgets_is_styled_like_the_rest(
    live_server, browser, project, project_admin
):
    UserFactory(username="sam", is_staff=True)
    styled = """els => els.filter(el => el.offsetParent !== null).map(el => {
        const s = getComputedStyle(el);
        return [el.name, s.borderTopLeftRadius, s.borderTopColor, s.borderTopStyle];
    })"""
    admin = signed_in(browser, live_server.url, "ada", DESKTOP)
    admin.goto(f"/p/{project.slug}/settings/")
    budget = admin.locator(".budget-form").locator("input:not([type=hidden]), select")
    sam = signed_in(browser, live_server.url, "sam", DESKTOP)
    sam.goto("/spend/prices/")
    prices = sam.locator("form.settings").locator("input:not([type=hidden]), select")
    expect(sam.locator("select#id_model_key")).to_be_visible()
    seen = budget.evaluate_all(styled) + prices.evaluate_all(styled)
    names = {name for name, *_ in seen}
    assert {"amount_usd", "usd_per_image", "effective_from", "model_key", "note"} <= names
    unstyled = [row for row in seen if row[1:] != ["6px", "rgb(211, 216, 224)", "solid"]]
    assert unstyled == [], f"inputs not styled like the others: {unstyled}"
