"""Input images, whatever the provider: what the catalogue says each model takes, the
request a final from the approved preview is, and how images are made to fit a request
limit."""

from __future__ import annotations

import io
import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from PIL import Image

from generations import catalog
from generations.providers import inputs, provider_for
from generations.providers.base import (
    ESCALATION_INSTRUCTION,
    InputImage,
    InputRole,
    InvalidRequest,
    escalation_prompt,
)
from generations.providers.local import LocalProvider
from tests.support.hosted import make_request


def encoded(image: Image.Image, image_format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def noise(width: int, height: int) -> Image.Image:
    return Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))


# --- what the catalogue says ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "count"), [("nano-banana-pro", 14), ("nano-banana-2", 14), ("nano-banana", 3)]
)
def test_the_gemini_models_take_their_documented_number_of_input_images(
    settings, monkeypatch, key, count
):
    monkeypatch.setenv("GEMINI_API_KEY", "set")

    model = catalog.get_model(key)

    assert model.max_input_images == count
    assert model.takes_input_images


def test_a_simulated_model_takes_what_the_real_one_takes(settings, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    model = catalog.get_model("nano-banana")
    assert model.simulated and model.max_input_images == 3
    images = tuple(InputImage.from_bytes(encoded(Image.new("RGB", (64, 64)))) for _ in range(4))
    request = make_request(model_id=model.model_id).from_preview(images[0], references=images[1:])

    provider = provider_for(model)

    assert isinstance(provider, LocalProvider)
    with pytest.raises(InvalidRequest, match=r"\(local simulation\) takes at most 3 input images"):
        provider.render(request)


@pytest.mark.parametrize(
    ("entry", "count"),
    [
        ({"provider": "local", "model_id": "local-pillow"}, 14),
        ({"provider": "openai", "model_id": "gw", "base_url": "https://gw.example"}, 0),
        (
            {
                "provider": "openai",
                "model_id": "gw",
                "base_url": "https://gw.example",
                "max_input_images": 16,
            },
            16,
        ),
        (
            {
                "provider": "gemini",
                "model_id": "gemini-3-pro-image-preview",
                "base_url": "https://g.example",
                "api_key_env": "K",
            },
            14,
        ),
        (
            {
                "provider": "gemini",
                "model_id": "gemini-9-ultra-image",
                "base_url": "https://g.example",
                "api_key_env": "K",
            },
            1,
        ),
    ],
    ids=["local", "gateway-default", "gateway-says", "gemini-preview-id", "gemini-unknown-id"],
)
def test_models_without_a_figure_get_a_conservative_default(settings, entry, count):
    settings.STUDIO_MODELS = {"m": {"label": "M", **entry}}

    model = catalog.get_model("m")

    assert model.max_input_images == count
    assert model.takes_input_images is (count > 0)
    assert model.max_request_bytes == 20 * 2**20


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_input_images", -1),
        ("max_input_images", "3"),
        ("max_input_images", True),
        ("max_request_bytes", 0),
    ],
)
def test_a_wrong_capability_is_refused_at_configuration(settings, field, value):
    settings.STUDIO_MODELS = {
        "m": {"label": "M", "provider": "local", "model_id": "local-pillow", field: value}
    }

    with pytest.raises(ImproperlyConfigured, match=f"{field} must be a whole number"):
        catalog.get_model("m")


def test_an_openai_template_may_use_the_seed_but_not_set_the_images(settings):
    gateway = {"label": "G", "provider": "openai", "model_id": "g", "base_url": "https://g.x"}
    settings.STUDIO_MODELS = {"ok": {**gateway, "openai_params": {"seed": "{seed}"}}}
    assert catalog.get_model("ok").openai_params == {"seed": "{seed}"}

    settings.STUDIO_MODELS = {"bad": {**gateway, "openai_params": {"image[]": "x"}}}
    with pytest.raises(ImproperlyConfigured, match=r"cannot set \['image\[\]'\]"):
        catalog.get_model("bad")


