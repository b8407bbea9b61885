"""A worker that was slow, not dead: its lease is reaped while its provider call runs. The
call still ends. The reap is final (generations.spend.ledger): the attempt stays
"abandoned", which is never charged, because the reaper handed its reservation to the
next attempt — charging the late call as well would spend money no budget check allowed.
The late result is discarded and noted on the attempt, and the ledger still equals the
billed attempts (found by the chaos suite on a loaded machine; decided in issue 16)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from generations import services
from generations.models import Attempt, Generation, Image, LedgerEntry, Reservation
from generations.providers.base import ServerError
from generations.rendering.jobs import generation_render
from generations.tasks import sweep
from tests.support.fakes import OK, ScriptedProvider

pytestmark = pytest.mark.django_db


class ReapedDuringTheCall(ScriptedProvider):
    """The lease runs out and the sweeper reaps it while the call is under way."""

    def render(self, request):
        Generation.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
        sweep()
        assert Generation.objects.get().state == "preview_queued"
        return super().render(request)


@pytest.mark.parametrize(
    ("answer", "late"),
    [(OK, "discarded"), (ServerError("overloaded backend"), "failed")],
    ids=["success", "billed-failure"],
)
def test_a_call_that_outlived_its_lease_stays_abandoned_and_is_not_charged(
    answer, late, project, designer, settings
):
    settings.STUDIO_BILLED_FAILURES = {"local": ["server_error"]}
    services.submission_create(
        project=project,
        user=designer,
        prompt="a kite over salt flats",
        model_key="nano-banana-pro",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=1,
    )
    generation = Generation.objects.get()

    generation_render(
        generation_id=generation.pk, worker="slow", provider=ReapedDuringTheCall(answer)
    )

    attempt = Attempt.objects.get(generation=generation)
    assert attempt.outcome == "abandoned"
    assert f"a late result ({late}) came at" in attempt.error_message
    assert not LedgerEntry.objects.filter(kind="charge").exists()
    assert not Image.objects.exists()
    assert Generation.objects.get().state == "preview_queued", "the reaper's move stands"
    # The preview's reservation is still there, whole, for the next attempt.
    (reservation,) = Reservation.objects.all()
    assert reservation.status == "open"

    # The next attempt is charged once, from that reservation.
    generation_render(generation_id=generation.pk, worker="next", provider=ScriptedProvider(OK))
    (charge,) = LedgerEntry.objects.filter(kind="charge")
    assert charge.amount_usd == reservation.amount_usd
    assert Reservation.objects.get().status == "charged"
