"""The PNG decoder is an implementation detail: with libvips (pyvips importable) or
without it (Pillow only), an answer is accepted or refused alike and yields the same
stored facts, screen pixels and renditions — the drift report compares the detail
measures across weeks, so they must not move with the decoder."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import Image as PILImage

from generations.imaging import codec
from tests.support.pictures import png_chunk

pytestmark = pytest.mark.skipif(codec._vips is None, reason="pyvips is not importable here")


def _detailed(mode: str = "RGB", size: tuple[int, int] = (640, 480)) -> PILImage.Image:
    noise = PILImage.effect_noise(size, 40)
    image = PILImage.merge(
        "RGB", [noise, noise.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT), noise.transpose(0)]
    )
    if mode == "RGBA":
        image.putalpha(noise.transpose(PILImage.Transpose.FLIP_TOP_BOTTOM))
    return image


def _png(image: PILImage.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _both(monkeypatch, run):
    with_vips = run()
    monkeypatch.setattr(codec, "_vips", None)
    return with_vips, run()


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        chunks.append(
            (data[position + 4 : position + 8], data[position + 8 : position + 8 + length])
        )
        position += 12 + length
    return chunks


def _with_exif_after_the_pixels(data: bytes, exif: bytes) -> bytes:
    chunks = [(kind, body) for kind, body in _chunks(data) if kind != b"eXIf"]
    chunks.insert(len(chunks) - 1, (b"eXIf", exif))  # just before IEND
    return data[:8] + b"".join(png_chunk(kind, body) for kind, body in chunks)


@pytest.mark.parametrize(("mode", "size"), [("RGB", (640, 480)), ("RGBA", (2600, 1300))])
def test_ingest_finds_the_same_facts_with_libvips_and_with_pillow_alone(monkeypatch, mode, size):
    data = _png(_detailed(mode, size))

    with_vips, pillow = _both(monkeypatch, lambda: codec.ingest(data, keep_screen=True))

    assert with_vips == pillow  # sha256, type, size, placeholder, entropy, detail energy
    assert with_vips.screen.tobytes() == pillow.screen.tobytes()
    assert with_vips.screen.mode == pillow.screen.mode == mode


def test_without_screen_pixels_the_placeholder_is_the_same_with_either_decoder(monkeypatch):
    data = _png(_detailed("RGB", (1200, 500)))

    with_vips, pillow = _both(monkeypatch, lambda: codec.ingest(data))

    assert with_vips == pillow


def test_renditions_from_the_original_are_the_same_bytes_with_either_decoder(monkeypatch):
    data = _png(_detailed("RGB", (2600, 1300)))

    with_vips, pillow = _both(monkeypatch, lambda: codec.make_renditions(data))

    assert with_vips == pillow
    thumbnail = PILImage.open(io.BytesIO(with_vips[0]))
    assert (thumbnail.format, thumbnail.size) == ("WEBP", (384, 192))


def _sideways_exif() -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    return exif.tobytes()


@pytest.mark.parametrize("exif_after_the_pixels", [False, True])
def test_a_sideways_png_is_turned_upright_with_either_decoder(monkeypatch, exif_after_the_pixels):
    data = _png(_detailed("RGB", (800, 400)), exif=_sideways_exif())
    if exif_after_the_pixels:  # Pillow's header read does not see it; libvips leaves it
        data = _with_exif_after_the_pixels(data, _sideways_exif())

    def facts():
        with_screen = codec.ingest(data, keep_screen=True)
        without = codec.ingest(data)
        return with_screen.screen.size, with_screen.placeholder, without.placeholder

    with_vips, pillow = _both(monkeypatch, facts)

    assert with_vips == pillow
    tiny = PILImage.open(io.BytesIO(base64.b64decode(with_vips[2].split(",", 1)[1])))
    assert (with_vips[0], tiny.size) == ((400, 800), (8, 16))


def _bad_pixels(data: bytes) -> bytes:
    """Valid chunks and checksums around compressed data that do not inflate."""
    start = data.index(b"IDAT") - 4
    length = int.from_bytes(data[start : start + 4], "big")
    garbage = bytes(range(256)) * (length // 256 + 1)
    return data[:start] + png_chunk(b"IDAT", garbage[:length]) + data[start + 12 + length :]


def _too_few_pixels(data: bytes) -> bytes:
    """Valid chunks and checksums, but the pixel data stop half way down the picture."""
    chunks = _chunks(data)
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    short = zlib.compress(pixels[: len(pixels) // 2])
    header = next(png_chunk(kind, body) for kind, body in chunks if kind == b"IHDR")
    return data[:8] + header + png_chunk(b"IDAT", short) + png_chunk(b"IEND", b"")


def test_a_png_whose_pixels_do_not_decode_is_refused_by_either_decoder(monkeypatch):
    data = _bad_pixels(_png(_detailed()))

    def refused() -> str:
        with pytest.raises(codec.ImageRejected) as refusal:
            codec.ingest(data)
        return refusal.value.message

    with_vips, pillow = _both(monkeypatch, refused)

    assert with_vips == pillow
    assert "truncated or corrupt" in with_vips


def test_a_png_whose_pixel_data_end_half_way_down_is_refused():
    # Pillow alone fills the missing rows with black and says nothing; libvips refuses.
    data = _too_few_pixels(_png(_detailed()))

    with pytest.raises(codec.ImageRejected, match="truncated or corrupt"):
        codec.ingest(data)
