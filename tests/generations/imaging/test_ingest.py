"""Ingest of a provider's answer, end to end through the real Gemini client and a fake
server: base64 inside JSON → bytes → checks → the stored original.

Every bad answer becomes a recorded, readable failure on the attempt and the timeline,
and leaves no file in storage and no Image row.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import re
import struct
import zlib
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image as PILImage

from generations.imaging import codec, renditions
from generations.models import Attempt, Image, Transition
from generations.rendering.sweeper import generations_sweep
from generations.states import State
from tests.support.fakes import png_bytes
from tests.support.hosted import KEY_ENV, SECRET, configure, reload, render, submit
from tests.support.pictures import png_chunk, png_of_chunks
from tests.support.provider_server import GEMINI_USAGE, Reply, gemini_image, json_reply

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)


@pytest.fixture(autouse=True)
def rendition_kicks(monkeypatch) -> list[int]:
    kicks: list[int] = []
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    monkeypatch.setattr(
        "generations.imaging.renditions.enqueue", lambda image_id, **options: kicks.append(image_id)
    )
    return kicks


@pytest.fixture
def model(settings, provider_server):
    return configure(settings, provider_server.url)


def _media_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _png_with_size(data: bytes, width: int, height: int) -> bytes:
    """The same PNG with its IHDR rewritten (and re-checksummed) to claim width×height."""
    assert data[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + data[24:29]
    return data[:8] + png_chunk(b"IHDR", ihdr) + data[33:]


def _bomb(width: int, height: int) -> bytes:
    """A complete, valid 1-bit PNG of width×height zeros: tiny file, huge pixel count."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return png_of_chunks((b"IHDR", ihdr), (b"IDAT", idat))


def _corrupt(data: bytes) -> bytes:
    """A byte flipped inside the compressed pixels, checksums left as they were."""
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0xFF
    return bytes(damaged)


def _gemini_text(data_field: str) -> Reply:
    """A Gemini answer whose inlineData.data is the given text (not necessarily base64)."""
    return json_reply(
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"inlineData": {"mimeType": "image/png", "data": data_field}}],
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": GEMINI_USAGE,
        }
    )


