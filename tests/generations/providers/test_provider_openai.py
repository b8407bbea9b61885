"""The OpenAI-compatible provider against a fake gateway on loopback: the request shape
and its per-model size template, every error mapped to the taxonomy, Retry-After
honoured, and the worker step ending in the right state without leaking the key."""

from __future__ import annotations

import email.utils
import hashlib
import io
import logging
import os
import time
import tracemalloc

import httpx
import pytest
from PIL import Image as PILImage

from generations.providers import provider_for
from generations.providers.base import (
    AuthFailed,
    ContentBlocked,
    InputImage,
    InvalidRequest,
    MalformedResponse,
    Overloaded,
    QuotaExhausted,
    RateLimited,
    ServerError,
    Timeout,
    escalation_prompt,
)
from generations.providers.openai import OpenAIProvider
from generations.states import State
from tests.support.fakes import png_bytes
from tests.support.hosted import (
    KEY_ENV,
    PROMPT,
    SECRET,
    assert_secret_nowhere,
    configure,
    make_request,
    reload,
    render,
    render_until_settled,
    submit,
)
from tests.support.provider_server import (
    OPENAI_EDITS_PATH,
    OPENAI_PATH,
    OPENAI_USAGE,
    FormFile,
    json_reply,
    malformed,
    openai_error,
    openai_image,
    openai_ok,
    reset_mid_body,
    slow,
)

MODEL_ID = "nano-banana-pro-gw"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)


def _configure(settings, server, **entry):
    return configure(settings, server.url, provider="openai", model_id=MODEL_ID, **entry)


@pytest.fixture
def model(settings, provider_server):
    return _configure(settings, provider_server)


@pytest.fixture
def gateway(model):
    provider = provider_for(model)
    assert isinstance(provider, OpenAIProvider)
    return provider


# --- the request on the wire ----------------------------------------------------------


def test_the_request_has_the_openai_shape_and_the_key_only_in_a_header(gateway, provider_server):
    provider_server.script(openai_ok())

    gateway.render(make_request(model_id=MODEL_ID, aspect_ratio="16:9", size="4K"))

    (sent,) = provider_server.requests
    assert (sent.method, sent.path, sent.query) == ("POST", OPENAI_PATH, "")
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in sent.path
    assert sent.json == {
        "model": MODEL_ID,
        "prompt": PROMPT,
        "n": 1,
        "size": "5504x3072",
        "response_format": "b64_json",
    }


@pytest.mark.parametrize(
    ("entry", "size", "expected"),
    [
        # A gateway that takes a fixed nominal size plus its own resolution field.
        (
            {"openai_params": {"size": "1024x1024", "image_size": "{size}"}},
            "4K",
            {"size": "1024x1024", "image_size": "4K"},
        ),
        # One that takes the aspect ratio as the size and a quality per resolution.
        (
            {
                "openai_params": {"size": "{aspect_ratio}", "quality": "standard"},
                "openai_params_by_size": {"4K": {"quality": "hd"}},
            },
            "4K",
            {"size": "16:9", "quality": "hd"},
        ),
        (
            {
                "openai_params": {"size": "{aspect_ratio}", "quality": "standard"},
                "openai_params_by_size": {"4K": {"quality": "hd"}},
            },
            "1K",
            {"size": "16:9", "quality": "standard"},
        ),
        ({"openai_params": {"resolution": "{size_lower}"}}, "2K", {"resolution": "2k"}),
    ],
    ids=["nominal-plus-image-size", "aspect-and-quality-4k", "aspect-and-quality-1k", "lower"],
)
def test_each_model_maps_the_resolution_its_own_way(
    settings, provider_server, entry, size, expected
):
    model = _configure(settings, provider_server, **entry)
    provider_server.script(openai_image(png_bytes(64, 64)))

    provider_for(model).render(make_request(model_id=MODEL_ID, aspect_ratio="16:9", size=size))

    body = provider_server.requests[0].json
    assert {name: body[name] for name in expected} == expected
    assert set(body) == {"model", "prompt", "n", "response_format", *expected}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"seed": "{seed}"}, 7),  # the whole value: sent as the integer
        ({"seed": "s{seed}"}, "s7"),  # inside text: formatted
        ({"width": "{width}"}, 1024),
    ],
    ids=["seed-int", "seed-text", "width-int"],
)
def test_a_template_can_send_the_seed(settings, provider_server, params, expected):
    model = _configure(
        settings, provider_server, openai_params={"size": "{width}x{height}", **params}
    )
    provider_server.script(openai_ok())

    provider_for(model).render(make_request(model_id=MODEL_ID))

    (sent,) = provider_server.requests
    (name,) = params
    assert sent.json[name] == expected
    assert type(sent.json[name]) is type(expected)


