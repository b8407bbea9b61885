"""Pictures people upload (references, images to edit): proved whole and sane, turned
upright, stripped of every metadata chunk, then re-encoded — before a byte is stored.

Pure functions on bytes; generations.references stores what `upload_clean` returns.
Every refusal is an `codec.ImageRejected` whose message says what to do instead.

Choices (what a demanding designer expects):
- 16-bit PNGs are converted to 8 bits per channel, not refused: every model takes 8-bit
  input, so nothing a model could use is lost, and re-exporting would gain nothing.
- CMYK is converted to sRGB through the colour profile the file embeds (ImageCms); a CMYK
  file without one is refused, because any guess at its press colours shifts them
  visibly and the designer, not us, knows which profile it was made for.
- An MPO (a phone's JPEG with extra depth or preview frames) keeps its first frame, the
  photo; any other file with several frames (animated GIF, PNG or WebP) is refused.
- Colour profiles are applied (to sRGB) and then dropped with the rest of the metadata
  (EXIF with GPS and camera serials, XMP, comments); the EXIF orientation is applied to
  the pixels first, so the picture stays upright without it.
- The stored picture is at most `STORED_EDGE` (2048 px) on its long side: the screen
  rendition's size, and more than any provider reads from an input image (Gemini scales
  each one to a fixed token budget, gateways' edits take about 4 MP); a camera's 24–45 MP
  would only cost every later send, rendition and fidelity check. It also lets the JPEG
  decoder scale by 1/2–1/8 on the way in (DCT scaling): a 20 MB photo is checked in a
  fraction of the time and memory of a full decode (bench/upload.py, docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Final

from django.template.defaultfilters import filesizeformat
from PIL import Image, ImageCms, UnidentifiedImageError

from generations.imaging import codec
from generations.imaging.codec import ImageRejected

STORED_EDGE: Final = codec.SCREEN_EDGE  # 2048
DEFAULT_MAX_BYTES: Final = 25 * 2**20
DEFAULT_MAX_PIXELS: Final = 50_000_000
# What we read: the three formats every provider takes, and GIF to say "animated" or
# store a still one as PNG. Anything else is named and refused.
_READ_FORMATS: Final = ["PNG", "JPEG", "WEBP", "GIF"]
_STORED_FORMAT: Final = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WEBP", "GIF": "PNG"}
_MIME: Final = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_SIXTEEN_BIT_RAWMODES: Final = ("I;16", "RGB;16", "RGBA;16", "LA;16")
_EXPORT: Final = "export it as PNG, JPEG or WebP and upload that"


@dataclass(frozen=True)
class Cleaned:
    """An upload ready to store: the re-encoded bytes (at most the screen rendition's size,
    so they serve as the screen rendition too) and the thumbnail."""

    data: bytes
    mime_type: str
    extension: str
    width: int
    height: int
    sha256: str
    thumbnail: bytes
    placeholder: str
    notes: tuple[str, ...]


def upload_refusal_for_size(byte_size: int, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The refusal for a file's size alone ("" when it may be read): checked before the
    bytes are read into memory."""
    if byte_size == 0:
        return (
            "The file is empty (0 bytes): pick the picture again; if it stays empty, "
            "save it again from the app that made it."
        )
    if byte_size > max_bytes:
        return (
            f"The file is {filesizeformat(byte_size)}; uploads take at most "
            f"{filesizeformat(max_bytes)}. Export it as a JPEG (quality 90) or at most "
            f"{STORED_EDGE} px on its long side and upload that."
        )
    return ""


