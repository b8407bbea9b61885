"""A worker that was slow, not dead: its lease is reaped while its provider call runs. The
call still ends, and was paid for: the attempt must say how it ended (not "abandoned",
which is never charged) beside its one waste charge — the ledger equals the billed
attempts. Found by the chaos suite on a loaded machine."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from generations import services
from generations.models import Attempt, Generation, Image, LedgerEntry
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
    ("answer", "outcome"),
    [(OK, "discarded"), (ServerError("overloaded backend"), "failed")],
    ids=["success", "billed-failure"],
)
def test_a_call_that_outlived_its_lease_is_recorded_as_it_ended_and_charged_once(
    answer, outcome, project, designer, settings
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
    assert attempt.outcome == outcome
    charges = LedgerEntry.objects.filter(kind="charge")
    assert [(c.attempt_id, c.waste) for c in charges] == [(attempt.pk, True)]
    assert not Image.objects.exists()
    assert Generation.objects.get().state == "preview_queued", "the reaper's move stands"