def test_without_a_seed_template_no_seed_is_sent(gateway, provider_server):
    # OpenAI's own endpoint refuses fields it does not know: seed only when the entry says.
    provider_server.script(openai_ok())

    gateway.render(make_request(model_id=MODEL_ID))

    assert "seed" not in provider_server.requests[0].json


def test_a_base_url_that_already_ends_in_v1_is_not_doubled(settings, provider_server):
    model = configure(settings, provider_server.url + "/v1", provider="openai", model_id=MODEL_ID)
    provider_server.script(openai_ok())

    provider_for(model).render(make_request(model_id=MODEL_ID))

    assert provider_server.requests[0].path == OPENAI_PATH


def test_a_gateway_without_a_key_gets_no_authorization_header(settings, provider_server):
    model = _configure(settings, provider_server, api_key_env="")
    provider_server.script(openai_ok())

    provider_for(model).render(make_request(model_id=MODEL_ID))

    assert "authorization" not in provider_server.requests[0].headers
    assert not model.simulated


# --- input images: /v1/images/edits -----------------------------------------------------


@pytest.fixture
def editor(settings, provider_server):
    """A gateway entry that takes input images and a seed."""
    model = _configure(
        settings,
        provider_server,
        max_input_images=4,
        openai_params={"size": "{width}x{height}", "seed": "{seed}"},
    )
    return provider_for(model)


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), (90, 140, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_input_images_go_to_edits_as_multipart_file_parts_in_order(editor, provider_server):
    preview = InputImage.from_bytes(png_bytes(2048, 2048))
    reference = InputImage.from_bytes(_jpeg(640, 480))
    provider_server.script(openai_ok())

    result = editor.render(
        make_request(model_id=MODEL_ID, size="4K").from_preview(preview, references=(reference,))
    )

    (sent,) = provider_server.requests
    assert (sent.method, sent.path, sent.query) == ("POST", OPENAI_EDITS_PATH, "")
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    form = sent.form
    assert form.fields == {
        "model": MODEL_ID,
        "prompt": escalation_prompt(PROMPT),
        "size": "4096x4096",
        "n": "1",
        "response_format": "b64_json",
        "seed": "7",
    }
    assert form.files == [
        FormFile("image[]", "input-1-approved-preview.png", "image/png", preview.data),
        FormFile("image[]", "input-2-reference.jpg", "image/jpeg", reference.data),
    ]
    assert (result.width, result.height) == (4096, 4096)
    assert [item["role"] for item in result.meta["inputs"]] == ["approved preview", "reference"]


def test_without_input_images_the_request_stays_json_on_generations(editor, provider_server):
    provider_server.script(openai_ok())

    editor.render(make_request(model_id=MODEL_ID, size="2K"))

    (sent,) = provider_server.requests
    assert sent.path == OPENAI_PATH
    assert sent.headers["content-type"] == "application/json"
    assert sent.json["seed"] == 7


def test_a_gateway_that_takes_no_input_images_refuses_them_without_calling(
    gateway, provider_server
):
    preview = InputImage.from_bytes(png_bytes(1024, 1024))

    with pytest.raises(InvalidRequest, match="takes no input images") as caught:
        gateway.render(make_request(model_id=MODEL_ID, size="4K").from_preview(preview))

    assert "render from the prompt and seed instead" in caught.value.message
    assert provider_server.requests == []


def test_an_input_over_the_request_limit_is_downscaled_for_edits_too(settings, provider_server):
    model = _configure(settings, provider_server, max_input_images=1, max_request_bytes=2**20 // 4)
    noise = PILImage.frombytes("RGB", (600, 900), os.urandom(600 * 900 * 3))
    big = InputImage.from_bytes(_encode(noise, "JPEG", quality=100))
    assert len(big.data) > 2**20 // 4
    provider_server.script(openai_ok())

    result = provider_for(model).render(make_request(model_id=MODEL_ID).from_preview(big))

    (sent,) = provider_server.requests
    assert len(sent.body) <= 2**20 // 4
    (part,) = sent.form.files
    sent_image = PILImage.open(io.BytesIO(part.data))
    assert (part.content_type, sent_image.format) == ("image/jpeg", "JPEG")
    assert abs(sent_image.width / sent_image.height - 600 / 900) < 0.01
    assert result.notes == [
        f"input image 1 (approved preview) downscaled from 600×900 to "
        f"{sent_image.width}×{sent_image.height} to fit the Test Banana gateway's "
        "0.25 MB request limit"
    ]


def test_an_error_from_edits_keeps_the_request_id_and_what_was_sent(editor, provider_server):
    provider_server.script(
        openai_error(400, "Invalid image.", param="image", headers={"x-request-id": "req_9"})
    )
    preview = InputImage.from_bytes(png_bytes(1024, 1024))

    with pytest.raises(InvalidRequest) as caught:
        editor.render(make_request(model_id=MODEL_ID).from_preview(preview))

    assert caught.value.meta["request_id"] == "req_9"
    assert caught.value.meta["inputs"][0]["bytes"] == len(preview.data)


def _encode(image: PILImage.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


# --- answers --------------------------------------------------------------------------


def test_an_image_comes_back_with_its_mime_type_from_the_bytes_and_metadata(
    gateway, provider_server
):
    provider_server.script(
        lambda request: openai_image(png_bytes(1024, 1024), revised_prompt="A lighthouse.")
    )

    result = gateway.render(make_request(model_id=MODEL_ID))

    assert (result.mime_type, result.width, result.height) == ("image/png", 1024, 1024)
    assert PILImage.open(io.BytesIO(result.data)).size == (1024, 1024)
    assert result.meta == {
        "created": 1767225600,
        "usage": OPENAI_USAGE,
        "request_id": "req_fake_1",
        "revised_prompt": "A lighthouse.",
    }


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (malformed(b'{"data": [{"b64_json": "iVBOR'), "not valid JSON"),
        (json_reply({"data": []}), "answered without an image"),
        (json_reply({"data": [{"url": "https://cdn.example/x.png"}]}), "a URL instead of base64"),
        (json_reply({"data": [{"b64_json": "%%%"}]}), "not valid base64"),
    ],
    ids=["cut-json", "no-data", "url-only", "bad-base64"],
)
def test_a_garbled_answer_is_a_malformed_response(gateway, provider_server, reply, words):
    provider_server.script(reply)

    with pytest.raises(MalformedResponse, match=words):
        gateway.render(make_request(model_id=MODEL_ID))


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "250", "retry-after": "7"}, 0.25),
        ({}, None),
    ],
    ids=["ms", "seconds", "ms-first", "none"],
)
def test_a_429_honours_retry_after(gateway, provider_server, headers, expected):
    provider_server.script(
        openai_error(429, "Rate limit reached.", type="requests", code=None, headers=headers)
    )

    with pytest.raises(RateLimited) as caught:
        gateway.render(make_request(model_id=MODEL_ID))

    assert caught.value.retry_after == expected
    assert caught.value.retryable is True


