"""Writers racing on the same roll-up rows, on PostgreSQL: each in its own thread and
connection, all inside their transactions at once. Every increment lands (INSERT … ON
CONFLICT DO UPDATE waits for the other writer, then adds to its sum), and the same
attempt charged twice at once is charged — and counted — once.

(SQLite serialises writers with a file lock, so the race cannot be staged there.)
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from generations.models import Generation, LedgerEntry, SavingsRollup, SpendRollup
from generations.spend import ledger, rollups
from generations.states import State
from tests.support.spend import NB2, attempt, generation, utc

pytestmark = pytest.mark.django_db(transaction=True)
WRITERS = 4


@pytest.fixture(autouse=True)
def _postgres_only(price_list):
    if connection.vendor != "postgresql":
        pytest.skip("the concurrent race needs PostgreSQL (DATABASE_URL=postgres://…)")


def _race(work) -> list[BaseException]:
    """Run `work(n)` in WRITERS threads, each in a transaction that lingers after writing,
    so that every writer writes while the others' rows are still uncommitted."""
    ready = threading.Barrier(WRITERS, timeout=20)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            with transaction.atomic():
                ready.wait()
                work(n)
                time.sleep(0.2)
        except BaseException as error:  # noqa: BLE001 - the test reports it
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return errors


@pytest.mark.parametrize("repeat", range(3))
def test_concurrent_charges_on_one_roll_up_row_lose_no_increment(repeat, project, designer):
    # Four previews of one model, same day, same designer: one spend row, one savings row.
    calls = []
    for _ in range(WRITERS):
        g = generation(project, designer, NB2, State.PREVIEW_RENDERING)
        calls.append((g, attempt(g, phase="preview", size="1K", at=utc(2026, 3, 2, 10))))

    errors = _race(
        lambda n: ledger.ledger_charge_attempt(attempt=calls[n][1], generation=calls[n][0])
    )

    assert errors == []
    spend = SpendRollup.objects.get()
    assert (spend.entries, spend.images, spend.charges_e4) == (WRITERS, WRITERS, WRITERS * 670)
    work = SavingsRollup.objects.get()
    assert (work.previewed, work.net_e4) == (WRITERS, WRITERS * 670)
    assert rollups.rollups_check().clean


@pytest.mark.parametrize("repeat", range(3))
def test_one_attempt_charged_by_racing_deliveries_counts_once(repeat, project, designer):
    g = generation(project, designer, NB2, State.PREVIEW_RENDERING)
    call = attempt(g, phase="preview", size="1K", at=utc(2026, 3, 2, 10))
    generation_row = Generation.objects.get(pk=g.pk)

    errors = _race(lambda n: ledger.ledger_charge_attempt(attempt=call, generation=generation_row))

    assert errors == []
    assert LedgerEntry.objects.filter(attempt=call).count() == 1
    spend = SpendRollup.objects.get()
    assert (spend.entries, spend.images, spend.charges_e4) == (1, 1, 670)
    assert SavingsRollup.objects.get().previewed == 1
    assert rollups.rollups_check().clean
