"""The Gemini provider against a fake Gemini on loopback: the request on the wire, every
answer and failure mapped to the right error, and — through generation_render — every
path ending in the right state, with the right attempts and messages, and no key leaked."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import logging
import os
import socket
import tracemalloc
from dataclasses import replace

import httpx
import pytest
from django.utils import timezone
from PIL import Image as PILImage

from generations.models import Attempt, FallbackPolicy, Phase
from generations.providers import http, provider_for
from generations.providers.base import (
    ESCALATION_INSTRUCTION,
    AuthFailed,
    ContentBlocked,
    DailyQuotaExhausted,
    InputImage,
    InputRole,
    InvalidRequest,
    MalformedResponse,
    NoImage,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ServerError,
    Timeout,
    escalation_prompt,
)
from generations.providers.gemini import GeminiProvider
from generations.review.decisions import generation_approve
from generations.states import State
from tests.support.fakes import png_bytes
from tests.support.hosted import (
    KEY_ENV,
    PROMPT,
    SECRET,
    assert_secret_nowhere,
    configure,
    make_due,
    make_request,
    reload,
    render,
    render_until_settled,
    submit,
)
from tests.support.provider_server import (
    GEMINI_IMAGE_TOKENS,
    GEMINI_USAGE,
    gemini_daily_quota,
    gemini_error,
    gemini_finish,
    gemini_image,
    gemini_internal,
    gemini_ok,
    gemini_path,
    gemini_prompt_blocked,
    gemini_rate_limited,
    gemini_text_only,
    gemini_unauthenticated,
    gemini_unavailable,
    json_reply,
    malformed,
    reset_mid_body,
    slow,
)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)


@pytest.fixture
def model(settings, provider_server):
    return configure(settings, provider_server.url)


@pytest.fixture
def gemini(model):
    provider = provider_for(model)
    assert isinstance(provider, GeminiProvider)
    return provider


def _png(width: int = 1024, height: int = 1024, **kwargs) -> bytes:
    return png_bytes(width, height, **kwargs)


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), (90, 140, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


# --- the request on the wire ----------------------------------------------------------


def test_the_request_has_the_documented_shape_and_the_key_only_in_a_header(gemini, provider_server):
    provider_server.script(gemini_ok())

    gemini.render(make_request(aspect_ratio="16:9", size="2K"))

    (sent,) = provider_server.requests
    assert sent.method == "POST"
    assert sent.path == "/v1beta/models/gemini-3-pro-image:generateContent"
    assert sent.query == ""
    assert sent.headers["x-goog-api-key"] == SECRET
    assert SECRET not in sent.path
    assert "key=" not in sent.path
    assert "authorization" not in sent.headers
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
            "seed": 7,
        },
    }


def test_a_1k_only_model_is_sent_no_image_size(settings, provider_server):
    model = configure(
        settings,
        provider_server.url,
        model_id="gemini-2.5-flash-image",
        sizes=["1K"],
        preview_sizes=["1K"],
        final_size="1K",
    )
    provider_server.script(gemini_ok())

    provider_for(model).render(make_request(model_id="gemini-2.5-flash-image"))

    (sent,) = provider_server.requests
    assert sent.path == gemini_path("gemini-2.5-flash-image")
    assert sent.json["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1"}


def test_a_1k_only_model_refuses_a_4k_request_without_calling(settings, provider_server):
    model = configure(
        settings, provider_server.url, sizes=["1K"], preview_sizes=["1K"], final_size="1K"
    )

    with pytest.raises(InvalidRequest, match="renders 1K only; it cannot make a 4K image"):
        provider_for(model).render(make_request(size="4K"))

    assert provider_server.requests == []


def test_a_missing_key_fails_as_auth_without_calling(gemini, provider_server, monkeypatch):
    monkeypatch.delenv(KEY_ENV)

    with pytest.raises(AuthFailed, match=f"{KEY_ENV} is not set"):
        gemini.render(make_request())

    assert provider_server.requests == []


def test_every_attempt_gets_its_own_timeouts():
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, content=gemini_image(_png(64, 64)).body)

    model = _entry()
    provider = GeminiProvider(model, transport=httpx.MockTransport(handler))
    provider.render(make_request(timeout_s=660))
    provider.render(make_request(timeout_s=60))

    assert seen == [
        {"connect": 10.0, "read": 660.0, "write": 30.0, "pool": 10.0},
        {"connect": 10.0, "read": 60.0, "write": 30.0, "pool": 10.0},
    ]


def test_a_compressed_answer_is_read_whole():
    body = gemini_image(_png(256, 256)).body

    def handler(request: httpx.Request) -> httpx.Response:
        # Content-Length is the compressed size here: it must not size the buffer.
        return httpx.Response(
            200, content=gzip.compress(body), headers={"content-encoding": "gzip"}
        )

    result = GeminiProvider(_entry(), transport=httpx.MockTransport(handler)).render(make_request())

    assert (result.width, result.height) == (256, 256)


def test_back_to_back_calls_reuse_one_connection(model, provider_server):
    provider_server.script(gemini_ok(), gemini_ok())

    # Two provider objects, as two attempts get: the pool is shared per base URL.
    provider_for(model).render(make_request())
    provider_for(model).render(make_request())

    first, second = provider_server.requests
    assert first.client_port == second.client_port


def _entry():
    from generations import catalog

    return catalog.ModelEntry(
        key="mock",
        label="Mock Banana",
        provider="gemini",
        model_id="gemini-3-pro-image",
        configured_provider="gemini",
        base_url="http://gemini.invalid",
        api_key_env=KEY_ENV,
    )


# --- the seed and input images ---------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 7, 2**31 - 1])
def test_every_request_carries_the_seed_as_an_integer(gemini, provider_server, seed):
    provider_server.script(gemini_ok())

    gemini.render(replace(make_request(), seed=seed))

    (sent,) = provider_server.requests
    assert b'"seed":%d' % seed in sent.body  # a JSON number on the wire, not a string
    assert sent.json["generationConfig"]["seed"] == seed


def test_input_images_go_before_the_text_as_inline_data_in_order(gemini, provider_server):
    preview = InputImage.from_bytes(_png(1024, 1024), role=InputRole.APPROVED_PREVIEW)
    references = (
        InputImage.from_bytes(_jpeg(640, 480)),
        InputImage.from_bytes(_png(300, 200, color=(10, 60, 200))),
    )
    provider_server.script(gemini_ok())

    gemini.render(make_request(size="4K").from_preview(preview, references=references))

    (sent,) = provider_server.requests
    parts = sent.json["contents"][0]["parts"]
    assert [list(part) for part in parts] == [["inlineData"]] * 3 + [["text"]]
    assert [part["inlineData"]["mimeType"] for part in parts[:3]] == [
        "image/png",
        "image/jpeg",
        "image/png",
    ]
    # Exactly the bytes given, standard base64, in the order given.
    for part, image in zip(parts, (preview, *references), strict=False):
        assert part["inlineData"]["data"] == base64.b64encode(image.data).decode()
    assert sent.inline_images == [(i.mime_type, i.data) for i in (preview, *references)]
    assert parts[3]["text"] == escalation_prompt(PROMPT)
    assert sent.json["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": "1:1", "imageSize": "4K"},
        "seed": 7,
    }


def test_a_final_from_the_preview_is_the_prompt_and_seed_with_one_instruction(
    gemini, provider_server
):
    preview = InputImage.from_bytes(_png(2048, 2048))
    provider_server.script(gemini_ok(), gemini_ok())

    gemini.render(make_request(size="2K"))
    gemini.render(make_request(size="4K").from_preview(preview))

    approved, final = (r.json for r in provider_server.requests)
    text = final["contents"][0]["parts"][-1]["text"]
    assert text == f"{ESCALATION_INSTRUCTION}\n\n{PROMPT}"
    assert "Reproduce" in text and "composition" in text
    assert final["generationConfig"]["seed"] == approved["generationConfig"]["seed"]


def test_usage_with_input_images_is_kept_with_their_tokens(gemini, provider_server):
    preview = InputImage.from_bytes(_png(2048, 2048), role=InputRole.APPROVED_PREVIEW)
    provider_server.script(gemini_ok())

    result = gemini.render(make_request(size="4K").from_preview(preview))

    usage = result.meta["usageMetadata"]
    assert usage["promptTokenCount"] == GEMINI_USAGE["promptTokenCount"] + GEMINI_IMAGE_TOKENS
    assert {"modality": "IMAGE", "tokenCount": GEMINI_IMAGE_TOKENS} in usage["promptTokensDetails"]
    assert result.meta["inputs"] == [
        {
            "role": "approved preview",
            "mime_type": "image/png",
            "width": 2048,
            "height": 2048,
            "bytes": len(preview.data),
        }
    ]
    assert result.notes == []


def test_an_input_over_the_request_limit_is_downscaled_keeping_its_aspect_ratio(
    settings, provider_server
):
    model = configure(settings, provider_server.url, max_request_bytes=2**20 // 4)
    big = InputImage.from_bytes(_noise_png(800, 400), role=InputRole.APPROVED_PREVIEW)
    small = InputImage.from_bytes(_png(64, 64))
    assert len(big.data) > 2**20 // 2  # alone it is twice the limit
    provider_server.script(gemini_ok())

    result = provider_for(model).render(
        make_request(size="2K").from_preview(big, references=(small,))
    )

    (sent,) = provider_server.requests
    assert len(sent.body) <= 2**20 // 4
    (mime, data), (_, untouched) = sent.inline_images
    sent_image = PILImage.open(io.BytesIO(data))
    width, height = sent_image.size
    assert (mime, sent_image.format) == ("image/png", "PNG")
    assert 200 < width < 800 and abs(width / height - 2) < 0.01
    assert untouched == small.data  # the small reference is left alone
    assert result.notes == [
        f"input image 1 (approved preview) downscaled from 800×400 to {width}×{height} "
        "to fit Gemini's 0.25 MB request limit"
    ]
    assert result.meta["inputs"][0] | {"bytes": 0} == {
        "role": "approved preview",
        "mime_type": "image/png",
        "width": width,
        "height": height,
        "bytes": 0,
    }


def test_inputs_that_cannot_fit_even_downscaled_are_refused_without_calling(
    settings, provider_server
):
    model = configure(settings, provider_server.url, max_request_bytes=4096)
    preview = InputImage.from_bytes(_noise_png(800, 400), role=InputRole.APPROVED_PREVIEW)

    with pytest.raises(InvalidRequest, match="shrink below 256 px to fit Gemini's"):
        provider_for(model).render(make_request().from_preview(preview))

    assert provider_server.requests == []


@pytest.mark.parametrize(
    ("entry", "count", "words"),
    [
        (
            {"model_id": "gemini-2.5-flash-image", "sizes": ["1K"], "final_size": "1K"},
            4,
            "Test Banana takes at most 3 input images per request; this one has 4.",
        ),
        (
            {"max_input_images": 0},
            1,
            "Test Banana takes no input images, so it cannot render from the approved preview",
        ),
    ],
    ids=["more-than-2.5-flash-takes", "none-at-all"],
)
def test_more_input_images_than_the_model_takes_are_refused_without_calling(
    settings, provider_server, entry, count, words
):
    model = configure(settings, provider_server.url, **entry)
    preview, *references = (InputImage.from_bytes(_png(64, 64)) for _ in range(count))
    request = make_request(model_id=model.model_id)

    with pytest.raises(InvalidRequest) as caught:
        provider_for(model).render(request.from_preview(preview, references=tuple(references)))

    assert words in caught.value.message
    assert caught.value.retryable is False
    assert provider_server.requests == []


def test_a_failed_call_with_input_images_still_says_what_was_sent(gemini, provider_server):
    preview = InputImage.from_bytes(_png(1024, 1024), role=InputRole.APPROVED_PREVIEW)
    provider_server.script(gemini_unavailable())

    with pytest.raises(Overloaded) as caught:
        gemini.render(make_request(size="4K").from_preview(preview))

    assert caught.value.meta["inputs"][0]["role"] == "approved preview"


# --- a 200 answer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aspect_ratio", "size", "pixels"),
    [("1:1", "1K", (1024, 1024)), ("16:9", "2K", (2752, 1536)), ("21:9", "1K", (1584, 672))],
)
def test_an_image_comes_back_at_the_exact_size_with_its_metadata(
    gemini, provider_server, aspect_ratio, size, pixels
):
    provider_server.script(gemini_ok())

    result = gemini.render(make_request(aspect_ratio=aspect_ratio, size=size))

    assert (result.width, result.height) == pixels
    assert result.mime_type == "image/png"
    assert PILImage.open(io.BytesIO(result.data)).size == pixels
    assert result.meta == {
        "usageMetadata": GEMINI_USAGE,
        "modelVersion": "gemini-3-pro-image-preview",
        "responseId": "resp-fake-1",
    }


def test_a_thought_image_is_skipped_for_the_real_one(gemini, provider_server):
    real, interim = _png(color=(10, 200, 10)), _png(color=(200, 10, 10))
    provider_server.script(gemini_image(real, thought=interim, text="Here you go."))

    assert gemini.render(make_request()).data == real


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (gemini_prompt_blocked("SAFETY"), ContentBlocked, "The prompt was blocked (SAFETY)"),
        (gemini_prompt_blocked("PROHIBITED_CONTENT"), ContentBlocked, "prohibited content"),
        (gemini_finish("SAFETY"), ContentBlocked, "Blocked by Gemini (SAFETY)"),
        (gemini_finish("IMAGE_SAFETY"), ContentBlocked, "image safety filter withheld"),
        (gemini_finish("IMAGE_PROHIBITED_CONTENT"), ContentBlocked, "prohibited content"),
        (gemini_finish("NO_IMAGE"), NoImage, "No image (NO_IMAGE)"),
        (gemini_finish("IMAGE_OTHER"), NoImage, "No image (IMAGE_OTHER)"),
        (gemini_text_only("I can only describe it."), NoImage, "“I can only describe it.”"),
    ],
)
def test_a_block_or_an_answer_without_an_image_is_not_retryable(
    gemini, provider_server, reply, error, words
):
    provider_server.script(reply)

    with pytest.raises(error) as caught:
        gemini.render(make_request())

    assert words in caught.value.message
    assert caught.value.retryable is False
    assert isinstance(caught.value, ContentBlocked)
    assert caught.value.meta["responseId"].startswith("resp-")


def test_a_block_explains_itself_with_googles_message_when_there_is_one(gemini, provider_server):
    provider_server.script(gemini_finish("IMAGE_SAFETY", message="Depicts a real person."))

    with pytest.raises(ContentBlocked) as caught:
        gemini.render(make_request())

    assert caught.value.message == (
        "Blocked by Gemini (IMAGE_SAFETY): Gemini's image safety filter withheld the "
        "picture. Rephrase the prompt. Depicts a real person."
    )


@pytest.mark.parametrize(
    "reply",
    [
        malformed(),
        json_reply({"candidates": []}),
        json_reply(["not", "an", "object"]),
        json_reply(
            {"candidates": [{"content": {"parts": [{"inlineData": {"data": "@@not base64@@!"}}]}}]}
        ),
    ],
    ids=["cut-json", "no-candidates", "not-an-object", "bad-base64"],
)
def test_a_garbled_answer_is_a_retryable_malformed_response(gemini, provider_server, reply):
    provider_server.script(reply)

    with pytest.raises(MalformedResponse) as caught:
        gemini.render(make_request())

    assert caught.value.retryable is True


# --- errors ---------------------------------------------------------------------------


def test_a_429_waits_for_the_retry_delay_google_gives(gemini, provider_server):
    provider_server.script(gemini_rate_limited("37s"))

    with pytest.raises(RateLimited) as caught:
        gemini.render(make_request())

    assert caught.value.retry_after == 37.0
    assert caught.value.retryable is True
    assert "429 RESOURCE_EXHAUSTED" in caught.value.message


def test_a_used_up_daily_quota_is_not_retried_and_names_the_quota(gemini, provider_server):
    provider_server.script(gemini_daily_quota("GenerateRequestsPerDayPerProjectPerModel"))

    with pytest.raises(QuotaExhausted) as caught:
        gemini.render(make_request())

    assert caught.value.retryable is False
    assert "GenerateRequestsPerDayPerProjectPerModel" in caught.value.message
    assert "admin" in caught.value.message


def test_a_daily_quota_named_only_by_its_metric_is_still_daily(gemini, provider_server):
    # As Gemini answers a free tier: the per-minute and per-day quotas in one answer, the
    # day one's id with a suffix; or the metric alone saying per_day.
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota.",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        },
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_requests_per_model_per_day",
                            "quotaId": "GenerateRequestsPerProjectPerModel",
                        },
                    ],
                }
            ],
        }
    }
    provider_server.script(json_reply(body, status=429))

    with pytest.raises(DailyQuotaExhausted) as caught:
        gemini.render(make_request())

    assert "generate_requests_per_model_per_day" in caught.value.message


@pytest.mark.parametrize(
    ("reply", "error", "retryable", "words"),
    [
        (gemini_unavailable(), Overloaded, True, "Gemini is overloaded (503 UNAVAILABLE)"),
        (gemini_internal(), ServerError, True, "Gemini failed (500 INTERNAL)"),
        (gemini_error(504, "DEADLINE_EXCEEDED", "Deadline."), ServerError, True, "504"),
        (
            gemini_error(400, "INVALID_ARGUMENT", "Unsupported aspect ratio."),
            InvalidRequest,
            False,
            "rejected the request (400 INVALID_ARGUMENT). Unsupported aspect ratio.",
        ),
        (gemini_unauthenticated(), AuthFailed, False, f"API key in {KEY_ENV} (401"),
        (
            gemini_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."),
            AuthFailed,
            False,
            "403 PERMISSION_DENIED",
        ),
        (
            gemini_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                    }
                ],
            ),
            AuthFailed,
            False,
            "API key not valid",
        ),
        (
            gemini_error(404, "NOT_FOUND", "models/gemini-3-pro-image is not found."),
            InvalidRequest,
            False,
            "has no model 'gemini-3-pro-image' (404 NOT_FOUND): the model id in "
            "STUDIO_MODELS['hosted-test'] is wrong or retired",
        ),
    ],
    ids=["503", "500", "504", "400", "401", "403", "400-bad-key", "404"],
)
def test_errors_map_to_the_taxonomy(gemini, provider_server, reply, error, retryable, words):
    provider_server.script(reply)

    with pytest.raises(error) as caught:
        gemini.render(make_request())

    assert caught.value.retryable is retryable
    assert words in caught.value.message


def test_an_answer_slower_than_the_attempt_timeout_is_a_timeout(gemini, provider_server):
    provider_server.script(slow(gemini_image(_png()), 3.0))

    with pytest.raises(Timeout, match=r"within 0\.3 s \(timed out waiting for the answer\)"):
        gemini.render(make_request(timeout_s=0.3))


def test_a_connection_reset_mid_body_is_a_retryable_server_error(gemini, provider_server):
    provider_server.script(reset_mid_body(gemini_image(_png())))

    with pytest.raises(ServerError) as caught:
        gemini.render(make_request())

    assert caught.value.retryable is True
    assert "broke before the answer was complete" in caught.value.message


def test_a_server_that_is_not_there_is_a_retryable_server_error(settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = configure(settings, f"http://127.0.0.1:{port}")

    with pytest.raises(ServerError, match="Could not connect to Gemini"):
        GeminiProvider(model).render(make_request())


def test_a_key_the_server_echoes_back_is_redacted(gemini, provider_server):
    provider_server.script(
        gemini_error(400, "INVALID_ARGUMENT", f"API key {SECRET} has expired; renew it.")
    )

    with pytest.raises(ProviderError) as caught:
        gemini.render(make_request())

    assert SECRET not in str(caught.value)
    assert SECRET not in caught.value.message
    assert "[redacted]" in caught.value.message


# --- memory ---------------------------------------------------------------------------


def _noise_png(width: int, height: int | None = None) -> bytes:
    """A PNG of random pixels (incompressible): about 3 bytes a pixel."""
    size = (width, height or width)
    image = PILImage.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def test_a_large_response_peaks_under_three_times_the_image(gemini, provider_server):
    image = _noise_png(int((8 * 2**20 / 3) ** 0.5))  # about 8 MB
    provider_server.script(gemini_image(image))  # the JSON body is built before measuring

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = gemini.render(make_request(timeout_s=30))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    ratio = peak / len(image)
    print(f"gemini: {len(image) / 2**20:.1f} MB image, peak {peak / 2**20:.1f} MB = {ratio:.2f}×")
    assert hashlib.sha256(result.data).digest() == hashlib.sha256(image).digest()
    assert ratio <= 3.0


# --- through the worker step: every path ends in the right state ----------------------

OK_1K = gemini_image(png_bytes(1024, 1024))

# (id, script, final state, error kinds per attempt ("" = succeeded), words in last_error)
PATHS = [
    ("success", [gemini_ok()], State.IN_REVIEW, [""], ""),
    (
        "429-then-ok",
        [gemini_rate_limited("37s"), gemini_ok()],
        State.IN_REVIEW,
        ["rate_limited", ""],
        "",
    ),
    # A daily quota pauses the model until it resets: tests/generations/rendering/
    # test_quota_pause.py.
    (
        "503-twice",
        [gemini_unavailable(), gemini_unavailable()],
        State.PREVIEW_FAILED,
        ["overloaded", "overloaded"],
        "Gemini is overloaded",
    ),
    ("500-then-ok", [gemini_internal(), gemini_ok()], State.IN_REVIEW, ["server_error", ""], ""),
    ("slow-then-ok", [slow(OK_1K, 4.0), gemini_ok()], State.IN_REVIEW, ["timeout", ""], ""),
    (
        "reset-then-ok",
        [reset_mid_body(OK_1K), gemini_ok()],
        State.IN_REVIEW,
        ["server_error", ""],
        "",
    ),
    (
        "malformed-twice",
        [malformed(), malformed()],
        State.PREVIEW_FAILED,
        ["malformed_response", "malformed_response"],
        "not valid JSON",
    ),
    (
        "image-safety",
        [gemini_finish("IMAGE_SAFETY")],
        State.PREVIEW_FAILED,
        ["content_blocked"],
        "Blocked by Gemini (IMAGE_SAFETY)",
    ),
    (
        "prompt-blocked",
        [gemini_prompt_blocked()],
        State.PREVIEW_FAILED,
        ["content_blocked"],
        "The prompt was blocked (SAFETY)",
    ),
    (
        "text-only",
        [gemini_text_only("No.")],
        State.PREVIEW_FAILED,
        ["no_image"],
        "text instead of an image",
    ),
    (
        "thought-then-real",
        [gemini_image(png_bytes(1024, 1024), thought=png_bytes(64, 64))],
        State.IN_REVIEW,
        [""],
        "",
    ),
    (
        "401",
        [gemini_unauthenticated()],
        State.PREVIEW_FAILED,
        ["auth_failed"],
        f"API key in {KEY_ENV}",
    ),
    (
        "404",
        [gemini_error(404, "NOT_FOUND", "Not found.")],
        State.PREVIEW_FAILED,
        ["invalid_request"],
        "model id",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("script", "state", "kinds", "words"), [p[1:] for p in PATHS], ids=[p[0] for p in PATHS]
)
def test_every_path_ends_in_the_right_state(
    model, provider_server, designer, project, caplog, script, state, kinds, words
):
    caplog.set_level(logging.DEBUG)
    provider_server.script(*script)
    generation = submit(designer, project)

    render_until_settled(generation)

    stored = reload(generation)
    assert stored.state == state
    attempts = list(stored.attempts.all())
    assert [a.error_kind for a in attempts] == kinds
    assert [a.provider for a in attempts] == ["gemini"] * len(kinds)
    assert len(provider_server.requests) == len(kinds)
    assert provider_server.pending == 0
    assert words in stored.last_error
    if kinds[-1]:
        assert words in attempts[-1].error_message
        assert stored.waiting_reason == ""
    else:
        assert attempts[-1].outcome == Attempt.Outcome.SUCCEEDED
        assert attempts[-1].provider_meta["responseId"] == "resp-fake-1"
        assert stored.images.get().note == ""
    if kinds[-1] and len(kinds) == 1 and state == State.PREVIEW_FAILED:
        assert "no tries left" not in stored.transitions.last().reason
    assert all(request.headers["x-goog-api-key"] == SECRET for request in provider_server.requests)
    assert_secret_nowhere(SECRET, caplog=caplog)


@pytest.mark.django_db
def test_a_429_backs_off_for_at_least_the_retry_delay(model, provider_server, designer, project):
    provider_server.script(gemini_rate_limited("37s"))
    generation = submit(designer, project)

    before = timezone.now()
    assert render(generation) == State.PREVIEW_QUEUED

    stored = reload(generation)
    assert stored.next_attempt_at >= before + dt.timedelta(seconds=37)
    assert stored.waiting_reason.startswith("Waiting for rate limit")
    assert stored.tries_used == 0  # a 429 uses up no try


@pytest.mark.django_db
def test_a_thought_image_never_becomes_the_preview(model, provider_server, designer, project):
    real = png_bytes(1024, 1024, color=(20, 160, 220))
    provider_server.script(gemini_image(real, thought=png_bytes(1024, 1024, color=(1, 1, 1))))
    generation = submit(designer, project)

    assert render(generation) == State.IN_REVIEW

    assert reload(generation).images.get().sha256 == hashlib.sha256(real).hexdigest()


@pytest.mark.django_db
def test_a_wrong_pixel_size_is_kept_with_a_note(model, provider_server, designer, project):
    provider_server.script(gemini_image(png_bytes(512, 512)))
    generation = submit(designer, project)

    assert render(generation) == State.IN_REVIEW

    image = reload(generation).images.get()
    assert (image.width, image.height) == (512, 512)
    assert image.note == "asked for 1024×1024, got 512×512"


@pytest.mark.django_db
def test_a_wrong_mime_type_is_recorded_on_the_image(model, provider_server, designer, project):
    provider_server.script(gemini_image(png_bytes(1024, 1024), mime_type="image/jpeg"))
    generation = submit(designer, project)

    assert render(generation) == State.IN_REVIEW

    image = reload(generation).images.get()
    assert image.mime_type == "image/png"  # what the bytes are, not what was claimed
    assert image.note == "provider said image/jpeg, got image/png"


@pytest.mark.django_db
def test_blocked_attempts_keep_the_providers_metadata(model, provider_server, designer, project):
    provider_server.script(gemini_finish("IMAGE_SAFETY"))
    generation = submit(designer, project)

    render(generation)

    attempt = reload(generation).attempts.get()
    assert attempt.provider_meta["responseId"] == "resp-finish"
    assert attempt.provider_meta["usageMetadata"] == GEMINI_USAGE


@pytest.mark.django_db
def test_an_approved_preview_is_delivered_at_native_4k_from_gemini(
    model, provider_server, designer, reviewer, project
):
    provider_server.script(gemini_ok(), gemini_ok())
    generation = submit(designer, project, aspect_ratio="16:9")
    assert render(generation) == State.IN_REVIEW
    generation_approve(generation_id=generation.pk, user=reviewer)

    assert render(generation) == State.DELIVERED

    final = reload(generation).images.get(phase=Phase.FINAL)
    assert (final.width, final.height, final.native, final.note) == (5504, 3072, True, "")
    sizes = [
        r.json["generationConfig"]["imageConfig"]["imageSize"] for r in provider_server.requests
    ]
    assert sizes == ["1K", "4K"]


@pytest.mark.django_db
def test_a_1k_only_model_asked_for_a_4k_final_falls_back_without_a_call(
    settings, provider_server, designer, reviewer, project
):
    # Submit refuses a 1K-only model for a 4K project; but the registry can change under
    # a generation already in review (the model entry edited to 1K only). Its 4K final is
    # then refused by the provider before any call, and the project's fallback decides.
    configure(settings, provider_server.url, model_id="gemini-2.5-flash-image")
    project.fallback_policy = FallbackPolicy.DELIVER_PREVIEW
    project.save()
    provider_server.script(gemini_ok())
    generation = submit(designer, project)
    assert render(generation) == State.IN_REVIEW
    configure(
        settings,
        provider_server.url,
        model_id="gemini-2.5-flash-image",
        sizes=["1K"],
        preview_sizes=["1K"],
        final_size="1K",
    )
    generation_approve(generation_id=generation.pk, user=reviewer)

    assert render(generation) == State.DELIVERED_FALLBACK

    stored = reload(generation)
    assert len(provider_server.requests) == 1
    assert "renders 1K only" in stored.last_error
    assert stored.attempts.get(phase=Phase.FINAL).error_kind == "invalid_request"


@pytest.mark.django_db
def test_a_model_without_its_key_renders_locally_and_says_so(
    model, provider_server, designer, project, monkeypatch
):
    monkeypatch.delenv(KEY_ENV)
    generation = submit(designer, project)

    assert render(generation) == State.IN_REVIEW

    assert provider_server.requests == []
    assert reload(generation).attempts.get().provider == "local"


@pytest.mark.django_db
def test_retries_go_through_the_backoff_in_the_database(model, provider_server, designer, project):
    provider_server.script(gemini_unavailable(), gemini_ok())
    generation = submit(designer, project)

    assert render(generation) == State.PREVIEW_QUEUED
    assert render(generation) == "skipped", "still backing off"
    make_due(generation)
    assert render(generation) == State.IN_REVIEW

    assert len(provider_server.requests) == 2


def test_the_fake_server_serves_real_base64_pngs():
    reply = gemini_image(png_bytes(32, 16))
    part = reply.body.decode()
    assert base64.b64decode(
        __import__("json").loads(part)["candidates"][0]["content"]["parts"][0]["inlineData"]["data"]
    ).startswith(b"\x89PNG")


def test_close_clients_forgets_every_pool(model):
    first = http.shared_client(model.base_url)
    http.close_clients()
    assert http.shared_client(model.base_url) is not first