def test_a_retry_after_date_is_turned_into_seconds(gateway, provider_server):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    provider_server.script(
        openai_error(503, "Busy.", type="server_error", headers={"retry-after": when})
    )

    with pytest.raises(Overloaded) as caught:
        gateway.render(make_request(model_id=MODEL_ID))

    assert caught.value.retry_after == pytest.approx(30, abs=2)


@pytest.mark.parametrize(
    ("reply", "error", "retryable", "words"),
    [
        (
            openai_error(
                429,
                "You exceeded your current quota.",
                type="insufficient_quota",
                code="insufficient_quota",
            ),
            QuotaExhausted,
            False,
            "no quota left",
        ),
        (
            openai_error(
                400,
                "Your request was rejected by the safety system.",
                type="image_generation_user_error",
                code="moderation_blocked",
            ),
            ContentBlocked,
            False,
            "Blocked by Test Banana (400 moderation_blocked)",
        ),
        (
            openai_error(400, "Rejected.", code="content_policy_violation"),
            ContentBlocked,
            False,
            "content_policy_violation",
        ),
        (
            openai_error(400, "size must be one of …", param="size"),
            InvalidRequest,
            False,
            "rejected the request",
        ),
        (
            openai_error(401, "Incorrect API key provided.", code="invalid_api_key"),
            AuthFailed,
            False,
            f"API key in {KEY_ENV}",
        ),
        (
            openai_error(404, "The model does not exist.", code="model_not_found"),
            InvalidRequest,
            False,
            f"no model '{MODEL_ID}'",
        ),
        (
            openai_error(500, "The server had an error.", type="server_error"),
            ServerError,
            True,
            "failed",
        ),
        (openai_error(502, "Bad gateway.", type="server_error"), ServerError, True, "502"),
        (openai_error(503, "Overloaded.", type="server_error"), Overloaded, True, "overloaded"),
    ],
    ids=[
        "insufficient-quota",
        "moderation",
        "content-policy",
        "400",
        "401",
        "404",
        "500",
        "502",
        "503",
    ],
)
def test_errors_map_to_the_taxonomy(gateway, provider_server, reply, error, retryable, words):
    provider_server.script(reply)

    with pytest.raises(error) as caught:
        gateway.render(make_request(model_id=MODEL_ID))

    assert caught.value.retryable is retryable
    assert words in caught.value.message


