"""Issue 13 through the API: a program approves with a chosen way of making the final,
reads how each attempt was made and how faithful the final is, and decides a final that
differs from its preview — through the same services as the pages."""

from __future__ import annotations

import pytest

from generations import services
from generations.models import LedgerEntry, Phase
from generations.rendering import jobs
from generations.states import State
from tests.support.drift import DRIFTING_PROMPT, DRIFTING_SEED

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch, project, price_list):
    quick = {"timeout": 30, "tries": 1, "base_delay": 1}
    settings.STUDIO_ATTEMPT_POLICY = {size: dict(quick) for size in ("1K", "2K", "4K")}
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    project.final_size = "2K"
    project.save()


def _in_review(project, designer):
    generation = services.submission_create(
        project=project, user=designer, prompt=DRIFTING_PROMPT, model_key="nano-banana-2",
        aspect_ratio="1:1", preview_size="1K", variants=1,
        seed=DRIFTING_SEED,  # its prompt-only final drifts (tests/support/drift.py)
    ).generations.get()  # fmt: skip
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == State.IN_REVIEW
    return generation


def test_approve_with_a_strategy_and_read_how_the_final_was_made(
    api_as, project, designer, reviewer
):
    generation = _in_review(project, designer)
    api = api_as(reviewer)

    body = api.post(f"/generations/{generation.pk}/approve", {"strategy": "from_preview"}).json()
    assert (body["state"], body["escalation_strategy"]) == ("final_queued", "from_preview")
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == State.DELIVERED

    body = api.get(f"/generations/{generation.pk}").json()
    final_attempt = [a for a in body["attempts"] if a["phase"] == "final"][0]
    assert (final_attempt["strategy"], final_attempt["input_images"]) == ("from_preview", 1)
    preview, final = (next(i for i in body["images"] if i["phase"] == p) for p in Phase.values)
    assert preview["fidelity"] is None
    assert final["fidelity"]["ssim"] >= 0.6  # made from the preview: what was approved
    assert 0 <= final["fidelity"]["hash_distance"] <= 64


def test_a_strategy_that_is_not_one_is_refused_and_nothing_is_reserved(
    api_as, project, designer, reviewer
):
    generation = _in_review(project, designer)

    response = api_as(reviewer).post(
        f"/generations/{generation.pk}/approve", {"strategy": "best_guess"}
    )

    assert response.status_code == 422
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW
    assert not generation.reservations.filter(phase=Phase.FINAL).exists()


def test_a_final_that_differs_is_decided_through_the_api(api_as, project, designer, reviewer):
    generation = _in_review(project, designer)
    api = api_as(reviewer)
    api.post(f"/generations/{generation.pk}/approve", {"strategy": "from_prompt"})
    assert jobs.generation_render(generation_id=generation.pk, worker="w") == State.FINAL_DIFFERS

    held = api.get(f"/generations/{generation.pk}").json()
    final = next(i for i in held["images"] if i["phase"] == "final")
    assert held["state"] == "final_differs"
    assert final["fidelity"]["ssim"] < 0.6

    # A designer may not decide it, and a choice that is not one is refused.
    denied = api_as(designer).post(
        f"/generations/{generation.pk}/final-differs", {"choice": "accept"}
    )
    assert denied.status_code == 403
    wrong = api.post(f"/generations/{generation.pk}/final-differs", {"choice": "keep"})
    assert wrong.status_code == 422

    charged_before = LedgerEntry.objects.filter(generation=generation).count()
    body = api.post(
        f"/generations/{generation.pk}/final-differs", {"choice": "accept", "note": "fine"}
    ).json()
    assert body["state"] == "delivered"
    assert LedgerEntry.objects.filter(generation=generation).count() == charged_before
    assert "fine" in body["timeline"][-1]["reason"]

    again = api.post(f"/generations/{generation.pk}/final-differs", {"choice": "accept"})
    assert again.status_code == 409
