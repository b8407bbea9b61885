"""A hard budget is never overspent, under any interleaving (issue 16, defect 1).

A hypothesis state machine drives the real services, worker steps (jobs._claim, then
_record_success / _record_failure: a claim may be finished much later, after anything
else happened, or never), the state machine, the sweeper and the price list, against a
small hard budget: submit, approve, cancel (queued, in review, or while a call runs),
manual retry, provider outcomes (success, retryable failure billed or not, final
failure billed or not), a worker dying, leases running out (the reaper, and the reaper of
attempts whose job was cancelled mid-call), a late result after a reap, and price
changes between approval and attempt.

After every step: the ledger's spend, and spend plus what is reserved, stay within the
budget; every charge belongs to a billed attempt. At the end, once every worker has died
or reported and every lease has run out: every reservation is closed and the ledger
holds exactly one charge per billed attempt.

The two cases the audit found are in the machine's reach (cancel during a final's call,
then another approval; a price raised between approval and attempt) and are also pinned
as plain tests below. Runs on the CI's PostgreSQL leg (and on SQLite): each step runs in
one connection, so no select_for_update semantics are needed here; the concurrent races
are tests/generations/spend/test_budget_race.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import Phase as Stage
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from generations import services
from generations.models import (
    Attempt,
    Budget,
    FallbackPolicy,
    Generation,
    LedgerEntry,
    PriceEntry,
    Reservation,
)
from generations.providers.base import ContentBlocked, InvalidRequest, ServerError
from generations.rendering import jobs, limits
from generations.rendering.sweeper import generations_sweep
from generations.review.decisions import generation_approve
from generations.spend import budgets
from generations.states import QUEUED, RENDERING, State, TransitionError
from generations.strategies import Strategy
from tests.support.fakes import OK, ScriptedProvider, png_result

pytestmark = pytest.mark.django_db

MODEL = "nano-banana-2"  # 1K $0.067, 2K $0.101 as seeded by 0007
BUDGET = Decimal("0.50")
SMALL = png_result(64, 64)  # stored with a note whatever size was asked: quick


class BilledServerError(ServerError):
    """A retryable failure the provider bills anyway."""

    billed = True
    kind = "billed_server_error"


# A final failure that STUDIO_BILLED_FAILURES bills (content_blocked), and one it does not.
OUTCOMES = ["ok", "ok", "server_error", "billed_error", "blocked", "invalid"]


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch):
    # Leases long enough that only the machine's own "lease_expires" ends one: wall time
    # must not decide a run (hypothesis replays runs while shrinking).
    quick = {"timeout": 3600, "tries": 2, "base_delay": 1}
    settings.STUDIO_ATTEMPT_POLICY = {"1K": dict(quick), "2K": dict(quick)}
    settings.STUDIO_BILLED_FAILURES = {"local": ["content_blocked"]}
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    monkeypatch.setattr("generations.rendering.sweeper.kick", lambda generation_id: None)


def _billed_attempts(ids: list[int]) -> set[int]:
    attempts = Attempt.objects.filter(generation_id__in=ids)
    billed = set(
        attempts.filter(outcome__in=["succeeded", "discarded"]).values_list("pk", flat=True)
    )
    billed |= set(
        attempts.filter(
            outcome="failed", error_kind__in=["content_blocked", BilledServerError.kind]
        ).values_list("pk", flat=True)
    )
    return billed


def _spent_and_committed(project) -> tuple[Decimal, Decimal]:
    state = budgets.standing(Budget.objects.get(project=project, user__isnull=True))
    return state.spent, state.committed


def make_machine(project, designer, reviewer, staff):
    class BudgetMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.savepoint = transaction.savepoint()  # each run rolls back: the next is clean
            self.ids: list[int] = []
            self.claims: dict[int, jobs.Claim] = {}  # attempt pk -> the worker holding it

        @initialize(fallback=st.sampled_from(list(FallbackPolicy)))
        def setup(self, fallback):
            project.final_size = "2K"
            project.fallback_policy = fallback
            project.save()
            Budget.objects.create(project=project, amount_usd=BUDGET)

        def teardown(self) -> None:
            transaction.savepoint_rollback(self.savepoint)

        def _pick(self, index: int, states) -> Generation | None:
            rows = list(
                Generation.objects.filter(pk__in=self.ids, state__in=states)
                .select_related("submission", "project")
                .order_by("pk")
            )
            return rows[index % len(rows)] if rows else None

        # --- people ----------------------------------------------------------------

        @rule(variants=st.integers(1, 3))
        def submit(self, variants):
            try:
                submission = services.submission_create(
                    project=project,
                    user=designer,
                    prompt="a lighthouse at dusk",
                    model_key=MODEL,
                    aspect_ratio="1:1",
                    preview_size="1K",
                    variants=variants,
                )
            except budgets.BudgetExceeded:
                return
            self.ids += list(submission.generations.values_list("pk", flat=True))

        @rule(index=st.integers(0, 5))
        def approve(self, index):
            generation = self._pick(index, [State.IN_REVIEW])
            if generation is not None:
                try:
                    generation_approve(generation_id=generation.pk, user=reviewer)
                except budgets.BudgetExceeded:
                    assert Generation.objects.get(pk=generation.pk).state == State.IN_REVIEW

        @rule(index=st.integers(0, 5))
        def cancel(self, index):
            generation = self._pick(index, [*QUEUED, *RENDERING, State.IN_REVIEW])
            if generation is not None:
                services.generation_cancel(generation_id=generation.pk, user=designer)

        @rule(index=st.integers(0, 5))
        def retry_by_hand(self, index):
            generation = self._pick(index, [State.PREVIEW_FAILED, State.FINAL_FAILED])
            if generation is not None:
                who = designer if generation.state == State.PREVIEW_FAILED else reviewer
                with contextlib.suppress(TransitionError):  # over budget: nothing changed
                    services.generation_retry(generation_id=generation.pk, user=who)

        @rule(size=st.sampled_from(["1K", "2K"]), cents=st.integers(1, 40))
        def price_change(self, size, cents):
            PriceEntry.objects.create(
                model_key=MODEL,
                size=size,
                usd_per_image=Decimal(cents) / 100,
                effective_from=timezone.now(),
                created_by=staff,
            )

        # --- workers ---------------------------------------------------------------

        @rule(index=st.integers(0, 5))
        def claim(self, index):
            generation = self._pick(index, QUEUED)
            if generation is None:
                return
            Generation.objects.filter(pk=generation.pk).update(
                next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
            )
            claim = jobs._claim(generation.pk, worker="w")
            if claim is not None:
                self.claims[claim.attempt.pk] = claim

        @precondition(lambda self: self.claims)
        @rule(index=st.integers(0, 5), outcome=st.sampled_from(OUTCOMES))
        def call_ends(self, index, outcome):
            """The worker holding a claim reports, whatever happened meanwhile (a cancel,
            a reap: then it is a late result)."""
            key = sorted(self.claims)[index % len(self.claims)]
            claim = self.claims.pop(key)
            limits.call_finished(model_key=claim.model.key, holder=str(claim.attempt.lease_token))
            if outcome == "ok":
                image = jobs._store_result(claim, SMALL)
                jobs._record_success(claim, image, latency_s=0.1, provider_meta={})
                return
            error = {
                "server_error": ServerError("503"),
                "billed_error": BilledServerError("billed 500"),
                "blocked": ContentBlocked("IMAGE_SAFETY"),
                "invalid": InvalidRequest("bad"),
            }[outcome]
            jobs._record_failure(claim, error, latency_s=0.1)

        @precondition(lambda self: self.claims)
        @rule(index=st.integers(0, 5))
        def worker_dies(self, index):
            key = sorted(self.claims)[index % len(self.claims)]
            claim = self.claims.pop(key)
            limits.call_finished(model_key=claim.model.key, holder=str(claim.attempt.lease_token))

        @rule(index=st.integers(0, 5))
        def lease_expires(self, index):
            """One job's lease runs out (the call outlived it, or its worker died)."""
            past = timezone.now() - dt.timedelta(hours=3)
            generation = self._pick(index, RENDERING)
            if generation is not None:
                Generation.objects.filter(pk=generation.pk).update(lease_expires_at=past)
            # An attempt cancelled mid-call: its lease runs from its start.
            Attempt.objects.filter(
                generation_id__in=self.ids, outcome="running", generation__state="cancelled"
            ).update(started_at=past)
            generations_sweep()

        @rule()
        def sweep(self):
            generations_sweep()

        # --- what must always hold -------------------------------------------------

        @invariant()
        def never_over_budget(self):
            if not Budget.objects.filter(project=project).exists():
                return  # before setup
            spent, committed = _spent_and_committed(project)
            assert spent <= BUDGET, f"charged {spent} against a hard budget of {BUDGET}"
            assert spent + committed <= BUDGET, f"{spent} spent + {committed} reserved"

        @invariant()
        def every_charge_is_a_billed_attempt(self):
            charged = list(
                LedgerEntry.objects.filter(generation_id__in=self.ids, kind="charge").values_list(
                    "attempt_id", flat=True
                )
            )
            assert len(charged) == len(set(charged)), "an attempt charged twice"
            assert set(charged) <= _billed_attempts(self.ids)

        def check_the_end(self) -> None:
            """Every worker died or reported and every lease ran out; people let the
            rest go. Then nothing is reserved and the ledger equals the billed attempts."""
            for claim in self.claims.values():
                limits.call_finished(
                    model_key=claim.model.key, holder=str(claim.attempt.lease_token)
                )
            self.claims.clear()
            past = timezone.now() - dt.timedelta(hours=3)
            Generation.objects.filter(pk__in=self.ids, state__in=RENDERING).update(
                lease_expires_at=past
            )
            Attempt.objects.filter(generation_id__in=self.ids, outcome="running").update(
                started_at=past
            )
            generations_sweep()
            for generation in Generation.objects.filter(
                pk__in=self.ids, state__in=[*QUEUED, State.IN_REVIEW]
            ):
                services.generation_cancel(generation_id=generation.pk, user=designer)
            assert not Attempt.objects.filter(generation_id__in=self.ids, outcome="running")
            reservations = Reservation.objects.filter(generation_id__in=self.ids)
            assert not reservations.filter(status="open").exists(), "every reservation closed"
            charges = LedgerEntry.objects.filter(generation_id__in=self.ids, kind="charge")
            assert set(charges.values_list("attempt_id", flat=True)) == _billed_attempts(
                self.ids
            ), "the ledger equals the billed attempts"
            # Each charge used up one reservation, at its amount.
            assert reservations.filter(status="charged").count() == charges.count()
            spent, committed = _spent_and_committed(project)
            assert committed == 0 and spent <= BUDGET

    return BudgetMachine