def test_a_slow_gateway_is_a_timeout(gateway, provider_server):
    provider_server.script(slow(openai_image(png_bytes(64, 64)), 3.0))

    with pytest.raises(Timeout):
        gateway.render(make_request(model_id=MODEL_ID, timeout_s=0.3))


def test_a_reset_mid_body_is_a_retryable_server_error(gateway, provider_server):
    provider_server.script(reset_mid_body(openai_image(png_bytes(512, 512))))

    with pytest.raises(ServerError):
        gateway.render(make_request(model_id=MODEL_ID))


def test_a_key_echoed_in_an_error_is_redacted(gateway, provider_server):
    provider_server.script(openai_error(401, f"Incorrect API key provided: {SECRET}."))

    with pytest.raises(AuthFailed) as caught:
        gateway.render(make_request(model_id=MODEL_ID))

    assert SECRET not in str(caught.value)


def test_a_large_response_peaks_under_three_times_the_image(gateway, provider_server):
    edge = 1633  # ~8 MB of incompressible RGB
    noise = PILImage.frombytes("RGB", (edge, edge), os.urandom(edge * edge * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG", compress_level=1)
    image = buffer.getvalue()
    provider_server.script(openai_image(image))

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = gateway.render(make_request(model_id=MODEL_ID, timeout_s=30))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    ratio = peak / len(image)
    print(f"openai: {len(image) / 2**20:.1f} MB image, peak {peak / 2**20:.1f} MB = {ratio:.2f}×")
    assert hashlib.sha256(result.data).digest() == hashlib.sha256(image).digest()
    assert ratio <= 3.0


def test_the_client_transport_can_be_injected(model):
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == OPENAI_PATH
        return httpx.Response(200, content=openai_image(png_bytes(32, 32)).body)

    provider = OpenAIProvider(model, transport=httpx.MockTransport(handler))

    assert provider.render(make_request(model_id=MODEL_ID)).width == 32


# --- through the worker step ----------------------------------------------------------

PATHS = [
    ("success", [openai_ok()], State.IN_REVIEW, [""], ""),
    (
        "429-then-ok",
        [openai_error(429, "Slow down.", headers={"retry-after-ms": "200"}), openai_ok()],
        State.IN_REVIEW,
        ["rate_limited", ""],
        "",
    ),
    (
        "insufficient-quota",
        [openai_error(429, "Quota.", type="insufficient_quota", code="insufficient_quota")],
        State.PREVIEW_FAILED,
        ["quota_exhausted"],
        "no quota left",
    ),
    (
        "moderation",
        [openai_error(400, "Rejected by the safety system.", code="moderation_blocked")],
        State.PREVIEW_FAILED,
        ["content_blocked"],
        "Rephrase the prompt",
    ),
    (
        "500-twice",
        [openai_error(500, "Oops.", type="server_error")] * 2,
        State.PREVIEW_FAILED,
        ["server_error", "server_error"],
        "failed",
    ),
    (
        "reset-then-ok",
        [reset_mid_body(openai_image(png_bytes(1024, 1024))), openai_ok()],
        State.IN_REVIEW,
        ["server_error", ""],
        "",
    ),
    ("401", [openai_error(401, "Bad key.")], State.PREVIEW_FAILED, ["auth_failed"], KEY_ENV),
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
    assert [a.provider for a in attempts] == ["openai"] * len(kinds)
    assert len(provider_server.requests) == len(kinds) and provider_server.pending == 0
    assert words in stored.last_error
    if not kinds[-1]:
        assert attempts[-1].provider_meta["request_id"] == "req_fake_1"
        assert stored.images.get().note == ""
    assert_secret_nowhere(SECRET, caplog=caplog)


@pytest.mark.django_db
def test_a_successful_render_records_usage_on_the_attempt(
    model, provider_server, designer, project
):
    provider_server.script(openai_ok())
    generation = submit(designer, project)

    assert render(generation) == State.IN_REVIEW

    assert reload(generation).attempts.get().provider_meta["usage"] == OPENAI_USAGE
