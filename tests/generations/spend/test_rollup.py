"""The daily roll-ups the spend reports read (generations.spend.rollups): always equal to a
recount of the ledger and the generations, whatever is written in whatever order; a
duplicate charge counts once; drift is found and repaired by the check command; the
reports say the same from the roll-ups and from the ledger."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import F, Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import Phase as Stage
from hypothesis import strategies as st

from generations import flow
from generations.models import (
    Generation,
    LedgerEntry,
    Membership,
    Role,
    SavingsRollup,
    SpendPersonRollup,
    SpendRollup,
)
from generations.spend import ledger, reports, rollups
from generations.spend.reports import ReportFilter
from generations.states import TRANSITIONS, Actor, State, phase_of
from tests.support.factories import ProjectFactory, UserFactory
from tests.support.spend import (
    NB2,
    PRO,
    RANGE,
    attempt,
    build_ledger,
    charge,
    generation,
    utc,
)

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def _paris(settings, monkeypatch):
    settings.TIME_ZONE = "Europe/Paris"
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)


@pytest.fixture
def staff(db):
    return UserFactory(username="sam", is_staff=True)


FILTERS = [
    ReportFilter(RANGE[0], RANGE[1], None, "day"),
    ReportFilter(dt.date(2026, 2, 20), dt.date(2026, 3, 20), None, "week"),
    ReportFilter(dt.date(2026, 1, 1), dt.date(2026, 6, 1), None, "month"),
]


def assert_reports_agree(user, filters: list[ReportFilter]) -> None:
    """The roll-ups answer, and say what the ledger says."""
    assert rollups.rollups_ready()
    for f in filters:
        assert reports.spend_report(user=user, filters=f) == reports.spend_report(
            user=user, filters=f, from_ledger=True
        )
        assert reports.savings_report(user=user, filters=f) == reports.savings_report(
            user=user, filters=f, from_ledger=True
        )


def test_the_hand_computed_ledger_reads_the_same_from_rollups_and_ledger(project, staff):
    built = build_ledger(project)
    assert rollups.rollups_check().clean
    assert_reports_agree(staff, [*FILTERS, ReportFilter(*RANGE, built.beta, "day")])
    # The week's spend, read from the roll-ups: 8 ledger rows became 8 day × model rows.
    week = SpendRollup.objects.filter(day__gte=RANGE[0], day__lt=RANGE[1])
    assert week.aggregate(n=Sum("entries"))["n"] == 8
    # G3 was previewed on Mar 1 (Paris) and finalised on Mar 8: both on its day of work.
    g3 = SavingsRollup.objects.get(day=dt.date(2026, 3, 1))
    assert (g3.previewed, g3.approved, g3.delivered, g3.net_e4) == (1, 1, 1, 2520)


def test_a_duplicate_charge_counts_once(project, designer, price_list):
    g = generation(project, designer, NB2, State.PREVIEW_RENDERING)
    call = attempt(g, phase="preview", size="1K", at=utc(2026, 3, 2, 10))
    first = ledger.ledger_charge_attempt(attempt=call, generation=g)
    with transaction.atomic():  # the move's transaction stays usable after the duplicate
        again = ledger.ledger_charge_attempt(attempt=call, generation=g)
        assert Generation.objects.filter(pk=g.pk).exists()
    assert again.pk == first.pk
    spend = SpendRollup.objects.get()
    assert (spend.entries, spend.images, spend.charges_e4) == (1, 1, 670)
    assert SpendPersonRollup.objects.get().images == 1
    savings = SavingsRollup.objects.get()
    assert (savings.previewed, savings.net_e4) == (1, 670)
    assert rollups.rollups_check().clean


def test_moves_into_and_out_of_approval_follow_the_day_of_work(project, designer, reviewer):
    g = generation(project, designer, PRO, State.IN_REVIEW)
    charge(g, phase="preview", size="1K", amount="0.134", at=utc(2026, 3, 2, 10))
    g = flow.apply(g, State.FINAL_QUEUED, actor=Actor.REVIEWER, user=reviewer)
    row = SavingsRollup.objects.get()
    assert (row.previewed, row.approved, row.delivered) == (1, 1, 0)
    flow.apply(g, State.CANCELLED, actor=Actor.DESIGNER, user=designer)
    row.refresh_from_db()
    assert (row.previewed, row.approved, row.delivered) == (1, 0, 0)
    assert rollups.rollups_check().clean


def test_an_earlier_preview_written_later_moves_the_work_to_its_day(project, designer, staff):
    g = generation(project, designer, PRO, State.DELIVERED)
    charge(g, phase="preview", size="1K", amount="0.134", at=utc(2026, 3, 5, 10))
    charge(g, phase="final", size="4K", amount="0.24", at=utc(2026, 3, 5, 12))
    charge(g, phase="preview", size="1K", amount="0.134", at=utc(2026, 3, 2, 10))  # backdated
    g.refresh_from_db()
    assert g.previewed_at == utc(2026, 3, 2, 10)
    rows = {r.day: r for r in SavingsRollup.objects.all() if r.previewed}
    assert list(rows) == [dt.date(2026, 3, 2)]
    assert (rows[dt.date(2026, 3, 2)].approved, rows[dt.date(2026, 3, 2)].net_e4) == (1, 5080)
    assert rollups.rollups_check().clean
    assert_reports_agree(staff, FILTERS)


def test_check_finds_drift_and_rebuild_repairs_it(project, staff, capsys):
    build_ledger(project)
    before = reports.spend_report(user=staff, filters=FILTERS[0])
    savings_before = reports.savings_report(user=staff, filters=FILTERS[0])
    call_command("spend_rollup_check")
    assert "No drift" in capsys.readouterr().out

    # Rows written behind the app's back, a lost increment, a forgotten day of work.
    SpendRollup.objects.filter(day=dt.date(2026, 3, 2)).update(charges_e4=F("charges_e4") + 1)
    SpendPersonRollup.objects.filter(day=dt.date(2026, 3, 3)).delete()
    SavingsRollup.objects.filter(day=dt.date(2026, 3, 1)).delete()
    Generation.objects.filter(previewed_at__isnull=False).update(previewed_at=None)
    assert reports.spend_report(user=staff, filters=FILTERS[0]) != before

    with pytest.raises(CommandError, match="--rebuild"):
        call_command("spend_rollup_check")
    out = capsys.readouterr().out
    # Mar 2 has two rows (G1's preview at 1K, its finals at 4K); one person on Mar 3.
    assert "2 spend row(s), 1 spend by person row(s), 1 savings row(s)" in out
    assert "5 generation(s) with a wrong first preview time" in out

    call_command("spend_rollup_check", "--rebuild")
    assert "Rebuilt" in capsys.readouterr().out
    call_command("spend_rollup_check")
    assert "No drift" in capsys.readouterr().out
    assert reports.spend_report(user=staff, filters=FILTERS[0]) == before
    assert reports.savings_report(user=staff, filters=FILTERS[0]) == savings_before


def test_after_a_change_of_time_zone_the_reports_read_the_ledger_until_a_rebuild(
    project, staff, settings
):
    build_ledger(project)
    settings.TIME_ZONE = "UTC"
    assert not rollups.rollups_ready()  # Paris days: they cannot answer for UTC days
    utc_week = reports.spend_report(user=staff, filters=FILTERS[0])
    assert utc_week.totals["net"] == D("1.2985")  # row 1 leaves the range, G3's final joins
    call_command("spend_rollup_check", "--rebuild")
    assert rollups.rollups_ready()
    assert reports.spend_report(user=staff, filters=FILTERS[0]) == utc_week
    assert_reports_agree(staff, FILTERS)


# --- Any sequence of writes ----------------------------------------------------------

# Hours after Feb 28 20:00 UTC: the writes straddle local midnights of several days.
BASE = utc(2026, 2, 28, 20)
GENERATIONS = 6
which = st.integers(0, GENERATIONS - 1)
charges = st.tuples(
    st.just("charge"),
    which,
    st.sampled_from(["preview", "final"]),
    st.integers(0, 120),  # hours after BASE
    st.booleans(),  # waste
    st.booleans(),  # simulated
)
# The n-th legal move (mostly the first: approve, claim, deliver — towards the final).
moves = st.tuples(st.just("move"), which, st.sampled_from([0, 0, 0, 1, 2, 3]))
step = st.one_of(
    charges,
    charges,
    moves,
    moves,
    moves,
    st.tuples(st.just("worker charge"), which),  # now, then charged again
    st.tuples(st.just("refund"), st.integers(0, 20)),
    st.tuples(st.just("adjust"), st.integers(0, 1), st.integers(-300, 300), st.booleans()),
)


class World:
    def __init__(self, admin) -> None:
        self.admin = admin
        self.projects = [ProjectFactory(), ProjectFactory()]
        for p in self.projects:
            Membership.objects.create(project=p, user=admin, role=Role.ADMIN)
        people = [UserFactory(), UserFactory()]
        self.generations = [
            generation(
                self.projects[n % 2],
                people[n % 3 % 2],
                (PRO, NB2)[n % 2],
                (State.IN_REVIEW, State.PREVIEW_QUEUED)[n % 3 // 2],
            )
            for n in range(GENERATIONS)
        ]

    def gen(self, n: int) -> Generation:
        return Generation.objects.select_related("submission").get(pk=self.generations[n].pk)

    def do(self, name: str, *args: int | bool | str) -> None:
        getattr(self, name.replace(" ", "_"))(*args)

    def charge(self, n: int, phase: str, hours: int, waste: bool, simulated: bool) -> None:
        size = "1K" if phase == "preview" else "4K"
        at = BASE + dt.timedelta(hours=hours)
        amount = "0.134" if phase == "preview" else "0.24"
        charge(self.gen(n), phase=phase, size=size, amount=amount, at=at, waste=waste,
               simulated=simulated)  # fmt: skip

    def worker_charge(self, n: int) -> None:
        g = self.gen(n)
        call = attempt(g, phase=phase_of(g.state), size="1K", at=BASE)
        first = ledger.ledger_charge_attempt(attempt=call, generation=g)
        assert ledger.ledger_charge_attempt(attempt=call, generation=g).pk == first.pk

    def refund(self, index: int) -> None:
        charges = list(LedgerEntry.objects.filter(kind="charge").order_by("pk"))
        if charges:
            with contextlib.suppress(ValidationError):  # already refunded: nothing written
                ledger.ledger_refund(
                    entry=charges[index % len(charges)], reason="x", user=self.admin
                )

    def adjust(self, p: int, cents: int, personal: bool) -> None:
        if cents:
            person = self.generations[0].submission.created_by if personal else None
            ledger.ledger_adjust(project=self.projects[p], amount=D(cents) / 100, reason="x",
                                 user=self.admin, person=person)  # fmt: skip

    def move(self, n: int, choice: int) -> None:
        g = self.gen(n)
        moves = sorted(
            ((target, min(actors)) for (source, target), actors in TRANSITIONS.items()
             if source == g.state),
            key=lambda move: _towards_the_final(move[0]),
        )  # fmt: skip
        if moves:
            target, actor = moves[choice % len(moves)]
            flow.apply(g, target, actor=actor, user=self.admin)


FORWARD = [
    State.PREVIEW_RENDERING,
    State.IN_REVIEW,
    State.FINAL_QUEUED,
    State.FINAL_RENDERING,
    State.DELIVERED,
]


def _towards_the_final(target: State) -> tuple[int, str]:
    """Moves that go forward come first, then the others by name."""
    return (FORWARD.index(target), "") if target in FORWARD else (len(FORWARD), target)


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Stage.explicit, Stage.reuse, Stage.generate, Stage.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_rollups_equal_a_recount_after_any_writes(steps, staff, price_list):
    with transaction.atomic():  # each example rolls back: the next starts clean
        world = World(staff)
        for move in steps:
            world.do(*move)
        assert rollups.rollups_check().clean
        assert_reports_agree(staff, FILTERS[:2])
        transaction.set_rollback(True)