def upload_clean(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    stored_edge: int = STORED_EDGE,
) -> Cleaned:
    """Check an uploaded file and make the picture that is stored and sent, or raise
    ImageRejected. Nothing is decoded before the header has been checked for size."""
    refusal = upload_refusal_for_size(len(data), max_bytes=max_bytes)
    if refusal:
        raise ImageRejected(refusal)
    # Not closed in a `with`: the decoded pixels are kept (no copy of a 50 MP picture),
    # and a picture opened from bytes holds no file.
    image = _open(data)
    try:
        picture, notes, (width, height), transpose, orientation, kind = _decode(
            image, max_pixels=max_pixels, stored_edge=stored_edge
        )
    except ImageRejected:
        raise
    except codec.DECODE_ERRORS:
        raise ImageRejected(
            "The file is truncated or damaged: it ends before the picture does. "
            "Upload it again (the transfer may have been cut), or save it again."
        ) from None
    del image
    # From here on only pixels: no EXIF (read again, it would turn the picture twice),
    # no profile, no text.
    picture.info = {}
    if picture.size != (width, height) or max(picture.size) > stored_edge:
        target = _fit((width, height), stored_edge)
        if picture.size != target:
            # BILINEAR after the decoder's own 1/2–1/8 scaling (Pillow widens the filter
            # with the factor, so it still averages every source pixel): a reference needs
            # no more, at half the cost of BICUBIC and a third of LANCZOS on a 6 MP draft.
            picture = picture.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
        notes.append(f"scaled from {width}×{height} to {target[0]}×{target[1]}")
    if transpose is not None:
        picture = picture.transpose(transpose)
        notes.append(f"turned upright (EXIF orientation {orientation})")
    notes.append("metadata removed")
    stored = _STORED_FORMAT.get(kind, "PNG")
    encoded = _encode(picture, stored)
    # The stored picture is no larger than the screen rendition: it is its own screen
    # rendition (served as it is), and only the thumbnail is made.
    thumbnail_bytes = codec.thumbnail_of_screen(picture)
    return Cleaned(
        data=encoded,
        mime_type=_MIME[stored],
        extension={"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[stored],
        width=picture.width,
        height=picture.height,
        sha256=hashlib.sha256(encoded).hexdigest(),
        thumbnail=thumbnail_bytes,
        placeholder=codec.placeholder_of(picture),
        notes=tuple(notes),
    )


def _decode(
    image: Image.Image, *, max_pixels: int, stored_edge: int
) -> tuple[Image.Image, list[str], tuple[int, int], Image.Transpose | None, int, str]:
    """The checks that read the header (size, frames, mode), then the one decode."""
    kind = image.format or ""
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected(
            f"The picture is {width}×{height} ({width * height:,} pixels); uploads take "
            f"at most {max_pixels:,} pixels. Scale it down to at most {stored_edge} px "
            "on its long side and upload that. (Nothing was decoded.)"
        )
    frames = _frames(image)
    if frames > 1 and kind != "MPO":
        raise ImageRejected(
            f"This {kind} is animated ({frames} frames): upload a still picture — "
            "export the frame you want as PNG or JPEG."
        )
    notes: list[str] = []
    if _sixteen_bit(image):
        notes.append("16 bits per channel converted to 8 (what models take)")
    icc = image.info.get("icc_profile")
    if image.mode == "CMYK" and not icc:
        raise ImageRejected(
            "This picture is in CMYK (print colours) with no colour profile to convert "
            "it by: export it in RGB (sRGB), as JPEG or PNG, and upload that."
        )
    if kind in ("JPEG", "MPO"):
        # Let the decoder scale by 1/2…1/8 when the stored picture is smaller anyway:
        # a fraction of the time and memory of decoding every pixel.
        image.draft(image.mode, _fit((width, height), stored_edge))
    image.load()  # every pixel: a truncated or damaged file fails here
    # After the load: a PNG's eXIf chunk may follow its pixels.
    orientation = int(image.getexif().get(0x0112, 1) or 1)
    transpose = codec.orientation_transpose(image)
    icc = image.info.get("icc_profile") or icc
    return _rgb(image, icc=icc, notes=notes), notes, (width, height), transpose, orientation, kind


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=_READ_FORMATS)
    except Image.DecompressionBombError:
        raise ImageRejected(
            "The picture declares far more pixels than any upload may have (a "
            "decompression bomb, or a mistake): scale it down and upload that. "
            "(Nothing was decoded.)"
        ) from None
    except UnidentifiedImageError:
        pass
    except codec.DECODE_ERRORS:
        raise ImageRejected(
            "The file is truncated or damaged: upload it again, or save it again."
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as other:  # header only
                kind = other.format or "This"
    except (*codec.DECODE_ERRORS, Image.DecompressionBombError):
        raise ImageRejected(
            "This file is not a picture, whatever its name says: upload a PNG, JPEG or WebP."
        ) from None
    raise ImageRejected(f"{kind} files are not taken: {_EXPORT}.")


def _frames(image: Image.Image) -> int:
    try:
        return int(getattr(image, "n_frames", 1))
    except codec.DECODE_ERRORS:
        raise ImageRejected(
            "The file is truncated or damaged: upload it again, or save it again."
        ) from None


def _sixteen_bit(image: Image.Image) -> bool:
    if image.mode.startswith("I;16") or image.mode == "I":
        return True
    # Pillow reads 48- and 64-bit PNGs as RGB(A), keeping the high byte of each sample.
    return any(
        str(tile.args[0] if isinstance(tile.args, tuple) else tile.args).startswith(
            _SIXTEEN_BIT_RAWMODES
        )
        for tile in getattr(image, "tile", [])
        if tile.args
    )


def _rgb(image: Image.Image, *, icc: bytes | None, notes: list[str]) -> Image.Image:
    """The decoded picture in RGB (RGBA with transparency, L for greyscale), in sRGB."""
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
            converted = ImageCms.profileToProfile(image, source, srgb, outputMode=out_mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            if image.mode == "CMYK":
                raise ImageRejected(
                    "This picture is in CMYK and its colour profile cannot be read: export "
                    "it in RGB (sRGB), as JPEG or PNG, and upload that."
                ) from None
            notes.append("its colour profile could not be read and was ignored")
        else:
            if converted is not None:
                if image.mode == "CMYK":
                    notes.append("CMYK converted to sRGB with its embedded profile")
                return converted
    if image.mode in ("RGB", "RGBA", "L"):
        return image
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "LA":
        return image.convert("RGBA")
    return codec.web_mode(image)


def _fit(size: tuple[int, int], edge: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode(picture: Image.Image, image_format: str) -> bytes:
    picture.info = {}  # no EXIF, XMP, ICC, text chunk or comment goes with it
    if image_format == "JPEG" and picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    buffer = io.BytesIO()
    if image_format == "PNG":
        picture.save(buffer, format="PNG", compress_level=6)
    else:
        picture.save(buffer, format=image_format, quality=92)
    return buffer.getvalue()
