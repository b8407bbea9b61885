"""Ledger invariants as properties: whatever happens to a submission's generations —
successes, failures (billed or not), duplicate deliveries, cancels, reaped leases,
fallbacks, manual retries, approvals — the ledger holds exactly one charge per billable
provider call, at the price reserved, every reservation is closed once the work ends, and
the reports' daily roll-ups equal a recount of the ledger.

The real services, worker code (jobs.generation_render), state machine and sweeper
run; only the provider is scripted (tests/support/fakes.ScriptedProvider).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import Phase as Stage
from hypothesis import strategies as st

from generations import services
from generations.models import (
    Budget,
    FallbackPolicy,
    Generation,
    LedgerEntry,
    Phase,
    Reservation,
)
from generations.providers.base import ContentBlocked, ServerError
from generations.rendering import jobs
from generations.rendering.sweeper import generations_sweep
from generations.review.decisions import generation_approve
from generations.spend import budgets, ledger, rollups
from generations.states import QUEUED, RENDERING, State, TransitionError, phase_of
from tests.support.fakes import ScriptedProvider, png_result

pytestmark = pytest.mark.django_db

# What a provider answers: a small image whatever the size asked (the worker stores it with
# a note), so sixty examples of dozens of calls stay quick. The price is the size asked.
SMALL = png_result(64, 64)
PRICE = {"1K": Decimal("0.067"), "2K": Decimal("0.101")}  # nano-banana-2, seeded by 0007
# What a call costs: a final (2K here) is made from the approved preview, sent as an input
# image at 0.0003 (seeded by 0016), on top of the image's price.
COST = {"1K": PRICE["1K"], "2K": PRICE["2K"] + Decimal("0.0003")}


class BilledServerError(ServerError):
    """A retryable failure the provider bills anyway (the error knows it)."""

    billed = True
    kind = "billed_server_error"


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch):
    quick = {"timeout": 5, "tries": 2, "base_delay": 1}
    settings.STUDIO_ATTEMPT_POLICY = {"1K": dict(quick), "2K": dict(quick)}
    # The hosted model renders locally here (no key): attempts record provider "local".
    settings.STUDIO_BILLED_FAILURES = {"local": ["content_blocked"]}
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    monkeypatch.setattr("generations.rendering.sweeper.kick", lambda generation_id: None)


# What a provider call does. Billable: every call that returned an image (even if the
# result is then discarded), and the failures the policy bills.
OUTCOMES = {
    "ok": True,
    "server_error": False,  # retryable, not billed
    "billed_error": True,  # retryable, billed (error.billed)
    "blocked": True,  # not retryable, billed by STUDIO_BILLED_FAILURES
    "cancelled_meanwhile": True,  # image returned, generation cancelled: waste
    # Image returned after the lease was reaped: the attempt stays abandoned, not charged
    # (its reservation went to the next attempt; see generations.spend.ledger).
    "reaped_meanwhile": False,
    "redelivered_meanwhile": True,  # a duplicate kick arrives mid-render; then ok
}

# Rendering is what happens most, and most calls succeed: weighted (sampled_from picks
# uniformly among the entries) so that examples reach approvals, finals and fallbacks.
ACTIONS = ["render"] * 8 + ["approve"] * 3 + ["cancel", "retry", "retry"]
ACTIONS += ["redeliver", "recharge", "sweep"]
step = st.tuples(
    st.sampled_from(ACTIONS),
    st.integers(0, 2),
    st.sampled_from(["ok", "ok", "ok", *sorted(OUTCOMES)]),
)
# Which generation a step acts on: the index-th of those it can act on (so few steps
# are wasted on a generation where they can do nothing).
_CAN = {
    "render": QUEUED,
    "approve": frozenset({State.IN_REVIEW}),
    "retry": frozenset({State.PREVIEW_FAILED, State.FINAL_FAILED}),
    "cancel": QUEUED | RENDERING | {State.IN_REVIEW},
}


def _due(generation: Generation) -> None:
    Generation.objects.filter(pk=generation.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


class World:
    def __init__(self, designer, reviewer, project, variants: int) -> None:
        self.designer, self.reviewer = designer, reviewer
        submission = services.submission_create(
            project=project,
            user=designer,
            prompt="a lighthouse at dusk",
            model_key="nano-banana-2",
            aspect_ratio="1:1",
            preview_size="1K",
            variants=variants,
        )
        self.ids = list(submission.generations.order_by("variant").values_list("pk", flat=True))
        self.billable: list[str] = []  # the size of each billable call made
        self.successes = 0  # phases that ended in success (in review / delivered)

    def gen(self, index: int, action: str = "") -> Generation:
        pks = self.ids
        if action in _CAN:
            pks = [
                pk
                for pk, state in Generation.objects.filter(pk__in=self.ids)
                .order_by("variant")
                .values_list("pk", "state")
                if state in _CAN[action]
            ] or self.ids
        pk = pks[index % len(pks)]
        return Generation.objects.select_related("submission", "project").get(pk=pk)

    def size_of(self, generation: Generation) -> str:
        phase = phase_of(generation.state)
        return generation.submission.preview_size if phase == "preview" else "2K"

    def render(self, index: int, outcome: str) -> None:
        generation = self.gen(index, "render")
        if generation.state not in QUEUED:
            return
        _due(generation)
        size = self.size_of(generation)
        pk = generation.pk

        def cancel(request):
            services.generation_cancel(generation_id=pk, user=self.designer)
            return SMALL

        def reap(request):
            Generation.objects.filter(pk=pk).update(
                lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
            )
            generations_sweep()
            return SMALL

        def redeliver(request):
            assert jobs.generation_render(generation_id=pk, worker="dup") == "skipped"
            return SMALL

        play = {
            "ok": SMALL,
            "server_error": ServerError("503"),
            "billed_error": BilledServerError("billed 500"),
            "blocked": ContentBlocked("blocked"),
            "cancelled_meanwhile": cancel,
            "reaped_meanwhile": reap,
            "redelivered_meanwhile": redeliver,
        }[outcome]
        provider = ScriptedProvider(play)
        result = jobs.generation_render(generation_id=pk, worker="w1", provider=provider)
        assert provider.calls == 1, result
        if OUTCOMES[outcome]:
            self.billable.append(size)
        preview = generation.state == State.PREVIEW_QUEUED
        if result in (State.IN_REVIEW, State.DELIVERED) or (
            preview and result == State.FINAL_QUEUED  # auto-approved at once
        ):
            self.successes += 1

    def act(self, name: str, index: int) -> None:
        generation = self.gen(index, name)
        try:
            if name == "approve":
                generation_approve(generation_id=generation.pk, user=self.reviewer)
            elif name == "cancel":
                services.generation_cancel(generation_id=generation.pk, user=self.designer)
            elif name == "retry":
                user = self.designer if generation.state == State.PREVIEW_FAILED else self.reviewer
                services.generation_retry(generation_id=generation.pk, user=user)
        except TransitionError:
            pass  # not possible from where it is: nothing changed

    def redeliver(self, index: int) -> None:
        """A re-delivered kick for a generation: it renders only if truly due."""
        generation = self.gen(index)
        if generation.state in QUEUED:
            return  # that would be a real render, covered by "render"
        assert jobs.generation_render(generation_id=generation.pk, worker="dup") == "skipped"

    def recharge(self, index: int) -> None:
        """A re-delivered completion: charging an already charged attempt again."""
        generation = self.gen(index)
        for charge in LedgerEntry.objects.filter(generation=generation, kind="charge"):
            again = ledger.ledger_charge_attempt(
                attempt=charge.attempt, generation=generation, waste=charge.waste
            )
            assert again.pk == charge.pk

    def check_reservations_follow_states(self) -> None:
        """At every moment: one open reservation per generation in an active phase, of
        that phase and the phase's price; none for anything else."""
        open_ = {
            (r.generation_id, r.phase): r.amount_usd
            for r in Reservation.objects.filter(generation_id__in=self.ids, status="open")
        }
        expected = {}
        for generation in Generation.objects.filter(pk__in=self.ids).select_related("submission"):
            for phase, active in budgets.ACTIVE.items():
                if generation.state in active:
                    size = "1K" if phase is Phase.PREVIEW else "2K"
                    expected[(generation.pk, phase.value)] = COST[size]
        assert open_ == expected

    def finish(self) -> None:
        """End everything still under way, as people and workers eventually do."""
        for index in range(len(self.ids)):
            generation = self.gen(index)
            if generation.state in RENDERING:
                Generation.objects.filter(pk=generation.pk).update(
                    lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
                )
                generations_sweep()
                generation = self.gen(index)
            if generation.state in (*QUEUED, State.IN_REVIEW):
                services.generation_cancel(generation_id=generation.pk, user=self.designer)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples every run: CI stays deterministic
    database=None,
    # No "explain" stage: its line tracer makes a failing run take minutes on 3.11.
    phases=[Stage.explicit, Stage.reuse, Stage.generate, Stage.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    variants=st.integers(1, 3),
    fallback=st.sampled_from(
        [FallbackPolicy.DELIVER_PREVIEW, FallbackPolicy.UPSCALE, FallbackPolicy.FAIL]
    ),
    steps=st.lists(step, min_size=6, max_size=40),
)
def test_charges_equal_billable_calls_and_reservations_balance_to_zero(
    variants, fallback, steps, project, designer, reviewer
):
    with transaction.atomic():  # each example rolls back: the next starts clean
        project.final_size = "2K"
        project.fallback_policy = fallback
        project.save()
        Budget.objects.create(project=project, amount_usd=Decimal(1000))
        world = World(designer, reviewer, project, variants)
        world.check_reservations_follow_states()
        for move in steps:
            if move[0] == "render":
                world.render(move[1], move[2])
            elif move[0] == "redeliver":
                world.redeliver(move[1])
            elif move[0] == "recharge":
                world.recharge(move[1])
            elif move[0] == "sweep":
                assert generations_sweep().released == 0, "flow.apply closed them all"
            else:
                world.act(move[0], move[1])
            world.check_reservations_follow_states()
        world.finish()

        charges = list(LedgerEntry.objects.filter(generation_id__in=world.ids, kind="charge"))
        assert len(charges) == len(world.billable), "one charge per billable call"
        assert len({c.attempt_id for c in charges}) == len(charges), "no attempt charged twice"
        total = sum((c.amount_usd for c in charges), Decimal(0))
        assert total == sum((COST[size] for size in world.billable), Decimal(0))
        assert all(c.unit_price == PRICE[c.size] and c.price_entry_id for c in charges)
        assert all(c.simulated for c in charges), "a hosted model rendered locally"

        reservations = Reservation.objects.filter(generation_id__in=world.ids)
        assert not reservations.filter(status="open").exists(), "every reservation closed"
        # Every charge used up one reservation (its amount), and only a charge did.
        assert reservations.filter(status="charged").count() == len(charges)
        assert world.successes <= len(charges)
        open_sum = budgets.standing(Budget.objects.get(project=project)).committed
        assert open_sum == 0
        # The reports' daily roll-ups followed every charge and move the worker made.
        assert rollups.rollups_check().clean
        transaction.set_rollback(True)
