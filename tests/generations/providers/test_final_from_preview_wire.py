"""The bytes a final made from the approved preview puts on the wire, through the worker
(generation_render with the configured provider) against the fake provider server:
the same seed as the preview, the preview's own bytes as the first image part with its
mime type, then the instruction and the prompt; the attempt records the strategy, the
input image and the usage the ledger can be checked against."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from generations.models import LedgerEntry, Phase
from generations.providers.base import ESCALATION_INSTRUCTION, escalation_prompt
from generations.review.decisions import generation_approve
from generations.states import State
from generations.strategies import Strategy
from tests.support import hosted
from tests.support.hosted import (
    KEY_ENV,
    PROMPT,
    SECRET,
    configure,
    reload,
    render,
    submit,
)
from tests.support.provider_server import (
    GEMINI_IMAGE_TOKENS,
    GEMINI_USAGE,
    OPENAI_EDITS_PATH,
    OPENAI_PATH,
    FormFile,
    gemini_ok,
    gemini_path,
    openai_ok,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _key_and_prices(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    hosted.price_list_for_finals_from_previews()


def _approved_and_rendered(designer, reviewer, project):
    generation = submit(designer, project)
    assert render(generation) == State.IN_REVIEW
    generation_approve(generation_id=generation.pk, user=reviewer)
    assert render(generation) == State.DELIVERED
    generation = reload(generation)
    with generation.images.get(phase=Phase.PREVIEW).original.open("rb") as handle:
        preview = handle.read()
    final_attempt = generation.attempts.get(phase=Phase.FINAL)
    return generation, preview, final_attempt


def test_gemini_final_carries_the_seed_and_the_preview_as_an_inline_part_before_the_text(
    settings, provider_server, designer, reviewer, project
):
    configure(settings, provider_server.url)
    provider_server.script(gemini_ok(), gemini_ok())

    generation, preview, attempt = _approved_and_rendered(designer, reviewer, project)

    first, final = provider_server.requests
    assert final.path == gemini_path("gemini-3-pro-image")
    # The preview itself: the same seed, no image part.
    assert first.json["generationConfig"]["seed"] == generation.seed
    assert [list(part) for part in first.json["contents"][0]["parts"]] == [["text"]]
    # The final: the same seed, the preview's exact bytes first, then the words.
    body = final.json
    assert body["generationConfig"]["seed"] == generation.seed
    assert isinstance(body["generationConfig"]["seed"], int)
    assert body["generationConfig"]["imageConfig"]["imageSize"] == "4K"
    image_part, text_part = body["contents"][0]["parts"]
    assert image_part["inlineData"]["mimeType"] == "image/png"
    assert base64.b64decode(image_part["inlineData"]["data"]) == preview
    assert text_part == {"text": escalation_prompt(PROMPT)}
    assert text_part["text"].startswith(ESCALATION_INSTRUCTION)
    # What the attempt and the ledger say about it.
    assert (attempt.strategy, attempt.input_images) == (Strategy.FROM_PREVIEW, 1)
    usage = attempt.provider_meta["usageMetadata"]
    assert usage["promptTokenCount"] == GEMINI_USAGE["promptTokenCount"] + GEMINI_IMAGE_TOKENS
    charge = LedgerEntry.objects.get(attempt=attempt, kind="charge")
    assert (charge.unit_price, charge.amount_usd) == (Decimal("0.24"), Decimal("0.2411"))
    assert "includes 1 input image" in charge.reason


def test_openai_final_goes_to_edits_as_multipart_with_the_preview_and_the_seed(
    settings, provider_server, designer, reviewer, project
):
    configure(
        settings,
        provider_server.url,
        provider="openai",
        model_id="nano-banana-pro-gw",
        max_input_images=4,
        openai_params={"size": "{width}x{height}", "seed": "{seed}"},
    )
    provider_server.script(openai_ok(), openai_ok())

    generation, preview, attempt = _approved_and_rendered(designer, reviewer, project)

    first, final = provider_server.requests
    assert (first.path, first.json["seed"]) == (OPENAI_PATH, generation.seed)
    assert (final.method, final.path) == ("POST", OPENAI_EDITS_PATH)
    assert final.headers["content-type"].startswith("multipart/form-data; boundary=")
    form = final.form
    assert form.fields == {
        "model": "nano-banana-pro-gw",
        "prompt": escalation_prompt(PROMPT),
        "size": "4096x4096",
        "n": "1",
        "response_format": "b64_json",
        "seed": str(generation.seed),
    }
    assert form.files == [
        FormFile("image[]", "input-1-approved-preview.png", "image/png", preview),
    ]
    assert (attempt.strategy, attempt.input_images) == (Strategy.FROM_PREVIEW, 1)
    charge = LedgerEntry.objects.get(attempt=attempt, kind="charge")
    assert charge.amount_usd == Decimal("0.2411")


def test_a_prompt_only_final_sends_no_image_but_the_same_seed(
    settings, provider_server, designer, reviewer, project
):
    configure(settings, provider_server.url)
    provider_server.script(gemini_ok(), gemini_ok())
    generation = submit(designer, project)
    assert render(generation) == State.IN_REVIEW
    generation_approve(generation_id=generation.pk, user=reviewer, strategy=Strategy.FROM_PROMPT)

    render(generation)

    final = provider_server.requests[-1].json
    assert [list(part) for part in final["contents"][0]["parts"]] == [["text"]]
    assert final["contents"][0]["parts"][0]["text"] == PROMPT
    assert final["generationConfig"]["seed"] == generation.seed
    attempt = reload(generation).attempts.get(phase=Phase.FINAL)
    assert (attempt.strategy, attempt.input_images) == (Strategy.FROM_PROMPT, 0)
    assert LedgerEntry.objects.get(attempt=attempt, kind="charge").amount_usd == Decimal("0.24")
