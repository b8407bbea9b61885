"""Spend reports against a hand-computed ledger (tests/support/spend.py):
totals, buckets in local time, breakdowns, savings; who may see them; CSV exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generations.models import Membership, Role
from generations.spend import reports
from generations.spend.ledger import ledger_entry_insert
from generations.spend.reports import ReportFilter
from tests.support.factories import UserFactory
from tests.support.spend import (
    NB2,
    PRO,
    RANGE,
    Ledger,
    attempt,
    build_ledger,
    charge,
    generation,
    utc,
)

D = Decimal


@pytest.fixture(autouse=True)
def _paris(settings):
    settings.TIME_ZONE = "Europe/Paris"


@pytest.fixture
def ledger(project) -> Ledger:
    return build_ledger(project)


@pytest.fixture
def staff(db):
    return UserFactory(username="sam", is_staff=True)


def week(grain: str = "day", project=None) -> ReportFilter:
    return ReportFilter(RANGE[0], RANGE[1], project, grain)


def test_totals_separate_charges_refunds_adjustments_waste_and_simulated(ledger, staff):
    totals = reports.spend_report(user=staff, filters=week()).totals
    assert totals == {
        "images": 6,
        "charges": D("0.8825"),
        "refunds": D("-0.134"),
        "adjustments": D("0.50"),
        "net": D("1.2485"),
        "waste": D("0.24"),
        "simulated": D("0.0335"),
        "real": D("1.2150"),
    }


def _series(user, filters) -> dict[str, dict[str, Decimal]]:
    series = reports.spend_report(user=user, filters=filters).series
    return {bar.label: {m: v for m, v in bar.by_model.items() if v} for bar in series.bars}


def test_daily_buckets_are_local_days_and_every_day_is_there(ledger, staff):
    # Row 1 is Feb 28 in UTC but Mar 1 in Paris; G3's final (Mar 7 23:30 UTC) is Mar 8.
    assert _series(staff, week("day")) == {
        "2026-03-01": {NB2: D("0.101")},
        "2026-03-02": {PRO: D("0.614")},
        "2026-03-03": {PRO: D("0.134")},
        "2026-03-04": {NB2: D("0.0335")},
        "2026-03-05": {PRO: D("-0.134")},
        "2026-03-06": {"other": D("0.50")},
        "2026-03-07": {},
    }


def test_weekly_buckets_start_on_monday(ledger, staff):
    assert _series(staff, week("week")) == {
        "week of 2026-02-23": {NB2: D("0.101")},
        "week of 2026-03-02": {PRO: D("0.614"), NB2: D("0.0335"), "other": D("0.50")},
    }


def test_monthly_buckets_split_at_local_midnight(ledger, staff):
    filters = ReportFilter(dt.date(2026, 2, 1), dt.date(2026, 4, 1), None, "month")
    assert _series(staff, filters) == {
        "2026-02": {PRO: D("0.134")},  # G0 at 23:30 local on Feb 28
        "2026-03": {PRO: D("0.614"), NB2: D("0.2855"), "other": D("0.50")},
    }


def test_the_same_ledger_in_utc_moves_the_boundary_rows(ledger, staff, settings):
    settings.TIME_ZONE = "UTC"
    assert reports.spend_report(user=staff, filters=week()).totals["net"] == D(
        "1.2985"
    )  # −0.101 +0.151


def _breakdown(user, by, filters=None):
    rows = reports.spend_report(user=user, filters=filters or week()).breakdowns[by]
    return [(r["key"], r["images"], r["net"], r["waste"], r["simulated"]) for r in rows]


def test_breakdowns_by_project_person_model_size_lane(ledger, staff):
    assert _breakdown(staff, "project") == [
        ("Acme Launch", 5, D("0.715"), D("0.24"), D(0)),
        ("Beta Brand", 1, D("0.5335"), D(0), D("0.0335")),
    ]
    assert _breakdown(staff, "person") == [
        ("dana", 4, D("0.614"), D("0.24"), D(0)),
        ("", 0, D("0.50"), D(0), D(0)),
        ("eve", 2, D("0.1345"), D(0), D("0.0335")),
    ]
    assert _breakdown(staff, "model") == [
        (PRO, 4, D("0.614"), D("0.24"), D(0)),
        ("", 0, D("0.50"), D(0), D(0)),
        (NB2, 2, D("0.1345"), D(0), D("0.0335")),
    ]
    assert _breakdown(staff, "size") == [
        ("", 0, D("0.50"), D(0), D(0)),
        ("4K", 2, D("0.48"), D("0.24"), D(0)),
        ("1K", 3, D("0.1675"), D(0), D("0.0335")),
        ("2K", 1, D("0.101"), D(0), D(0)),
    ]
    assert _breakdown(staff, "lane") == [
        ("standard", 5, D("1.215"), D("0.24"), D(0)),
        ("batch", 1, D("0.0335"), D(0), D("0.0335")),
    ]


def test_project_filter_narrows_everything(ledger, staff):
    filters = week(project=ledger.beta)
    assert reports.spend_report(user=staff, filters=filters).totals["net"] == D("0.5335")
    assert [r[0] for r in _breakdown(staff, "person", filters)] == ["", "eve"]


def test_savings_against_direct_final_with_published_rates(ledger, staff):
    savings = reports.savings_report(user=staff, filters=week())
    pro, nb2 = (
        {m.model_key: m for m in savings.models}[PRO],
        {m.model_key: m for m in savings.models}[NB2],
    )
    # The work: G1, G2 (pro), G3, G4 (nb2); G0 was previewed before the range.
    assert (pro.previewed, pro.approved, pro.delivered) == (2, 1, 1)
    assert (nb2.previewed, nb2.approved, nb2.delivered) == (2, 1, 1)
    # Actual: their whole ledger, G3's final after the range included.
    assert (pro.actual, pro.waste, pro.simulated) == (D("0.614"), D("0.24"), D(0))
    assert (nb2.actual, nb2.simulated) == (D("0.2855"), D("0.0335"))
    # 2 finished 4K calls of pro, 1 of nb2: too few, so the published 4K rate (0.5), and
    # too few failures to measure billing: failures assumed free, 1 billed call per image.
    assert (pro.success.value, pro.success.measured) == (D("0.5"), False)
    assert (pro.billed_failures.value, pro.billed_failures.measured) == (D(0), False)
    assert pro.attempts_per_success == 1
    assert pro.direct == D("0.48")  # 2 × 0.24
    assert nb2.direct == D("0.302")  # 2 × 0.151
    assert savings.direct == D("0.782")
    assert savings.actual == D("0.8995")
    assert savings.saved == D("-0.1175")  # two cheap previews per final cost more here
    assert savings.cost_per_final == D("0.4498")  # 0.8995 / 2 delivered
    assert savings.approval_rate == D("0.5")
    assert savings.waste == D("0.24")
    assert savings.waste_in_range == D("0.24")
    people = {p.username: p for p in savings.people}
    assert (people["dana"].previewed, people["dana"].approved, people["dana"].spend) == (
        2,
        1,
        D("0.614"),
    )
    assert people["dana"].approval_rate == D("0.5")
    assert (people["eve"].previewed, people["eve"].delivered, people["eve"].spend) == (
        2,
        1,
        D("0.2855"),
    )


def test_savings_use_the_measured_health_when_there_are_enough_calls(ledger, staff, project):
    # 38 more finished 4K calls of pro on Feb 20 (inside the 30 days before Mar 8):
    # 9 succeeded, 29 failed of which 14 were charged. With G1's two calls:
    # p = 10 / 40 = 0.25, b = 15 / 30 = 0.5 → 1 + 0.5 × 0.75 / 0.25 = 2.5 billed calls.
    health = generation(project, ledger.dana, PRO, "final_failed")
    at = utc(2026, 2, 20, 12)
    for _ in range(9):
        attempt(health, phase="final", size="4K", at=at, ok=True)
    for n in range(29):
        if n < 14:
            charge(health, phase="final", size="4K", amount="0.24", at=at, waste=True)
        else:
            attempt(health, phase="final", size="4K", at=at, ok=False)
    # An old call outside the window does not count.
    attempt(health, phase="final", size="4K", at=utc(2026, 1, 1), ok=True)

    savings = reports.savings_report(user=staff, filters=week())
    pro = next(m for m in savings.models if m.model_key == PRO)
    assert (pro.success.value, pro.success.samples, pro.success.measured) == (D("0.25"), 40, True)
    assert (pro.billed_failures.value, pro.billed_failures.measured) == (D("0.5"), True)
    assert pro.attempts_per_success == D("2.5")
    assert pro.direct == D("1.2")  # 2 previewed × 0.24 × 2.5
    assert savings.direct == D("1.502")
    assert savings.saved == D("0.6025")  # 1.502 − 0.8995


def test_savings_price_the_final_at_the_list_in_force_at_the_end(ledger, staff):
    from generations.models import PriceEntry

    PriceEntry.objects.create(
        model_key=PRO, size="4K", lane="standard", usd_per_image=D("0.30"),
        effective_from=utc(2026, 3, 5),
    )  # fmt: skip
    PriceEntry.objects.create(
        model_key=PRO, size="4K", lane="standard", usd_per_image=D("9"),
        effective_from=utc(2026, 3, 9),
    )  # fmt: skip
    savings = reports.savings_report(user=staff, filters=week())
    assert next(m for m in savings.models if m.model_key == PRO).direct == D("0.60")


def _queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured.captured_queries)


def test_reports_need_a_constant_number_of_queries(ledger, staff, project):
    def spend():
        return reports.spend_report(user=staff, filters=week())

    def savings():
        return reports.savings_report(user=staff, filters=week())

    small = (_queries(spend), _queries(savings))
    for n in range(20):  # five times the work, more models and people
        g = generation(project, UserFactory(), PRO if n % 2 else NB2, "delivered")
        charge(g, phase="preview", size="1K", amount="0.134", at=utc(2026, 3, 3, 9))
        charge(g, phase="final", size="4K", amount="0.24", at=utc(2026, 3, 3, 10))
    assert (_queries(spend), _queries(savings)) == small
    # 2 and 6 reads; PostgreSQL adds SET LOCAL (and a savepoint inside the test's transaction).
    assert small[0] <= 5 and small[1] <= 9


# --- Who sees what ----------------------------------------------------------------------

URL = "/spend/?date_from=2026-03-01&date_to=2026-03-08"


@pytest.mark.parametrize("who", ["designer", "reviewer", "outsider"])
def test_non_admins_get_no_report_and_no_link(client, ledger, request, who):
    client.force_login(request.getfixturevalue(who))
    for url in (URL, "/spend/savings/", "/spend/ledger/", "/spend/export/ledger.csv"):
        assert client.get(url).status_code == 403
    gallery = client.get("/gallery/")
    assert gallery.status_code == 200 and b'href="/gallery/"' in gallery.content
    assert b'href="/spend/"' not in gallery.content


def test_a_project_admin_sees_only_their_projects(client, ledger, project_admin):
    client.force_login(project_admin)
    assert b'href="/spend/"' in client.get("/gallery/").content
    response = client.get(URL)
    assert response.status_code == 200
    assert response.context["totals"]["net"] == D("0.715")  # acme only, not beta
    assert [row["key"] for row in response.context["breakdowns"][0][1]] == ["Acme Launch"]
    assert client.get(URL + "&project=beta").status_code == 404
    assert client.get("/spend/export/ledger.csv?project=beta").status_code == 404
    assert client.get("/spend/prices/").status_code == 403


def test_an_admin_of_another_project_sees_none_of_this_one(client, ledger):
    other_admin = UserFactory(username="olga")
    Membership.objects.create(project=ledger.beta, user=other_admin, role=Role.ADMIN)
    client.force_login(other_admin)
    assert client.get(URL + "&project=acme").status_code == 404
    response = client.get(URL)
    assert response.context["totals"]["net"] == D("0.5335")


def test_staff_see_every_project_on_the_page(client, ledger, staff):
    client.force_login(staff)
    response = client.get(URL + "&grain=week")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-total="net">$1.25<' in html
    assert 'data-total="simulated">$0.03<' in html
    assert "<svg" in html and 'data-bucket="week of 2026-03-02"' in html
    assert f'data-model="{PRO}"' in html
    assert "<title>week of 2026-03-02 · nano-banana-pro: $0.61" in html


def test_htmx_filter_returns_only_the_report(client, ledger, staff):
    client.force_login(staff)
    response = client.get(URL + "&project=beta", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="report"') and "<header" not in html
    assert 'data-total="net">$0.53<' in html
    # The tabs follow the filters (out of band), so Savings opens the same range and project.
    assert 'id="spend-tabs" aria-label="Spend" hx-swap-oob="true"' in html
    assert (
        'href="/spend/savings/?date_from=2026-03-01&amp;date_to=2026-03-08&amp;project=beta' in html
    )


def test_bad_dates_show_an_error_and_the_default_range(client, ledger, staff):
    client.force_login(staff)
    response = client.get("/spend/?date_from=2026-03-08&date_to=2026-03-01")
    assert response.status_code == 400
    assert "The end must be after the start." in response.content.decode()


def test_savings_page_shows_the_formula_and_figures(client, ledger, staff):
    client.force_login(staff)
    html = client.get("/spend/savings/?date_from=2026-03-01&date_to=2026-03-08").content.decode()
    assert 'data-total="direct">$0.78<' in html
    assert 'data-total="actual">$0.90<' in html
    # This week's work cost more than direct finals would have: said with a minus sign.
    assert 'data-total="saved">−$0.12 <span class="muted">(−15 %)</span>' in html
    assert "1 + b × (1 − p) / p" in html


def test_the_date_fields_show_the_range_in_effect(client, ledger, staff):
    client.force_login(staff)
    default = ReportFilter.default()
    html = client.get("/spend/").content.decode()
    assert f'name="date_from" value="{default.date_from.isoformat()}"' in html
    assert f'name="date_to" value="{default.date_to.isoformat()}"' in html
    html = client.get("/spend/savings/?date_from=2026-03-01").content.decode()
    assert 'name="date_from" value="2026-03-01"' in html
    assert f'name="date_to" value="{default.date_to.isoformat()}"' in html


def test_ledger_page_lists_the_range_newest_first(client, ledger, staff):
    client.force_login(staff)
    response = client.get("/spend/ledger/?date_from=2026-03-01&date_to=2026-03-08")
    entries = list(response.context["page"])
    assert len(entries) == 8
    assert entries[0].reason == "invoice" and entries[-1].amount_usd == D("0.101")


# --- CSV ---------------------------------------------------------------------------------


def _csv(response) -> list[dict[str, str]]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_ledger_csv_streams_the_filtered_rows(client, ledger, staff):
    client.force_login(staff)
    response = client.get("/spend/export/ledger.csv?date_from=2026-03-01&date_to=2026-03-08")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"] == 'attachment; filename="ledger_2026-03-01_2026-03-08.csv"'
    )
    rows = _csv(response)
    assert len(rows) == 8
    assert rows[0]["time"] == "2026-03-01T00:30:00+01:00" and rows[0]["model"] == NB2
    assert sum(D(r["amount_usd"]) for r in rows) == D("1.2485")
    assert [r["kind"] for r in rows].count("refund") == 1


def test_spend_csv_has_totals_buckets_and_breakdowns(client, ledger, project_admin):
    client.force_login(project_admin)
    response = client.get(
        "/spend/export/spend.csv?date_from=2026-03-01&date_to=2026-03-08&project=acme"
    )
    assert response["Content-Disposition"].endswith('spend_2026-03-01_2026-03-08_acme.csv"')
    rows = _csv(response)
    total = rows[0]
    assert (total["section"], total["net_usd"], total["waste_usd"]) == ("total", "0.7150", "0.2400")
    days = {(r["key"], r["model"]): r["net_usd"] for r in rows if r["section"] == "day"}
    assert days[("2026-03-02", PRO)] == "0.6140" and days[("2026-03-01", NB2)] == "0.1010"
    people = [(r["key"], r["net_usd"]) for r in rows if r["section"] == "person"]
    assert people == [("dana", "0.6140"), ("eve", "0.1010")]


def test_savings_csv_matches_the_page(client, ledger, staff):
    client.force_login(staff)
    rows = _csv(client.get("/spend/export/savings.csv?date_from=2026-03-01&date_to=2026-03-08"))
    by_key = {(r["section"], r["key"]): r for r in rows}
    assert by_key[("model", PRO)]["direct_final_usd"] == "0.4800"
    assert by_key[("model", PRO)]["success_rate_source"] == "published"
    assert by_key[("total", "")]["direct_final_usd"] == "0.7820"
    assert by_key[("person", "dana")]["approved"] == "1"


def test_csv_cells_that_look_like_formulas_are_neutralised(client, ledger, staff):
    from generations.models import LedgerEntry

    ledger_entry_insert(LedgerEntry(
        kind="adjustment", project=ledger.acme, amount_usd=D("-1"),
        reason='=HYPERLINK("http://evil.example","click")', created_at=utc(2026, 3, 4, 8),
    ))  # fmt: skip
    client.force_login(staff)
    rows = _csv(client.get("/spend/export/ledger.csv?date_from=2026-03-01&date_to=2026-03-08"))
    evil = next(r for r in rows if "HYPERLINK" in r["reason"])
    assert evil["reason"].startswith("'=")
    assert evil["amount_usd"] == "-1.0000"  # numbers stay numbers


def test_unknown_export_is_404(client, staff):
    client.force_login(staff)
    assert client.get(reverse("spend_export", args=["secrets"])).status_code == 404
