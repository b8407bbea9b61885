"""A queued batch sends one message; a real worker fans it out into render kicks and
renders every row's previews."""

from __future__ import annotations

import pytest

from generations.batches import services
from generations.models import Generation
from generations.states import State
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CSV = (
    b"prompt,aspect_ratio,variants,model,preview_size\n"
    b"a ceramic mug on an oak table,1:1,2,nano-banana-pro,1K\n"
    b"a glass bottle on marble,16:9,1,nano-banana-2,1K\n"
)


def test_a_worker_renders_every_preview_of_a_queued_batch(celery_worker, project, designer):
    celery_worker.start(profile="fixed:latency=0.1,fail=0")
    batch = services.batch_plan_csv(project=project, user=designer, filename="b.csv", data=CSV)
    services.batch_queue(batch_id=batch.pk, user=designer)
    ours = Generation.objects.filter(submission__batch=batch)

    def all_in_review() -> bool:
        return set(ours.values_list("state", flat=True)) == {State.IN_REVIEW}

    wait_for(all_in_review, timeout=90, what="the batch's previews")
    assert ours.count() == 3
    assert "kicked 3 generations" in celery_worker.logs()
