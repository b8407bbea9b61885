"""A small, explicit ledger for the report tests: every row is written out here, and the
tests spell out by hand what the reports must say about it.

Time zone Europe/Paris (UTC+1 in March 2026); the range is the local days
[2026-03-01, 2026-03-08). 2026-03-01 is a Sunday.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from generations.models import Attempt, Generation, LedgerEntry, Project
from generations.spend.ledger import ledger_entry_insert
from generations.states import State
from tests.support.factories import (
    GenerationFactory,
    ProjectFactory,
    SubmissionFactory,
    UserFactory,
)

PRO, NB2 = "nano-banana-pro", "nano-banana-2"
RANGE = (dt.date(2026, 3, 1), dt.date(2026, 3, 8))


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def generation(project: Project, user: Any, model_key: str, state: str) -> Generation:
    submission = SubmissionFactory(
        project=project, created_by=user, model_key=model_key, final_size="4K"
    )
    return GenerationFactory(submission=submission, state=state)


def attempt(
    generation: Generation, *, phase: str, size: str, at: dt.datetime, ok: bool = True
) -> Attempt:
    number = Attempt.objects.filter(generation=generation).count() + 1
    return Attempt.objects.create(
        generation=generation,
        number=number,
        phase=phase,
        size=size,
        provider="gemini",
        model_id=generation.submission.model_key,
        model_key=generation.submission.model_key,
        started_at=at,
        finished_at=at,
        outcome=Attempt.Outcome.SUCCEEDED if ok else Attempt.Outcome.FAILED,
    )


def charge(
    generation: Generation,
    *,
    phase: str,
    size: str,
    amount: str,
    at: dt.datetime,
    waste: bool = False,
    simulated: bool = False,
    lane: str = "standard",
) -> LedgerEntry:
    """A charge as the worker writes it: for one attempt (failed when it is waste)."""
    call = attempt(generation, phase=phase, size=size, at=at, ok=not waste)
    return ledger_entry_insert(
        LedgerEntry(
            kind=LedgerEntry.Kind.CHARGE,
            project=generation.project,
            user=generation.submission.created_by,
            generation=generation,
            attempt=call,
            phase=phase,
            model_key=generation.submission.model_key,
            provider="local" if simulated else "gemini",
            size=size,
            lane=lane,
            unit_price=Decimal(amount),
            amount_usd=Decimal(amount),
            waste=waste,
            simulated=simulated,
            created_at=at,
        )
    )


def correction(
    project: Project,
    *,
    kind: str,
    amount: str,
    at: dt.datetime,
    generation: Generation | None = None,
    reason: str = "correction",
    **fields: Any,
) -> LedgerEntry:
    return ledger_entry_insert(
        LedgerEntry(
            kind=kind,
            project=project,
            user=generation.submission.created_by if generation else None,
            generation=generation,
            amount_usd=Decimal(amount),
            reason=reason,
            created_at=at,
            **fields,
        )
    )


@dataclass
class Ledger:
    acme: Project
    beta: Project
    dana: Any
    eve: Any
    g0: Generation
    g1: Generation
    g2: Generation
    g3: Generation
    g4: Generation


def build_ledger(acme: Project) -> Ledger:
    """
    in range (local Paris time):
      1  G3 preview  nb2 2K  0.101   Mar 1 00:30 (= Feb 28 23:30 UTC)   acme  eve
      2  G1 preview  pro 1K  0.134   Mar 2 11:00                        acme  dana
      3  G1 final    pro 4K  0.24    Mar 2 12:00  waste (failed, billed) acme  dana
      4  G1 final    pro 4K  0.24    Mar 2 13:00                        acme  dana
      5  G2 preview  pro 1K  0.134   Mar 3 10:00                        acme  dana
      6  G4 preview  nb2 1K  0.0335  Mar 4 11:00  batch, simulated      beta  eve
      7  refund G2   pro 1K −0.134   Mar 5 11:00                        acme  dana
      8  adjustment          +0.50   Mar 6 11:00  no model, no person   beta
    outside:
         G0 preview  pro 1K  0.134   Feb 28 23:30 (= 22:30 UTC)         acme  dana
         G3 final    nb2 4K  0.151   Mar 8 00:30 (= Mar 7 23:30 UTC)    acme  eve
    states: G0 delivered, G1 delivered, G2 rejected, G3 delivered, G4 in review
    """
    beta = ProjectFactory(name="Beta Brand", slug="beta")
    dana, eve = UserFactory(username="dana"), UserFactory(username="eve")
    g0 = generation(acme, dana, PRO, State.DELIVERED)
    g1 = generation(acme, dana, PRO, State.DELIVERED)
    g2 = generation(acme, dana, PRO, State.REJECTED)
    g3 = generation(acme, eve, NB2, State.DELIVERED)
    g4 = generation(beta, eve, NB2, State.IN_REVIEW)
    charge(g0, phase="preview", size="1K", amount="0.134", at=utc(2026, 2, 28, 22, 30))
    charge(g3, phase="preview", size="2K", amount="0.101", at=utc(2026, 2, 28, 23, 30))
    charge(g1, phase="preview", size="1K", amount="0.134", at=utc(2026, 3, 2, 10))
    charge(g1, phase="final", size="4K", amount="0.24", at=utc(2026, 3, 2, 11), waste=True)
    charge(g1, phase="final", size="4K", amount="0.24", at=utc(2026, 3, 2, 12))
    charge(g2, phase="preview", size="1K", amount="0.134", at=utc(2026, 3, 3, 9))
    charge(
        g4, phase="preview", size="1K", amount="0.0335", at=utc(2026, 3, 4, 10),
        simulated=True, lane="batch",
    )  # fmt: skip
    correction(
        acme, kind="refund", amount="-0.134", at=utc(2026, 3, 5, 10), generation=g2,
        model_key=PRO, size="1K", phase="preview", reason="provider outage",
    )  # fmt: skip
    correction(beta, kind="adjustment", amount="0.50", at=utc(2026, 3, 6, 10), reason="invoice")
    charge(g3, phase="final", size="4K", amount="0.151", at=utc(2026, 3, 7, 23, 30))
    return Ledger(acme, beta, dana, eve, g0, g1, g2, g3, g4)