def test_a_hard_budget_is_never_overspent_under_any_interleaving(
    project, designer, reviewer, project_admin
):
    machine = make_machine(project, designer, reviewer, project_admin)

    class Checked(machine):  # type: ignore[misc,valid-type]
        def teardown(self) -> None:
            try:
                self.check_the_end()
            finally:
                super().teardown()

    run_state_machine_as_test(
        Checked,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,  # the same runs every time: CI stays deterministic
            database=None,
            # No "explain" stage: its line tracer makes a failing run take minutes.
            phases=[Stage.explicit, Stage.reuse, Stage.generate, Stage.shrink],
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


# --- the two cases the audit found, pinned ----------------------------------------------


def _approved(designer, reviewer, project) -> Generation:
    project.final_size = "2K"
    # Finals from the prompt: the figures below are the list's image prices alone (a
    # final from the preview adds its input image; the state machine above covers that).
    project.escalation_strategy = Strategy.FROM_PROMPT
    project.save()
    services.submission_create(
        project=project,
        user=designer,
        prompt="a red kite",
        model_key=MODEL,
        aspect_ratio="1:1",
        preview_size="1K",
        variants=1,
    )
    generation = Generation.objects.get(submission__project=project, variant=1)
    assert jobs.generation_render(generation_id=generation.pk, provider=ScriptedProvider(OK))
    return generation_approve(generation_id=generation.pk, user=reviewer)


def _due(generation: Generation) -> None:
    Generation.objects.filter(pk=generation.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def test_cancelling_a_final_mid_call_keeps_its_money_until_the_call_ends(
    project, designer, reviewer
):
    project.final_size = "2K"
    # Finals from the prompt: the figures below are the list's image prices alone (a
    # final from the preview adds its input image; the state machine above covers that).
    project.escalation_strategy = Strategy.FROM_PROMPT
    project.save()
    services.submission_create(
        project=project,
        user=designer,
        prompt="two kites",
        model_key=MODEL,
        aspect_ratio="1:1",
        preview_size="1K",
        variants=2,
    )
    first, second = Generation.objects.order_by("variant")
    for generation in (first, second):
        jobs.generation_render(generation_id=generation.pk, provider=ScriptedProvider(OK))
    # $0.134 of previews spent; room for one final ($0.101) and $0.05 more.
    Budget.objects.create(project=project, amount_usd=Decimal("0.285"))
    generation_approve(generation_id=first.pk, user=reviewer)
    _due(first)
    claim = jobs._claim(first.pk, worker="w")
    assert claim is not None

    services.generation_cancel(generation_id=first.pk, user=designer)
    reservation = Reservation.objects.get(generation=first, phase="final")
    assert reservation.status == "open", "the call under way may still be paid for"
    # So the same money cannot be reserved by another approval meanwhile.
    with pytest.raises(budgets.BudgetExceeded):
        generation_approve(generation_id=second.pk, user=reviewer)

    image = jobs._store_result(claim, SMALL)
    assert jobs._record_success(claim, image, latency_s=1, provider_meta={}) == "discarded"
    reservation.refresh_from_db()
    (waste,) = LedgerEntry.objects.filter(generation=first, phase="final")
    assert (reservation.status, waste.waste) == ("charged", True)
    assert waste.amount_usd == Decimal("0.101")
    spent, committed = _spent_and_committed(project)
    assert (spent, committed) == (Decimal("0.235"), 0)


def test_an_unbilled_end_of_a_cancelled_call_releases_its_reservation(project, designer, reviewer):
    generation = _approved(designer, reviewer, project)
    _due(generation)
    claim = jobs._claim(generation.pk, worker="w")
    assert claim is not None
    services.generation_cancel(generation_id=generation.pk, user=designer)

    jobs._record_failure(claim, ServerError("503"), latency_s=1)

    assert Reservation.objects.get(generation=generation, phase="final").status == "released"
    assert not LedgerEntry.objects.filter(generation=generation, phase="final").exists()


def test_a_cancelled_call_whose_worker_died_is_released_when_its_lease_runs_out(
    project, designer, reviewer
):
    generation = _approved(designer, reviewer, project)
    _due(generation)
    claim = jobs._claim(generation.pk, worker="dies")
    assert claim is not None
    services.generation_cancel(generation_id=generation.pk, user=designer)
    generations_sweep()
    assert Reservation.objects.get(generation=generation, phase="final").status == "open"

    Attempt.objects.filter(pk=claim.attempt.pk).update(
        started_at=timezone.now() - dt.timedelta(hours=3)
    )
    generations_sweep()

    assert Attempt.objects.get(pk=claim.attempt.pk).outcome == "abandoned"
    assert Reservation.objects.get(generation=generation, phase="final").status == "released"


def test_a_price_raised_after_approval_does_not_change_what_the_approval_costs(
    project, designer, reviewer, project_admin
):
    project.final_size = "2K"
    # Finals from the prompt: the figures below are the list's image prices alone (a
    # final from the preview adds its input image; the state machine above covers that).
    project.escalation_strategy = Strategy.FROM_PROMPT
    project.save()
    generation = _approved(designer, reviewer, project)
    PriceEntry.objects.create(
        model_key=MODEL,
        size="2K",
        usd_per_image=Decimal("0.500"),
        effective_from=timezone.now(),
        created_by=project_admin,
    )
    _due(generation)

    assert jobs.generation_render(generation_id=generation.pk, provider=ScriptedProvider(OK))

    (charge,) = LedgerEntry.objects.filter(generation=generation, phase="final")
    assert charge.amount_usd == charge.unit_price == Decimal("0.101")
    assert Reservation.objects.get(generation=generation, phase="final").status == "charged"


def test_a_billed_retry_the_budget_refuses_ends_the_final_failed_saying_why(
    project, designer, reviewer, settings
):
    settings.STUDIO_ATTEMPT_POLICY["2K"] = {"timeout": 5, "tries": 3, "base_delay": 1}
    project.final_size = "2K"
    # Finals from the prompt: the figures below are the list's image prices alone (a
    # final from the preview adds its input image; the state machine above covers that).
    project.escalation_strategy = Strategy.FROM_PROMPT
    project.save()
    generation = _approved(designer, reviewer, project)
    Budget.objects.create(project=project, amount_usd=Decimal("0.2"))  # one final's worth
    _due(generation)

    outcome = jobs.generation_render(
        generation_id=generation.pk, provider=ScriptedProvider(BilledServerError("billed"))
    )

    generation.refresh_from_db()
    assert outcome == State.FINAL_FAILED == generation.state
    assert generation.last_error.startswith("Over budget: retrying")
    last = generation.transitions.order_by("pk").last()
    assert "retry refused: over budget" in last.reason
    spent, committed = _spent_and_committed(project)
    assert (spent, committed) == (Decimal("0.168"), 0)
