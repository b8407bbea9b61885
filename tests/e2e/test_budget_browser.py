"""A designer whose project budget is nearly used, in a real browser: the submit form
shows what the previews (and later their finals) cost against the budget left, updates
as the options change, and a submission over budget is refused with why, what is left
and whom to ask — the prompt kept."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generations.models import Budget, Submission
from generations.spend import ledger
from tests.e2e.conftest import VIEWPORT, screenshot
from tests.support.factories import PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_designer_near_the_budget_sees_the_estimate_and_the_refusal(
    live_server, browser, price_list, project, designer, project_admin
):
    expect = playwright_api.expect
    Budget.objects.create(project=project, amount_usd=Decimal("1.00"))
    ledger.ledger_adjust(
        project=project, amount=Decimal("0.90"), reason="spent earlier", user=project_admin
    )

    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", "dana")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/p/{project.slug}/")

    estimate = page.locator("#estimate")
    # The defaults: 2 Nano Banana Pro previews at 2K.
    expect(estimate).to_contain_text("2 previews at 2K: $0.27")
    expect(estimate).to_contain_text("Budget left: $0.10 of $1.00")
    expect(estimate).to_contain_text("not enough for these previews")
    screenshot(page, "budget-1-estimate-over", full_page=True)

    # Cheaper options: the estimate follows without a reload.
    page.evaluate("window.__marker = 1")
    page.select_option("#id_model_key", "nano-banana-2")
    page.select_option("#id_preview_size", "1K")
    page.select_option("#id_variants", "1")
    expect(estimate).to_contain_text("1 preview at 1K: $0.07")
    expect(estimate).to_contain_text("Approving all 1 as 4K finals: $0.15 more")
    expect(estimate).not_to_contain_text("not enough for these previews")
    expect(estimate).to_contain_text("not enough to approve them all later")
    assert page.evaluate("window.__marker") == 1

    # Two previews do not fit: the submission is refused and says why.
    page.select_option("#id_variants", "2")
    expect(estimate).to_contain_text("not enough for these previews")
    page.fill("#id_prompt", "a paper crane on a rainy windowsill")
    page.click("#submit-form button[type=submit]")
    alert = page.locator("#submit-form .alert--error")
    expect(alert).to_contain_text("Over budget: 2 previews at 1K would cost $0.13")
    expect(alert).to_contain_text("only $0.10 is left of Acme Launch’s monthly budget")
    expect(alert).to_contain_text("Ask ada to raise the budget.")
    expect(page.locator("#id_prompt")).to_have_value("a paper crane on a rainy windowsill")
    screenshot(page, "budget-2-refused", full_page=True)
    assert not Submission.objects.exists()
    context.close()
