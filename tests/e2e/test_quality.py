"""The quality-drift report in a real browser: a project admin follows the header link,
sees one chart per model × size with the flagged week marked and listed, and switches the
metric (htmx swaps the report and the address follows)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from generations.quality.drift import week_start
from tests.e2e.conftest import VIEWPORT, screenshot
from tests.support.factories import PASSWORD
from tests.support.quality import add_drift_series

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_sees_the_flagged_drop_and_switches_the_metric(
    live_server, browser, project, project_admin, designer
):
    # Six weeks ending last week, inside the default range of the last 26 weeks.
    this_week = week_start(timezone.localdate())
    first = this_week - dt.timedelta(weeks=6)
    add_drift_series(project, first)
    drop_week = first + dt.timedelta(weeks=4)
    drop_label = "{}-W{:02d}".format(*drop_week.isocalendar()[:2])

    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", project_admin.get_username())
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()

    page.get_by_role("link", name="Quality", exact=True).click()
    expect(page.get_by_role("heading", name="Quality drift")).to_be_visible()
    pro = page.locator("[data-series='nano-banana-pro-4K']")
    chart = pro.get_by_role("img", name="Weekly median bytes per pixel of nano-banana-pro 4K")
    expect(chart).to_be_visible()
    expect(page.locator("svg.drift-chart")).to_have_count(3)
    # The flagged week: a marked point on the chart and a row of the table below it.
    flagged_mark = pro.locator("circle[data-flagged]")
    expect(flagged_mark).to_have_count(1)
    expect(flagged_mark).to_have_attribute("data-week", drop_label)
    row = pro.locator(f"[data-flagged-week='{drop_label}']")
    expect(row).to_contain_text("−31 % vs baseline")
    expect(row).to_contain_text("(n=6)")
    # The 26 % drop of nano-banana-2 in the last week is flagged too; the 1K series is not.
    expect(page.locator("[data-series='nano-banana-2-2K'] circle[data-flagged]")).to_have_count(1)
    expect(page.locator("[data-series='nano-banana-pro-1K'] circle[data-flagged]")).to_have_count(0)
    screenshot(page, "quality-drift-bytes-per-pixel", full_page=True)

    page.get_by_role("navigation", name="Metric").get_by_role("link", name="Detail energy").click()
    expect(page.locator("#quality-report")).to_have_attribute("data-metric", "detail_energy")
    expect(page).to_have_url(f"{live_server.url}/quality/?metric=detail_energy")
    expect(
        pro.get_by_role("img", name="Weekly median detail energy of nano-banana-pro 4K")
    ).to_be_visible()
    expect(pro.locator(f"[data-flagged-week='{drop_label}']")).to_contain_text(
        "−35 % vs baseline 20.0 → 13.0 (n=6)"
    )
    # nano-banana-2 has no detail figures recorded: nothing drawn, nothing flagged.
    flash = page.locator("[data-series='nano-banana-2-2K']")
    expect(flash.locator("svg")).to_have_count(0)
    expect(flash).to_contain_text("No detail energy recorded for these images in this range")
    expect(
        page.get_by_role("navigation", name="Metric").get_by_role("link", name="Detail energy")
    ).to_have_attribute("aria-current", "true")
    screenshot(page, "quality-drift-detail-energy", full_page=True)

    # A designer has no link to it, and the address answers 404.
    context.clear_cookies()
    page.goto("/accounts/login/")
    page.fill("#id_username", designer.get_username())
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    expect(page.get_by_role("link", name="Quality", exact=True)).to_have_count(0)
    assert page.goto("/quality/").status == 404
    context.close()
