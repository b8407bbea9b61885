"""Image checks and conversions: what gets stored and what the browser is sent."""

from __future__ import annotations

import base64
import hashlib
import io
import math
import struct
import zlib

import pytest
from PIL import Image, ImageChops, ImageStat

from generations.imaging.codec import (
    SCREEN_EDGE,
    THUMBNAIL_EDGE,
    ImageRejected,
    ingest,
    inspect_image,
    make_rendition,
    renditions_of_screen,
    upscale,
)
from generations.providers.local import render_image
from tests.support.pictures import png_of_chunks


def encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def picture(width: int, height: int) -> Image.Image:
    """A gradient with some structure, so encoders and resamplers have work to do."""
    down = Image.linear_gradient("L").resize((width, height))
    across = down.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    return Image.merge("RGB", (down, across, down))


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose (correctly checksummed) header claims width×height pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return png_of_chunks((b"IHDR", header), (b"IDAT", zlib.compress(b"\x00" * 16)))


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- inspect_image ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("format", "mime_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_inspect_reports_hash_size_and_type(format, mime_type):
    data = encode(picture(320, 200), format)

    info = inspect_image(data)

    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.mime_type == mime_type
    assert (info.width, info.height) == (320, 200)
    assert info.byte_size == len(data)
    assert info.bytes_per_pixel == pytest.approx(len(data) / (320 * 200))


def test_empty_file_is_rejected():
    with pytest.raises(ImageRejected, match="empty"):
        inspect_image(b"")


def test_a_text_file_is_rejected_as_not_an_image():
    with pytest.raises(ImageRejected, match="not an image"):
        inspect_image(b"Dear reviewer,\nplease find the image attached.\n")


def test_random_bytes_after_a_png_signature_are_rejected():
    with pytest.raises(ImageRejected) as caught:
        inspect_image(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)

    assert "corrupt" in caught.value.message or "not an image" in caught.value.message


@pytest.mark.parametrize("format", ["PNG", "JPEG", "WEBP"])
def test_a_truncated_image_is_rejected(format):
    data = encode(picture(640, 480), format)

    with pytest.raises(ImageRejected, match="truncated or corrupt"):
        inspect_image(data[: len(data) * 2 // 3])


def test_a_png_with_a_damaged_checksum_is_rejected():
    data = bytearray(encode(picture(64, 64), "PNG"))
    data[-20] ^= 0xFF  # inside the last IDAT chunk

    with pytest.raises(ImageRejected, match="truncated or corrupt"):
        inspect_image(bytes(data))


def test_an_accepted_kind_of_image_is_named_when_refused():
    with pytest.raises(ImageRejected, match="GIF images are not accepted: use PNG, JPEG or WebP"):
        inspect_image(encode(picture(32, 32), "GIF"))


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_a_decompression_bomb_header_is_refused_before_decoding():
    # 12 000 × 9 000 is past Pillow's warning threshold, below its hard error.
    with pytest.raises(ImageRejected, match=r"12000×9000 \(108,000,000 pixels\), more than"):
        inspect_image(png_header_claiming(12_000, 9_000))


def test_an_absurd_header_is_refused_with_our_message():
    # Past Pillow's own hard limit: still our message, with the numbers.
    with pytest.raises(
        ImageRejected, match=r"100000×100000 \(10,000,000,000 pixels\).*decompression bomb"
    ):
        inspect_image(png_header_claiming(100_000, 100_000))


def test_the_pixel_limit_is_configurable():
    data = encode(picture(400, 300), "PNG")

    with pytest.raises(ImageRejected, match="more than the 100,000 pixels accepted"):
        inspect_image(data, max_pixels=100_000)
    assert inspect_image(data, max_pixels=120_000).width == 400


# --- make_rendition --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "long_edge", "expected"),
    [
        ((4096, 4096), SCREEN_EDGE, (2048, 2048)),
        ((5504, 3072), SCREEN_EDGE, (2048, 1143)),
        ((3072, 5504), THUMBNAIL_EDGE, (214, 384)),
        ((1584, 672), THUMBNAIL_EDGE, (384, 163)),
    ],
)
def test_rendition_is_webp_within_the_long_edge_and_keeps_the_aspect(size, long_edge, expected):
    rendition = make_rendition(encode(picture(*size), "PNG", compress_level=1), long_edge=long_edge)

    image = opened(rendition)
    assert image.format == "WEBP"
    assert image.size == expected
    assert abs(image.width / image.height - size[0] / size[1]) < 0.01


def test_rendition_never_upscales_a_small_image():
    image = opened(make_rendition(encode(picture(300, 200), "PNG"), long_edge=SCREEN_EDGE))

    assert image.format == "WEBP"
    assert image.size == (300, 200)


def test_rendition_of_a_jpeg_uses_fast_decoding_and_still_fits():
    rendition = make_rendition(encode(picture(3000, 2000), "JPEG"), long_edge=THUMBNAIL_EDGE)

    assert opened(rendition).size == (384, 256)


def test_rendition_keeps_transparency():
    transparent = Image.new("RGBA", (800, 400), (200, 30, 30, 0))

    image = opened(make_rendition(encode(transparent, "PNG"), long_edge=THUMBNAIL_EDGE))

    assert image.mode == "RGBA"
    assert image.getchannel("A").getextrema() == (0, 0)


def test_rendition_turns_a_sideways_phone_jpeg_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encode(picture(800, 400), "JPEG", exif=exif.tobytes())

    assert opened(make_rendition(data, long_edge=THUMBNAIL_EDGE)).size == (192, 384)


def test_rendition_of_16_bit_greyscale_keeps_its_tones():
    grey = Image.new("I;16", (100, 100), 32768)  # mid grey in 16 bits

    image = opened(make_rendition(encode(grey, "PNG"), long_edge=THUMBNAIL_EDGE))

    assert 110 < ImageStat.Stat(image.convert("L")).mean[0] < 146


def psnr(reference: Image.Image, other: Image.Image) -> float:
    """Peak signal-to-noise ratio over the RGB channels, in dB."""
    histogram = ImageChops.difference(reference, other.convert("RGB")).histogram()
    squared = sum(count * (index % 256) ** 2 for index, count in enumerate(histogram))
    mse = squared / (reference.width * reference.height * 3)
    return 10 * math.log10(255**2 / mse) if mse else math.inf


def test_the_fast_screen_rendition_looks_as_good_as_libwebps_default():
    detailed = render_image(
        prompt="a lighthouse on a basalt cliff at dusk", seed=3, aspect_ratio="1:1",
        width=256, height=256,
    )  # fmt: skip
    # Smooth tones with soft edges: where a worse encoding shows (10 quality points
    # lower costs ~1 dB here; on pure detail, next to nothing).
    screen = detailed.resize((1024, 1024), Image.Resampling.BICUBIC)

    thumbnail, fast = renditions_of_screen(screen)
    default = encode(screen, "WEBP", quality=80)  # libwebp's default effort, method 4

    # The same fidelity to the pixels...
    assert psnr(screen, opened(fast)) >= psnr(screen, opened(default)) - 0.2
    assert len(fast) < 1.3 * len(default)  # ...for 10–25 % more bytes.
    # The thumbnail's quick downscale against LANCZOS all the way, both as WebP.
    small = opened(thumbnail)
    reference = screen.resize(small.size, Image.Resampling.LANCZOS)
    slow = opened(encode(reference, "WEBP", quality=80, method=2))
    assert psnr(reference, small) >= psnr(reference, slow) - 0.5


@pytest.mark.parametrize("keep_screen", [True, False])
def test_the_placeholder_of_a_sideways_phone_jpeg_is_upright(keep_screen):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encode(picture(800, 400), "JPEG", exif=exif.tobytes())

    placeholder = ingest(data, keep_screen=keep_screen).placeholder

    tiny = opened(base64.b64decode(placeholder.removeprefix("data:image/webp;base64,")))
    assert tiny.size == (8, 16)


# --- upscale ---------------------------------------------------------------------------


def test_upscale_returns_exactly_the_requested_size_as_png():
    data = upscale(encode(picture(344, 192), "PNG"), width=1376, height=768)

    image = opened(data)
    assert image.format == "PNG"
    assert image.size == (1376, 768)
    assert inspect_image(data).mime_type == "image/png"


def test_upscale_refuses_an_empty_size():
    with pytest.raises(ValueError, match="0×768"):
        upscale(encode(picture(10, 10), "PNG"), width=0, height=768)