def _truncated_base64(settings) -> Reply:
    text = base64.b64encode(png_bytes(1024, 1024)).decode("ascii")
    return _gemini_text(text[: len(text) * 2 // 3])


def _huge_valid(settings) -> Reply:
    # A real, complete image with more pixels than accepted (the limit lowered so the
    # test stays small: 1600×1200 = 1.9 M pixels against 1.5 M).
    settings.STUDIO_IMAGE_MAX_PIXELS = 1_500_000
    buffer = io.BytesIO()
    PILImage.effect_noise((1600, 1200), 50).save(buffer, format="PNG")
    return gemini_image(buffer.getvalue())


CASES = {
    "corrupt": (
        lambda settings: gemini_image(_corrupt(png_bytes(1024, 1024))),
        "truncated or corrupt",
    ),
    "truncated base64": (_truncated_base64, "truncated or corrupt|not valid base64"),
    "header claims 4096² over 2048² of data": (
        lambda settings: gemini_image(_png_with_size(png_bytes(2048, 2048), 4096, 4096)),
        "does not decode to the 4096×4096 pixels its header declares",
    ),
    "image bomb": (
        lambda settings: gemini_image(_bomb(20_000, 20_000)),
        r"20000×20000 \(400,000,000 pixels\), more than the 40,000,000 pixels accepted; "
        r"[\d,]+ bytes for that many pixels is a decompression bomb",
    ),
    "not an image": (
        lambda settings: gemini_image(b"<html><body>502 Bad Gateway</body></html>"),
        "not an image",
    ),
    "huge but valid": (
        _huge_valid,
        r"1600×1200 \(1,920,000 pixels\), more than the 1,500,000 pixels accepted\. "
        r"It was refused before decoding",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_answer_is_a_readable_failure_and_leaves_no_file(
    case, model, provider_server, designer, project, settings
):
    make_reply, message = CASES[case]
    provider_server.script(make_reply(settings))
    generation = submit(designer, project)

    assert render(generation) == State.PREVIEW_QUEUED  # retried: the next answer may be fine

    attempt = Attempt.objects.get(generation=generation)
    assert attempt.outcome == Attempt.Outcome.FAILED
    assert (attempt.error_kind, attempt.retryable) == ("malformed_response", True)
    assert re.search(message, attempt.error_message), attempt.error_message
    # The timeline says why, in the same words; the card shows it as the last error.
    failure = Transition.objects.filter(generation=generation).last()
    assert failure.to_state == State.PREVIEW_QUEUED
    # (the reason joins clauses with "; ": the message's full stop is dropped, never ".;")
    assert attempt.error_message.rstrip(".") in failure.reason and ".;" not in failure.reason
    assert reload(generation).last_error == attempt.error_message
    assert not Image.objects.exists()
    assert _media_files(settings) == []


def test_a_good_answer_is_stored_exactly_as_received_with_its_facts(
    model, provider_server, designer, project, settings, rendition_kicks,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    data = png_bytes(1024, 1024, color=(20, 120, 200))
    provider_server.script(gemini_image(data))
    generation = submit(designer, project)

    with django_capture_on_commit_callbacks(execute=True):
        assert render(generation) == State.IN_REVIEW

    image = Image.objects.get(generation=generation)
    with image.original.open("rb") as handle:
        assert handle.read() == data
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert (image.mime_type, image.width, image.height) == ("image/png", 1024, 1024)
    assert (image.byte_size, image.bytes_per_pixel) == (len(data), len(data) / 1024**2)
    assert (image.model_key, image.size) == (model.key, "1K")
    assert image.native
    assert image.placeholder.startswith("data:image/webp;base64,")
    assert rendition_kicks == [image.pk]
    assert _media_files(settings) == [image.original.name]


def test_the_metrics_rank_a_flat_picture_below_a_detailed_one():
    flat = io.BytesIO()
    PILImage.new("RGB", (800, 800), (128, 128, 128)).save(flat, format="PNG")
    noisy = io.BytesIO()
    PILImage.effect_noise((800, 800), 64).convert("RGB").save(noisy, format="PNG")

    plain = codec.ingest(flat.getvalue())
    detailed = codec.ingest(noisy.getvalue())

    assert (plain.luma_entropy, plain.detail_energy) == (0, 0)
    assert detailed.luma_entropy > 6
    assert detailed.detail_energy > 20
    # The placeholder is a few hundred bytes of WebP, whatever the image.
    for ingested in (plain, detailed):
        assert ingested.placeholder.startswith("data:image/webp;base64,")
        assert len(ingested.placeholder) < 600


def test_detail_energy_is_measured_at_one_scale_whatever_the_resolution():
    noise = PILImage.effect_noise((512, 512), 60).convert("RGB")
    sizes = {}
    for edge in (1024, 2048):
        buffer = io.BytesIO()
        noise.resize((edge, edge), PILImage.Resampling.NEAREST).save(buffer, format="PNG")
        sizes[edge] = codec.ingest(buffer.getvalue()).detail_energy
    # The same picture at twice the pixels: after the fixed-scale downsample they are the
    # same 1024 px image, so one model × size is comparable with itself over time.
    assert sizes[2048] == pytest.approx(sizes[1024], rel=0.02)


def test_renditions_are_idempotent_and_a_failure_is_recorded(
    model, provider_server, designer, project, settings
):
    provider_server.script(gemini_image(png_bytes(1024, 1024)))
    generation = submit(designer, project)
    assert render(generation) == State.IN_REVIEW
    image = Image.objects.get(generation=generation)

    assert renditions.image_renditions_make(image_id=image.pk) == "made"
    files = _media_files(settings)
    assert len(files) == 3
    # A re-delivered message makes no second file.
    assert renditions.image_renditions_make(image_id=image.pk) == "done already"
    assert _media_files(settings) == files

    # A second image whose original vanished: the failure is kept, shown, not retried.
    image.refresh_from_db()
    Image.objects.filter(pk=image.pk).update(thumbnail="", screen="")
    Path(settings.MEDIA_ROOT, image.original.name).unlink()
    assert renditions.image_renditions_make(image_id=image.pk) == "failed"
    image.refresh_from_db()
    assert image.renditions_error == "Renditions could not be made: the original file is missing."
    assert renditions.image_renditions_make(image_id=image.pk) == "failed before"


def test_the_sweeper_rekicks_renditions_lost_for_over_a_minute(
    model, provider_server, designer, project, rendition_kicks
):
    provider_server.script(gemini_image(png_bytes(1024, 1024)))
    generation = submit(designer, project)
    assert render(generation) == State.IN_REVIEW
    image = Image.objects.get(generation=generation)
    rendition_kicks.clear()

    assert generations_sweep().renditions == 0  # just made: its message is on its way
    Image.objects.filter(pk=image.pk).update(created_at=timezone.now() - dt.timedelta(minutes=2))
    assert generations_sweep().renditions == 1
    assert rendition_kicks == [image.pk]

    Image.objects.filter(pk=image.pk).update(renditions_error="Renditions could not be made.")
    rendition_kicks.clear()
    assert generations_sweep().renditions == 0  # a recorded failure is not retried blindly
    assert rendition_kicks == []


def test_renditions_start_from_the_spooled_pixels_or_decode_the_original_alike(
    model, provider_server, designer, project, settings
):
    spool = Path(settings.STUDIO_RENDITION_SPOOL_DIR)
    data = png_bytes(1600, 900, color=(90, 160, 30))
    made = {}
    for use_spool in (True, False):
        provider_server.script(gemini_image(data))
        generation = submit(designer, project, aspect_ratio="16:9")
        render(generation)
        image = Image.objects.get(generation=generation)
        (spooled,) = spool.iterdir()
        assert spooled.name == f"{image.sha256}.RGB.1600x900.raw"
        if not use_spool:
            spooled.unlink()  # an images worker on another host finds nothing
        assert renditions.image_renditions_make(image_id=image.pk) == "made"
        assert list(spool.iterdir()) == []
        image.refresh_from_db()
        made[use_spool] = [getattr(image, kind).read() for kind in ("thumbnail", "screen")]
    # The shortcut changes nothing a user sees: the same pixels, the same files.
    assert made[True] == made[False]
    thumbnail = PILImage.open(io.BytesIO(made[True][0]))
    assert (thumbnail.format, thumbnail.size) == ("WEBP", (384, 216))
