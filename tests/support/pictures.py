"""Real picture files made with Pillow, good and bad, for upload tests."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def encoded(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def landscape(width: int = 300, height: int = 200, *, colour=(200, 30, 30)) -> Image.Image:
    """A plain picture with a blue square in its top-left corner (to see turns)."""
    image = Image.new("RGB", (width, height), colour)
    image.paste((0, 0, 255), (0, 0, width // 6, height // 4))
    return image


def png(width: int = 300, height: int = 200, **kwargs) -> bytes:
    return encoded(landscape(width, height, **kwargs), "PNG")


def jpeg(width: int = 300, height: int = 200, **kwargs) -> bytes:
    return encoded(landscape(width, height, **kwargs), "JPEG", quality=90)


def jpeg_rotated_by_exif(orientation: int = 6) -> bytes:
    """Stored 300×200 with the camera's "turn me" tag and other EXIF (maker, GPS)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = "SecretApp 1.0"  # Software
    return encoded(landscape(), "JPEG", quality=90, exif=exif.tobytes())


def cmyk_jpeg() -> bytes:
    return encoded(Image.new("CMYK", (120, 80), (0, 200, 200, 0)), "JPEG", quality=90)


def png_16_bit_grey() -> bytes:
    return encoded(Image.new("I;16", (64, 48), 40_000), "PNG")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, kind, body and its CRC (for PNGs Pillow cannot write)."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_of_chunks(*chunks: tuple[bytes, bytes]) -> bytes:
    """A PNG of these (kind, body) chunks, closed with IEND."""
    return PNG_SIGNATURE + b"".join(png_chunk(k, b) for k, b in chunks) + png_chunk(b"IEND", b"")


def png_16_bit_rgb(width: int = 40, height: int = 30) -> bytes:
    """A 48-bit RGB PNG (Pillow cannot write one): chunks written by hand."""
    row = b"".join(struct.pack(">HHH", 60_000, 20_000, 1_000) for _ in range(width))
    raw = b"".join(b"\x00" + row for _ in range(height))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return png_of_chunks((b"IHDR", header), (b"IDAT", zlib.compress(raw)))


def animated(image_format: str = "GIF") -> bytes:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ("red", "green", "blue")]
    return encoded(frames[0], image_format, save_all=True, append_images=frames[1:], duration=100)


def truncated_png() -> bytes:
    whole = png(400, 300)
    return whole[: len(whole) // 2]


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares width×height pixels (the data is one row)."""

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return png_of_chunks((b"IHDR", header), (b"IDAT", zlib.compress(b"\x00" * (width + 1))))
