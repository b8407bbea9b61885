"""Savings that explain themselves (issue 15, item 6): by preview→final path and by lane,
against every variant straight at 4K on the final's model, on a hand-computed ledger —
one path that saves (four Nano Banana 2 previews at 512, one approved, its Pro 4K final in
the batch lane at half price) beside one that does not (four Pro 2K previews, three
approved to standard Pro 4K finals)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from generations.models import Attempt, Generation, LedgerEntry, Project
from generations.spend import reports
from generations.spend.ledger import ledger_entry_insert
from generations.spend.reports import ReportFilter
from generations.states import State
from tests.support.factories import GenerationFactory, SubmissionFactory, UserFactory

pytestmark = pytest.mark.django_db

D = Decimal
PRO, NB2 = "nano-banana-pro", "nano-banana-2"
DAY = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
RANGE = ReportFilter(dt.date(2026, 3, 1), dt.date(2026, 3, 8))


def _charge(generation: Generation, *, phase: str, model: str, size: str, amount: str, lane: str):
    number = generation.attempts.count() + 1
    at = DAY + dt.timedelta(minutes=number)
    call = Attempt.objects.create(
        generation=generation, number=number, phase=phase, size=size, provider="gemini",
        model_id=model, model_key=model, started_at=at, finished_at=at,
        outcome=Attempt.Outcome.SUCCEEDED,
    )  # fmt: skip
    ledger_entry_insert(
        LedgerEntry(
            kind=LedgerEntry.Kind.CHARGE, project=generation.project,
            user=generation.submission.created_by, generation=generation, attempt=call,
            phase=phase, model_key=model, provider="gemini", size=size, lane=lane,
            unit_price=D(amount), amount_usd=D(amount), created_at=at,
        )
    )  # fmt: skip


def _path(project: Project, user, *, preview: tuple[str, str, str], final: tuple[str, str, str],
          lane: str, approved: int) -> None:  # fmt: skip
    """Four variants previewed on `preview` (model, size, price); the first `approved` of
    them delivered as finals on `final` (model, size, price) in `lane`."""
    submission = SubmissionFactory(
        project=project, created_by=user, model_key=preview[0], final_model_key=final[0],
        preview_size=preview[1], final_size=final[1], variants=4,
    )  # fmt: skip
    for variant in range(1, 5):
        state = State.DELIVERED if variant <= approved else State.REJECTED
        generation = GenerationFactory(submission=submission, variant=variant, state=state)
        _charge(generation, phase="preview", model=preview[0], size=preview[1],
                amount=preview[2], lane="standard")  # fmt: skip
        if variant <= approved:
            _charge(generation, phase="final", model=final[0], size=final[1],
                    amount=final[2], lane=lane)  # fmt: skip


@pytest.fixture
def work(project, price_list):
    dana = UserFactory(username="dana")
    # Saves: NB2 512 previews at $0.045; the one final on Pro 4K from the preview, in the
    # batch lane: $0.12 (half of $0.24) + $0.0006 (half of the $0.0011 input image, to the
    # list's four decimals) = $0.1206.
    _path(project, dana, preview=(NB2, "512", "0.045"), final=(PRO, "4K", "0.1206"),
          lane="batch", approved=1)  # fmt: skip
    # Does not: Pro 2K previews at $0.134, three standard Pro 4K finals at $0.2411.
    _path(project, dana, preview=(PRO, "2K", "0.134"), final=(PRO, "4K", "0.2411"),
          lane="standard", approved=3)  # fmt: skip
    return project


@pytest.fixture
def staff(db):
    return UserFactory(username="sam", is_staff=True)


@pytest.mark.parametrize("from_ledger", [False, True], ids=["roll-ups", "ledger"])
def test_savings_by_path_against_every_variant_straight_at_the_final_models_4k(
    work, staff, from_ledger
):
    savings = reports.savings_report(user=staff, filters=RANGE, from_ledger=from_ledger)

    cheap, pro = savings.paths  # ordered by final, then preview model
    assert (cheap.preview_model_key, cheap.preview_size, cheap.model_key) == (NB2, "512", PRO)
    assert cheap.cross_model and not pro.cross_model
    # Straight at 4K: 4 variants × $0.24 (Pro 4K, the final's model) × 1 billed call each.
    assert cheap.direct == pro.direct == D("0.96")
    # Actual: 4 × 0.045 + 0.1206 = 0.3006, saving 0.6594 (68.7 %).
    assert (cheap.previewed, cheap.approved, cheap.actual) == (4, 1, D("0.3006"))
    assert cheap.saved == D("0.6594")
    assert round(cheap.saved_share, 3) == D("0.687")
    # Actual: 4 × 0.134 + 3 × 0.2411 = 1.2593: it costs $0.2993 more than 4K straight away.
    assert (pro.previewed, pro.approved, pro.actual) == (4, 3, D("1.2593"))
    assert pro.saved == D("-0.2993")
    assert savings.direct == D("1.92") and savings.saved == D("0.3601")
    # By lane (charges of the range): the batch final paid half the standard price.
    standard, batch = savings.lanes
    assert (standard.lane, standard.images, standard.paid, standard.saved) == (
        "standard",
        11,
        D("1.4393"),
        D("0"),
    )
    # The same image at the standard price: 0.1206 × 0.24 / 0.12 (Pro 4K standard ÷ batch).
    assert (batch.lane, batch.images, batch.paid) == ("batch", 1, D("0.1206"))
    assert batch.at_standard == D("0.2412") and batch.saved == D("0.1206")


def test_the_savings_page_writes_each_paths_formula_out(client, work, staff):
    client.force_login(staff)

    html = client.get("/spend/savings/?date_from=2026-03-01&date_to=2026-03-08").content.decode()

    assert (
        "4 previewed × $0.24 (nano-banana-pro 4K) × 1.00 billed calls per success = $0.96 "
        "straight at 4K; actual $0.30; saved $0.96 − $0.30 = $0.66"
    ) in html
    assert (
        "4 previewed × $0.24 (nano-banana-pro 4K) × 1.00 billed calls per success = $0.96 "
        "straight at 4K; actual $1.26; saved $0.96 − $1.26 = −$0.30"
    ) in html
    assert 'data-path="nano-banana-2 512 → nano-banana-pro 4K"' in html
    assert 'data-total="direct">$1.92<' in html and 'data-total="saved">$0.36 ' in html
    batch = html.split('data-lane="batch"')[1].split("</tr>")[0]
    assert "$0.12" in batch and "$0.24" in batch
