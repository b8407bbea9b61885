"""The PNG decoder is an implementation detail: with libvips (pyvips importable) or
without it (Pillow only), an answer is accepted or refused alike and yields the same
stored facts and renditions."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image as PILImage

from generations.imaging import codec

pytestmark = pytest.mark.skipif(codec._vips is None, reason="pyvips is not importable here")


def _detailed_png(mode: str = "RGB", size: tuple[int, int] = (640, 480)) -> bytes:
    noise = PILImage.effect_noise(size, 40)
    image = PILImage.merge("RGB", [noise, noise.rotate(90, expand=False), noise.transpose(0)])
    if mode == "RGBA":
        image.putalpha(noise)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _both(monkeypatch, run):
    with_vips = run()
    monkeypatch.setattr(codec, "_vips", None)
    return with_vips, run()


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_ingest_finds_the_same_facts_with_libvips_and_with_pillow_alone(monkeypatch, mode):
    data = _detailed_png(mode)

    with_vips, pillow = _both(monkeypatch, lambda: codec.ingest(data, keep_screen=True))

    assert with_vips == pillow  # sha256, type, size, placeholder, entropy, detail energy
    assert with_vips.screen.tobytes() == pillow.screen.tobytes()
    assert with_vips.screen.mode == pillow.screen.mode == mode


def test_renditions_from_the_original_are_the_same_bytes_with_either_decoder(monkeypatch):
    data = _detailed_png("RGBA", (2600, 1300))

    with_vips, pillow = _both(monkeypatch, lambda: codec.make_renditions(data))

    assert with_vips == pillow
    thumbnail = PILImage.open(io.BytesIO(with_vips[0]))
    assert (thumbnail.format, thumbnail.size) == ("WEBP", (384, 192))


def _bad_pixels(data: bytes) -> bytes:
    """Valid chunks and checksums around compressed data that do not inflate."""
    start = data.index(b"IDAT") - 4
    length = int.from_bytes(data[start : start + 4], "big")
    garbage = bytes(range(256)) * (length // 256 + 1)
    body = b"IDAT" + garbage[:length]
    crc = zlib.crc32(body).to_bytes(4, "big")
    return data[:start] + length.to_bytes(4, "big") + body + crc + data[start + 12 + length :]


def test_a_png_whose_pixels_do_not_decode_is_refused_by_either_decoder(monkeypatch):
    data = _bad_pixels(_detailed_png())

    def refused() -> str:
        with pytest.raises(codec.ImageRejected) as refusal:
            codec.ingest(data)
        return refusal.value.message

    with_vips, pillow = _both(monkeypatch, refused)

    assert with_vips == pillow
    assert "truncated or corrupt" in with_vips
