"""The spend report in a real browser: an admin opens it from the header, sees the chart
and the totals, narrows the range and the project (htmx swaps the report), and downloads
the CSV exports, whose rows are the hand-computed ledger of tests/support/spend.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from tests.e2e.conftest import VIEWPORT, screenshot
from tests.support.factories import PASSWORD, UserFactory
from tests.support.spend import NB2, PRO, build_ledger

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _paris(settings):
    settings.TIME_ZONE = "Europe/Paris"


def _rows(download) -> list[dict[str, str]]:
    with open(download.path(), encoding="utf-8") as handle:
        return list(csv.DictReader(io.StringIO(handle.read())))


def test_an_admin_opens_the_spend_report_filters_it_and_exports_csv(live_server, browser, project):
    build_ledger(project)
    UserFactory(username="sam", is_staff=True)
    context = browser.new_context(
        viewport=VIEWPORT, base_url=live_server.url, accept_downloads=True
    )
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()

    page.get_by_role("link", name="Spend", exact=True).first.click()
    expect(page.get_by_role("heading", name="Spend", exact=True)).to_be_visible()
    # The default range (the last 30 days) has none of the March 2026 ledger.
    expect(page.locator("[data-total=net]")).to_have_text("$0.00")

    page.fill("#id_date_from", "2026-03-01")
    page.fill("#id_date_to", "2026-03-08")
    page.select_option("#id_grain", "day")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("[data-total=net]")).to_have_text("$1.25")
    expect(page.locator("[data-total=real]")).to_have_text("$1.22")
    expect(page.locator("[data-total=waste]")).to_have_text("$0.24")
    assert "date_from=2026-03-01" in page.url  # the filters stay in the address
    chart = page.get_by_role("img", name="Net spend by day, stacked by model")
    expect(chart).to_be_visible()
    expect(chart.locator(f"rect[data-model='{PRO}']")).to_have_count(2)  # Mar 2 and 3
    expect(chart.locator(f"rect[data-model='{NB2}']")).to_have_count(2)  # Mar 1 and 4
    expect(page.locator(".chart__legend li")).to_have_text([NB2, PRO, "other"])
    expect(page.locator("table[data-breakdown=project] tbody th")).to_have_text(
        ["Acme Launch", "Beta Brand"]
    )
    screenshot(page, "spend-report", full_page=True)

    with page.expect_download() as spend_download:
        page.get_by_role("link", name="Export CSV").click()
    download = spend_download.value
    assert download.suggested_filename == "spend_2026-03-01_2026-03-08.csv"
    rows = _rows(download)
    assert rows[0]["section"] == "total" and Decimal(rows[0]["net_usd"]) == Decimal("1.2485")
    days = {(r["key"], r["model"]): Decimal(r["net_usd"]) for r in rows if r["section"] == "day"}
    assert days[("2026-03-02", PRO)] == Decimal("0.614")
    assert [r["key"] for r in rows if r["section"] == "project"] == ["Acme Launch", "Beta Brand"]

    # One project: the report is swapped in place and the export follows the filter.
    page.select_option("#id_project", "beta")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("[data-total=net]")).to_have_text("$0.53")
    expect(page.locator("[data-total=simulated]")).to_have_text("$0.03")
    with page.expect_download() as ledger_download:
        page.get_by_role("link", name="Ledger CSV").click()
    download = ledger_download.value
    assert download.suggested_filename == "ledger_2026-03-01_2026-03-08_beta.csv"
    ledger = _rows(download)
    assert [(r["kind"], r["project"], r["amount_usd"], r["simulated"]) for r in ledger] == [
        ("charge", "beta", "0.0335", "True"),
        ("adjustment", "beta", "0.5000", "False"),
    ]
    screenshot(page, "spend-report-beta")

    # The savings tab keeps the filters: Beta's one preview (G4, nb2) against a direct 4K.
    page.get_by_role("link", name="Savings", exact=True).click()
    expect(page.locator("[data-total=direct]")).to_have_text("$0.15")
    expect(page.locator("[data-total=actual]")).to_have_text("$0.03")
    screenshot(page, "spend-savings", full_page=True)
    context.close()
