"""References through the worker onto the wire (fake provider server): each reference's
stored bytes, in the order chosen, with its mime type — Gemini inlineData parts before the
text, OpenAI-compatible /v1/images/edits with one image[] part each — on previews and on
finals (after the approved preview, within the model's limit); counted on the attempt and
charged at the list's input_image price through the reservation."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from generations import references, services
from generations.models import LedgerEntry, Phase, Reservation
from generations.providers.base import EDIT_INSTRUCTION, escalation_prompt
from generations.review.decisions import generation_approve
from generations.states import State
from tests.support import hosted, pictures
from tests.support.hosted import KEY_ENV, MODEL_KEY, PROMPT, SECRET, configure, reload, render
from tests.support.provider_server import (
    OPENAI_EDITS_PATH,
    FormFile,
    gemini_ok,
    openai_ok,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _key_and_prices(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    hosted.price_list_for_finals_from_previews()


def _uploads(designer, project):
    jpeg = references.upload_create(
        project=project, user=designer, data=pictures.jpeg(320, 200), filename="boat.jpg"
    )
    png = references.upload_create(
        project=project, user=designer, data=pictures.png(200, 320, colour=(20, 160, 40)),
        filename="sky.png",
    )  # fmt: skip
    return [png, jpeg]  # chosen in this order


def _stored(upload) -> bytes:
    with upload.original.open("rb") as handle:
        return handle.read()


def _submit(designer, project, chosen, **kwargs):
    return services.submission_create(
        project=project, user=designer, prompt=PROMPT, model_key=MODEL_KEY,
        aspect_ratio="1:1", preview_size="1K", variants=kwargs.pop("variants", 1),
        pictures=chosen, **kwargs,
    )  # fmt: skip


def test_gemini_preview_sends_the_references_in_order_before_the_text_and_charges_them(
    settings, provider_server, designer, project
):
    configure(settings, provider_server.url)
    provider_server.script(gemini_ok())
    chosen = _uploads(designer, project)
    submission = _submit(designer, project, chosen)
    generation = submission.generations.get()
    # Reserved with the preview: the image and two input images.
    reservation = Reservation.objects.get(generation=generation, phase=Phase.PREVIEW)
    assert reservation.amount_usd == Decimal("0.1362")

    assert render(generation) == State.IN_REVIEW

    (sent,) = provider_server.requests
    parts = sent.json["contents"][0]["parts"]
    assert [list(part) for part in parts] == [["inlineData"], ["inlineData"], ["text"]]
    assert [part["inlineData"]["mimeType"] for part in parts[:2]] == ["image/png", "image/jpeg"]
    assert [base64.b64decode(part["inlineData"]["data"]) for part in parts[:2]] == [
        _stored(upload) for upload in chosen
    ]
    assert parts[2] == {"text": PROMPT}
    attempt = reload(generation).attempts.get()
    assert attempt.input_images == 2
    charge = LedgerEntry.objects.get(attempt=attempt, kind="charge")
    assert (charge.unit_price, charge.amount_usd) == (Decimal("0.134"), Decimal("0.1362"))
    assert "includes 2 input images" in charge.reason


def test_gemini_final_sends_the_approved_preview_then_the_references(
    settings, provider_server, designer, reviewer, project
):
    configure(settings, provider_server.url)
    provider_server.script(gemini_ok(), gemini_ok())
    chosen = _uploads(designer, project)
    generation = _submit(designer, project, chosen).generations.get()
    render(generation)
    generation_approve(generation_id=generation.pk, user=reviewer)
    assert render(generation) == State.DELIVERED

    final = provider_server.requests[-1].json["contents"][0]["parts"]
    with reload(generation).images.get(phase=Phase.PREVIEW).original.open("rb") as handle:
        preview = handle.read()
    assert [base64.b64decode(part["inlineData"]["data"]) for part in final[:3]] == [
        preview,
        *(_stored(upload) for upload in chosen),
    ]
    assert final[3] == {"text": escalation_prompt(PROMPT)}
    attempt = reload(generation).attempts.get(phase=Phase.FINAL)
    assert attempt.input_images == 3
    assert LedgerEntry.objects.get(attempt=attempt, kind="charge").amount_usd == Decimal("0.2433")


def test_a_final_sends_no_more_inputs_than_the_model_takes_preview_first(
    settings, provider_server, designer, reviewer, project
):
    configure(settings, provider_server.url, max_input_images=2)
    provider_server.script(gemini_ok(), gemini_ok())
    chosen = _uploads(designer, project)
    generation = _submit(designer, project, chosen).generations.get()
    render(generation)
    generation_approve(generation_id=generation.pk, user=reviewer)
    render(generation)

    final = provider_server.requests[-1].json["contents"][0]["parts"]
    assert [list(part) for part in final] == [["inlineData"], ["inlineData"], ["text"]]
    assert base64.b64decode(final[1]["inlineData"]["data"]) == _stored(chosen[0])
    assert reload(generation).attempts.get(phase=Phase.FINAL).input_images == 2


def test_openai_preview_with_references_goes_to_edits_with_one_image_part_each(
    settings, provider_server, designer, project
):
    configure(
        settings, provider_server.url, provider="openai", model_id="nano-banana-pro-gw",
        max_input_images=4, openai_params={"size": "{width}x{height}", "seed": "{seed}"},
    )  # fmt: skip
    provider_server.script(openai_ok())
    chosen = _uploads(designer, project)
    generation = _submit(designer, project, chosen).generations.get()

    assert render(generation) == State.IN_REVIEW

    (sent,) = provider_server.requests
    assert (sent.method, sent.path) == ("POST", OPENAI_EDITS_PATH)
    form = sent.form
    assert form.fields["prompt"] == PROMPT
    assert form.fields["seed"] == str(generation.seed)
    assert form.files == [
        FormFile("image[]", "input-1-reference.png", "image/png", _stored(chosen[0])),
        FormFile("image[]", "input-2-reference.jpg", "image/jpeg", _stored(chosen[1])),
    ]


def test_more_references_than_the_model_takes_are_refused_and_nothing_is_made(
    settings, provider_server, designer, project
):
    configure(settings, provider_server.url, max_input_images=1)
    chosen = _uploads(designer, project)
    with pytest.raises(ValidationError) as refused:
        _submit(designer, project, chosen)
    assert refused.value.message_dict["references"] == [
        "Test Banana takes at most 1 reference image; 2 are attached. Remove 1, or choose "
        "a model that takes more."
    ]
    assert not project.submissions.exists()


def test_a_reference_from_another_project_is_refused(
    settings, provider_server, designer, outsider, project
):
    configure(settings, provider_server.url)
    elsewhere = outsider.memberships.get().project
    theirs = references.upload_create(project=elsewhere, user=outsider, data=pictures.png())
    with pytest.raises(ValidationError, match="another project"):
        _submit(designer, project, [theirs])
    assert not project.submissions.exists()


def test_an_edit_sends_its_source_first_with_the_edit_instruction(
    settings, provider_server, designer, reviewer, project
):
    configure(settings, provider_server.url)
    provider_server.script(gemini_ok(), gemini_ok())
    generation = _submit(designer, project, []).generations.get()
    render(generation)
    preview = reload(generation).images.get(phase=Phase.PREVIEW)

    edit = services.picture_edit(
        user=designer, token=f"i{preview.pk}", instruction="make the sky stormy, keep the boat"
    )
    edited = edit.generations.get()
    assert render(edited) == State.IN_REVIEW

    parts = provider_server.requests[-1].json["contents"][0]["parts"]
    with preview.original.open("rb") as handle:
        assert base64.b64decode(parts[0]["inlineData"]["data"]) == handle.read()
    assert parts[1]["text"].startswith(EDIT_INSTRUCTION)
    assert parts[1]["text"].endswith("make the sky stormy, keep the boat")