# --- the request ------------------------------------------------------------------------


def test_an_input_image_reads_its_type_and_size_and_keeps_its_bytes_out_of_reprs():
    data = encoded(Image.new("RGB", (300, 200)), "JPEG")

    image = InputImage.from_bytes(data, role=InputRole.APPROVED_PREVIEW)

    assert (image.mime_type, image.width, image.height, image.data) == (
        "image/jpeg",
        300,
        200,
        data,
    )
    request = make_request().from_preview(image)
    assert repr(image) == f"InputImage(approved preview, image/jpeg, 300×200, {len(data)} bytes)"
    assert "\\x" not in repr(request) and repr(image) in repr(request)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"<html>502 Bad Gateway</html>", "not an image that can be read"),
        (encoded(Image.new("RGB", (8, 8)), "GIF"), "image/gif; providers take PNG, JPEG or WebP"),
    ],
    ids=["garbage", "gif"],
)
def test_an_input_that_no_provider_takes_is_refused(data, words):
    with pytest.raises(InvalidRequest, match=words):
        InputImage.from_bytes(data)


def test_a_final_from_the_preview_is_the_same_request_with_the_preview_first():
    preview = InputImage.from_bytes(encoded(Image.new("RGB", (64, 64))))  # a plain reference
    reference = InputImage.from_bytes(encoded(Image.new("RGB", (32, 32))))
    final = make_request(size="4K")

    escalated = final.from_preview(preview, references=(reference,))

    assert escalated.input_images == (
        InputImage(preview.data, "image/png", 64, 64, InputRole.APPROVED_PREVIEW),
        reference,
    )
    assert (escalated.prompt, escalated.seed, escalated.size, escalated.width) == (
        final.prompt,
        final.seed,
        "4K",
        4096,
    )
    assert escalated.instruction == ESCALATION_INSTRUCTION
    assert escalated.text == escalation_prompt(final.prompt)
    assert escalated.text.endswith("\n\n" + final.prompt)
    assert final.text == final.prompt  # without an instruction the prompt goes as it is


# --- fitting a request limit ------------------------------------------------------------


def _fit(images, limit: int) -> inputs.Fitted:
    return inputs.fit_request(
        images,
        limit_bytes=limit,
        fixed_bytes=1000,
        wire_bytes=lambda image: len(image.data),
        service="Test",
    )


def test_images_that_fit_are_sent_untouched():
    image = InputImage.from_bytes(encoded(noise(200, 100)))

    fitted = _fit([image], limit=len(image.data) + 1000)

    assert fitted.images == (image,) and fitted.notes == ()


def test_two_large_images_share_the_cut_and_a_small_one_is_left_alone():
    large = [InputImage.from_bytes(encoded(noise(600, 400))) for _ in range(2)]
    small = InputImage.from_bytes(encoded(noise(40, 40)))
    limit = 1000 + len(small.data) + len(large[0].data)  # room for about one large image

    fitted = _fit([large[0], small, large[1]], limit=limit)

    first, kept, second = fitted.images
    assert kept is small
    assert 1000 + sum(len(image.data) for image in fitted.images) <= limit
    assert first.width == pytest.approx(second.width, abs=8)  # shared, not all from one
    assert first.width < 600 and abs(first.width / first.height - 1.5) < 0.01
    assert [note.split(" downscaled")[0] for note in fitted.notes] == [
        "input image 1 (reference)",
        "input image 3 (reference)",
    ]


def test_a_sideways_phone_photo_is_downscaled_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encoded(noise(800, 400), "JPEG", quality=95, exif=exif.tobytes())
    image = InputImage.from_bytes(data)

    (fitted,) = _fit([image], limit=1000 + len(data) // 2).images

    # Re-encoding drops the EXIF flag, so the pixels are turned instead: 400 wide, 800 high.
    assert fitted.width < fitted.height
    assert Image.open(io.BytesIO(fitted.data)).size == (fitted.width, fitted.height)
    assert fitted.mime_type == "image/jpeg"
