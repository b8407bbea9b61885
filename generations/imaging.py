"""Image checks and conversions for what providers return: pure functions on bytes.

Everything a provider sends is untrusted: `inspect_image` proves the bytes are a whole
PNG, JPEG or WebP of a sane size before anything is stored, and the browser only ever
gets WebP renditions made here.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import Final

from PIL import Image, UnidentifiedImageError

THUMBNAIL_EDGE: Final = 384
SCREEN_EDGE: Final = 2048

_MIME_TYPES: Final = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # a JPEG with extra frames (phones, some encoders)
    "WEBP": "image/webp",
}
# Everything a damaged file can make Pillow's decoders raise.
_DECODE_ERRORS: Final = (OSError, SyntaxError, EOFError, ValueError, struct.error, zlib.error)
# The EXIF orientation tag (0x0112) value -> the transpose that makes the picture upright.
_ORIENTATION: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_TAG: Final = 0x0112


class ImageRejected(ValueError):
    """The bytes are not an image we accept. The message is written for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    mime_type: str
    width: int
    height: int
    byte_size: int
    bytes_per_pixel: float  # compressed bytes per pixel: a hint of detail (or of padding)


def inspect_image(data: bytes, *, max_pixels: int = 40_000_000) -> ImageInfo:
    """Facts about an image after proving it is a complete PNG, JPEG or WebP."""
    if not data:
        raise ImageRejected("The file is empty.")
    with _open(data) as image:
        mime_type = _MIME_TYPES[image.format or ""]
        width, height = image.size
        # Checked from the header, before a single pixel is decoded.
        if width * height > max_pixels:
            raise ImageRejected(
                f"The image is {width}×{height} ({width * height:,} pixels), more than "
                f"the {max_pixels:,} pixels accepted."
            )
        _check_complete(image)
    _decode(data)
    return ImageInfo(
        sha256=hashlib.sha256(data).hexdigest(),
        mime_type=mime_type,
        width=width,
        height=height,
        byte_size=len(data),
        bytes_per_pixel=len(data) / (width * height),
    )


def make_rendition(data: bytes, *, long_edge: int, quality: int = 80) -> bytes:
    """A WebP no larger than long_edge on its long side, upright, never upscaled."""
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        transpose = _ORIENTATION.get(image.getexif().get(_ORIENTATION_TAG, 1))
        size = _fit(image.size, long_edge)
        # JPEG only: let the decoder scale by 1/2..1/8 on the way in, far cheaper than
        # decoding every pixel and throwing most of them away.
        image.draft("RGB", size)
        small = _web_mode(image)
        if small.size != size:
            # reducing_gap=1: reduce() by the whole factor first (a box average, exact
            # for 4K -> 2K and ~15× faster than LANCZOS over all the source pixels),
            # then LANCZOS for the fractional rest.
            small = small.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0)
        if transpose is not None:
            # After resizing, where it is cheaper; the long edge is the same either way.
            small = small.transpose(transpose)
        # method 2 encodes twice as fast as the default 4 for ~3 % larger files.
        small.save(buffer, format="WEBP", quality=quality, method=2)
    return buffer.getvalue()


def upscale(data: bytes, *, width: int, height: int) -> bytes:
    """The image resampled to exactly width×height (LANCZOS), as PNG.

    For the 4K fallback: it has the final's size but not its detail, so callers must
    flag the result as upscaled.
    """
    if width < 1 or height < 1:
        raise ValueError(f"Cannot upscale to {width}×{height}.")
    with Image.open(io.BytesIO(data)) as image:
        resized = _web_mode(image).resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    resized.save(buffer, format="PNG", compress_level=1)  # speed over size, as renders
    return buffer.getvalue()


def _open(data: bytes) -> Image.Image:
    """Open (header only) as one of the accepted formats, or say what is wrong."""
    try:
        with warnings.catch_warnings():
            # Our own max_pixels decides, with our message; Pillow would only warn
            # between its soft and hard limits.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # "MPO" is not an opener of its own (the JPEG one returns MPO images); naming
            # it makes Pillow raise KeyError for anything that is not a PNG or JPEG.
            return Image.open(io.BytesIO(data), formats=["PNG", "JPEG", "WEBP"])
    except Image.DecompressionBombError:
        raise ImageRejected("The image has too many pixels to be processed safely.") from None
    except UnidentifiedImageError:
        raise ImageRejected(_unaccepted_message(data)) from None
    except _DECODE_ERRORS:
        raise ImageRejected("The image is truncated or corrupt.") from None


def _unaccepted_message(data: bytes) -> str:
    """Tell "a GIF" (a real image we do not take) apart from "not an image at all"."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # header only: nothing is decoded
                kind = image.format or "this"
    except (*_DECODE_ERRORS, Image.DecompressionBombError):
        return "The file is not an image (or is corrupt beyond recognition)."
    return f"{kind} images are not accepted: use PNG, JPEG or WebP."


def _check_complete(image: Image.Image) -> None:
    # verify() walks a PNG's chunks and their checksums without decoding pixels.
    try:
        image.verify()
    except _DECODE_ERRORS:
        raise ImageRejected("The image is truncated or corrupt.") from None


def _decode(data: bytes) -> None:
    # verify() cannot see a JPEG or WebP cut short, nor bad compressed PNG data with
    # valid checksums: decoding every pixel can.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
    except _DECODE_ERRORS:
        raise ImageRejected("The image is truncated or corrupt.") from None


def _fit(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    width, height = size
    scale = long_edge / max(width, height)
    if scale >= 1:
        return size
    return max(1, round(width * scale)), max(1, round(height * scale))


def _web_mode(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when the image has transparency: what WebP and browsers take."""
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        # 16-bit greyscale: scale to 8 bits first; a plain convert would clip to white.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    return image.convert("RGBA" if image.has_transparency_data else "RGB")
