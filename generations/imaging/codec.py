"""Image checks and conversions for what providers return: pure functions on bytes.

Everything a provider sends is untrusted: `ingest` proves the bytes are a whole PNG,
JPEG or WebP of a sane size before anything is stored, and the browser only ever gets
WebP renditions made here (`make_renditions`, on the CPU queue) or the tiny placeholder.

The pipeline decodes a result once in the render task (`ingest`: the decode proves the
data is whole and yields the metrics, the placeholder and the screen-size pixels); the CPU
queue makes both renditions from those pixels (`renditions_of_screen`), or decodes the
original a second time when they were not handed over (`make_renditions`).

Quality metrics: `measure_detail` below defines `luma_entropy` and `detail_energy`. The
quality-drift report compares them per model × size over time, so their definitions must
not change without renaming the fields.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import struct
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from PIL import Image, ImageFilter, UnidentifiedImageError

try:  # libvips, from the pyvips-binary wheel (a dependency): no system package needed
    import pyvips as _vips
except (ImportError, OSError):  # its library would not load on this platform: Pillow only
    _vips = None
else:
    _vips.cache_set_max(0)  # each image is decoded once: nothing worth keeping in memory

THUMBNAIL_EDGE: Final = 384
SCREEN_EDGE: Final = 2048
# libwebp's method for the screen rendition: 0 encodes a 2048² picture in ~85 ms against
# ~125 ms for 2 and ~280 ms for 4, with the same fidelity (PSNR within 0.1 dB) for 7–17 %
# more bytes than 2 (more on smooth pictures; docs/benchmarks.md "Image ingest").
SCREEN_WEBP_METHOD: Final = 0
# The placeholder: ~16 px on the long edge, a few hundred bytes as a data: URI.
PLACEHOLDER_EDGE: Final = 16
DEFAULT_MAX_PIXELS: Final = 40_000_000

_MIME_TYPES: Final = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # a JPEG with extra frames (phones, some encoders)
    "WEBP": "image/webp",
}
# Everything a damaged file can make Pillow's decoders raise.
_DECODE_ERRORS: Final = (OSError, SyntaxError, EOFError, ValueError, struct.error, zlib.error)
DECODE_ERRORS: Final = _DECODE_ERRORS
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


@dataclass(frozen=True)
class Ingested(ImageInfo):
    """ImageInfo plus what the one full decode yields."""

    placeholder: str  # data:image/webp;base64,... (~16 px), shown while renditions load
    luma_entropy: float  # bits, 0–8 (module docstring)
    detail_energy: float  # mean |Laplacian|, 0–128 (measure_detail)
    # With ingest(keep_screen=True): the upright pixels at the screen rendition's size,
    # so the renditions need no second decode (generations.imaging.renditions' spool).
    screen: Image.Image | None = field(default=None, compare=False, repr=False)
    # With ingest(sample_size=…): the luma at that size, for a final's fidelity to its
    # preview (generations.imaging.fidelity) without a second decode.
    sample: Image.Image | None = field(default=None, compare=False, repr=False)


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Facts about an image after proving it is a complete PNG, JPEG or WebP."""
    return ingest(data, max_pixels=max_pixels)


def ingest(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    keep_screen: bool = False,
    sample: Callable[[Image.Image], Image.Image] | None = None,
) -> Ingested:
    """Check the header, refuse bombs before decoding, then decode once for the metrics.

    Peak memory is the decoded pixels (4 bytes per pixel for RGB in Pillow: 64 MiB at
    4096²) plus their luminance (1 byte per pixel) on top of `data`.
    """
    if not data:
        raise ImageRejected("The file is empty.")
    with _open(data, max_pixels=max_pixels) as image:
        mime_type = _MIME_TYPES[image.format or ""]
        width, height = image.size
        # From the header, before a single pixel is decoded.
        _check_pixels(width, height, len(data), max_pixels)
        _check_complete(image)
    # hashlib and Pillow's decoder both release the GIL: the hash (~15 ms for 25 MB)
    # runs on the second core while this thread decodes.
    with ThreadPoolExecutor(max_workers=1) as lane:
        digest = lane.submit(_sha256, data)
        entropy, energy, placeholder, screen, sampled = _decode_and_measure(
            data, width, height, keep_screen=keep_screen, sample=sample
        )
        sha256 = digest.result()
    return Ingested(
        sha256=sha256,
        mime_type=mime_type,
        width=width,
        height=height,
        byte_size=len(data),
        bytes_per_pixel=len(data) / (width * height),
        placeholder=placeholder,
        luma_entropy=entropy,
        detail_energy=energy,
        screen=screen,
        sample=sampled,
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_pixels(width: int, height: int, byte_size: int, max_pixels: int) -> None:
    pixels = width * height
    if pixels <= max_pixels:
        return
    message = (
        f"The image is {width}×{height} ({pixels:,} pixels), more than the "
        f"{max_pixels:,} pixels accepted"
    )
    if byte_size < pixels // 100:  # a few bytes for millions of pixels: crafted
        message += f"; {byte_size:,} bytes for that many pixels is a decompression bomb"
    raise ImageRejected(message + ". It was refused before decoding.")


def _decode_and_measure(
    data: bytes,
    width: int,
    height: int,
    *,
    keep_screen: bool,
    sample: Callable[[Image.Image], Image.Image] | None = None,
) -> tuple[float, float, str, Image.Image | None, Image.Image | None]:
    # verify() cannot see a JPEG or WebP cut short, nor bad compressed PNG data with
    # valid checksums (or a header claiming more pixels than the data holds): decoding
    # every pixel can.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
    with image:
        try:
            decoded = _decode(image, data)
        except _DECODE_ERRORS:
            raise ImageRejected(
                f"The image is truncated or corrupt: its data does not decode to the "
                f"{width}×{height} pixels its header declares."
            ) from None
        # reduce(2) of a decoded 4K: ~15 ms here against a whole second decode later.
        screen = _resized(decoded, SCREEN_EDGE, copy=True) if keep_screen else None
        # libvips' RGBX stays as it is: every step below reduces it first (the same RGB
        # values as Pillow's own RGB, which is 4 bytes a pixel too), never a full-size copy.
        pixels = decoded if decoded.mode == "RGBX" else _web_mode(decoded)
        transpose = _orientation(decoded) if screen is None else None
        del decoded
        luma = analysis_luma(pixels)
        metrics = _measure_luma(luma)
        # A final's comparison sample comes from this ~1 MP luma, not from the full pixels:
        # at 4K that saves a second pass over 64 MiB (bench/fidelity.py).
        sampled = sample(luma) if sample is not None else None
        # From the screen pixels when there are some (a quarter of the pixels to average;
        # at 16 px the two cannot be told apart); upright either way, like the renditions.
        if screen is not None:
            placeholder = _placeholder(screen)
        else:
            placeholder = _placeholder(pixels, transpose=transpose)
        del pixels
    return metrics.luma_entropy, metrics.detail_energy, placeholder, screen, sampled


# --- the detail measure (every native image; the quality-drift report) ---------------

# About one megapixel is analysed whatever the image's size. The reduce factor is chosen
# from the pixel count, not the long edge, so every aspect ratio of one size (4096², 5504×3072,
# 5056×3392 at 4K) is reduced by the same factor and their detail energies compare.
ANALYSIS_PIXELS: Final = 1024 * 1024
# The 8-neighbour Laplacian (Pillow's FIND_EDGES), offset so negative responses survive the
# 8-bit output: one filter pass, then |response| read off the histogram.
_LAPLACIAN: Final = ImageFilter.Kernel((3, 3), (-1, -1, -1, -1, 8, -1, -1, -1, -1), 1, 128)
_REDUCIBLE_MODES: Final = frozenset({"L", "RGB", "RGBA", "LA", "RGBX"})


class DetailMetrics(NamedTuple):
    luma_entropy: float  # bits, 0–8
    detail_energy: float  # mean |Laplacian| of the luminance, 0–128


def analysis_factor(width: int, height: int) -> int:
    """The integer `Image.reduce` factor that brings an image to about ANALYSIS_PIXELS."""
    return max(1, round(math.sqrt(width * height / ANALYSIS_PIXELS)))


def measure_detail(image: Image.Image) -> DetailMetrics:
    """Detail measures of an already decoded image (Pillow only; ~30–50 ms for 4096² RGB).

    The image is first box-reduced by `analysis_factor` (to about one megapixel) and turned
    into luminance (ITU-R 601, Pillow's "L"). Then:
    - luma_entropy: Shannon entropy of the 256-bin luminance histogram, in bits (0 for a
      flat image, 8 at most). Falls when tones are posterised or flattened.
    - detail_energy: the mean absolute response of the 8-neighbour Laplacian over the inner
      pixels (the filter leaves the border unfiltered), responses clipped to ±128 — so 0 for
      a flat image, up to 128. Falls when fine texture is blurred or compressed away.
    Deterministic: the same pixels always give the same numbers.
    """
    return _measure_luma(analysis_luma(image))


def analysis_luma(image: Image.Image) -> Image.Image:
    """The luminance `measure_detail` analyses: box-reduced by `analysis_factor`."""
    factor = analysis_factor(*image.size)
    if image.mode in _REDUCIBLE_MODES:
        reduced = image.reduce(factor) if factor > 1 else image
        return reduced.convert("L") if reduced.mode != "L" else reduced
    # palette, CMYK, 16-bit…: luminance first, since reduce does not take every mode
    luma = image.convert("L")
    return luma.reduce(factor) if factor > 1 else luma


def _measure_luma(luma: Image.Image) -> DetailMetrics:
    return DetailMetrics(
        luma_entropy=_entropy(luma.histogram()),
        detail_energy=_laplacian_energy(luma),
    )


def _entropy(histogram: list[int]) -> float:
    total = sum(histogram)
    if not total:
        return 0.0
    bits = -sum((n / total) * math.log2(n / total) for n in histogram if n)
    return max(0.0, bits)  # -0.0 for a flat image


def _laplacian_energy(luma: Image.Image) -> float:
    width, height = luma.size
    if width < 3 or height < 3:
        return 0.0
    response = luma.filter(_LAPLACIAN).crop((1, 1, width - 1, height - 1))
    histogram = response.histogram()
    total = sum(histogram)
    return sum(n * abs(value - 128) for value, n in enumerate(histogram)) / total


def _placeholder(image: Image.Image, *, transpose: Image.Transpose | None = None) -> str:
    # reducing_gap: a cheap reduce() first, then BOX for the rest; 16 px needs no more.
    tiny = image.resize(_fit(image.size, PLACEHOLDER_EDGE), Image.Resampling.BOX, reducing_gap=2.0)
    tiny = _web_mode(tiny)  # libvips' RGBX (for any other mode, the caller's choice holds)
    if transpose is not None:
        tiny = tiny.transpose(transpose)
    buffer = io.BytesIO()
    tiny.save(buffer, format="WEBP", quality=40, method=6)
    return "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def make_renditions(data: bytes, *, quality: int = 80) -> tuple[bytes, bytes]:
    """(thumbnail, screen): WebPs within THUMBNAIL_EDGE / SCREEN_EDGE, from one decode.

    The thumbnail is resampled from the screen rendition, not from the original: 30×
    fewer pixels to filter, and at 384 px the difference is not visible.
    """
    with _open(data, max_pixels=DEFAULT_MAX_PIXELS * 4) as image:
        screen = _resized(_decode(image, data), SCREEN_EDGE, copy=True)
    return renditions_of_screen(screen, quality=quality)


def renditions_of_screen(screen: Image.Image, *, quality: int = 80) -> tuple[bytes, bytes]:
    """(thumbnail, screen) WebPs from upright pixels already at the screen size."""
    # reducing_gap=2: a box reduce() down to at least twice the target, then LANCZOS:
    # ~12 ms instead of ~30 ms from 2048 px, 50 dB PSNR against LANCZOS all the way.
    thumbnail = screen.resize(
        _fit(screen.size, THUMBNAIL_EDGE), Image.Resampling.LANCZOS, reducing_gap=2.0
    )
    # The thumbnail is fetched by every gallery card: worth the slower, tighter method.
    # The screen rendition is the 4K pipeline's largest single step after the decode.
    return _webp(thumbnail, quality, method=2), _webp(screen, quality, method=SCREEN_WEBP_METHOD)


def thumbnail_of_screen(screen: Image.Image, *, quality: int = 80) -> bytes:
    """The thumbnail WebP alone, from upright pixels at (or under) the screen size."""
    thumbnail = screen.resize(
        _fit(screen.size, THUMBNAIL_EDGE), Image.Resampling.LANCZOS, reducing_gap=2.0
    )
    return _webp(thumbnail, quality, method=2)


def make_rendition(data: bytes, *, long_edge: int, quality: int = 80) -> bytes:
    """A WebP no larger than long_edge on its long side, upright, never upscaled."""
    with Image.open(io.BytesIO(data)) as image:
        return _webp(_resized(image, long_edge), quality)


def _resized(image: Image.Image, long_edge: int, *, copy: bool = False) -> Image.Image:
    """Upright, in web mode, within long_edge. copy: never the same object as `image`
    (whose pixels go when it is closed)."""
    transpose = _orientation(image)
    size = _fit(image.size, long_edge)
    # JPEG only: let the decoder scale by 1/2..1/8 on the way in, far cheaper than
    # decoding every pixel and throwing most of them away.
    image.draft("RGB", size)
    # libvips' RGBX: converted to RGB once small (channel by channel, the same values).
    small = image if image.mode == "RGBX" else _web_mode(image)
    if small.size != size:
        # reducing_gap=1: reduce() by the whole factor first (a box average, exact
        # for 4K -> 2K and ~15× faster than LANCZOS over all the source pixels),
        # then LANCZOS for the fractional rest.
        small = small.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0)
    small = _web_mode(small)
    if transpose is not None:
        # After resizing, where it is cheaper; the long edge is the same either way.
        small = small.transpose(transpose)
    if copy and small is image:
        small = image.copy()
    return small


def screen_pixels(image: Image.Image) -> Image.Image:
    """Decoded, upright pixels at the screen rendition's size (a copy): what
    `renditions_of_screen` and `placeholder_of` take."""
    return _resized(image, SCREEN_EDGE, copy=True)


def placeholder_of(image: Image.Image) -> str:
    """The ~16 px data: URI shown while renditions load, from upright pixels."""
    return _placeholder(image)


def web_mode(image: Image.Image) -> Image.Image:
    return _web_mode(image)


def orientation_transpose(image: Image.Image) -> Image.Transpose | None:
    return _orientation(image)


def _decode(image: Image.Image, data: bytes) -> Image.Image:
    """Every pixel of `image` (opened from `data`, header only), as a loaded Pillow image.

    An 8-bit RGB or RGBA PNG is decoded by libvips (~0.7× Pillow's CPU at 4096²,
    bench/decode.py) straight into memory that Pillow maps without a copy: RGBA as it is,
    RGB padded to RGBX (4 bytes a pixel, like Pillow's own RGB), so the peak is the same as
    Pillow's decode. The pixels are the same (a PNG is lossless). Anything else — JPEG and
    WebP (whose decoders may round differently), palettes, 16 bits, a transparent colour,
    EXIF or XMP after the pixel data — is left to Pillow, as is every step after the
    decode. Raises one of _DECODE_ERRORS when the data do not decode to the declared pixels.
    """
    if _vips is None or image.format != "PNG" or not _vips_takes(image, data):
        image.load()
        return image
    try:
        decoded = _vips.Image.new_from_buffer(data, "", access="sequential", fail_on="error")
        if decoded.format != "uchar" or decoded.bands != len(image.mode):
            image.load()  # not what the header said to Pillow: let Pillow decide
            return image
        if (decoded.width, decoded.height) != image.size:
            raise ValueError("libvips and the header disagree on the size")
        mode = image.mode if image.mode == "RGBA" else "RGBX"
        if mode == "RGBX":
            decoded = decoded.bandjoin(255)
        pixels = Image.frombuffer(mode, image.size, decoded.write_to_memory(), "raw", mode, 0, 1)
    except _vips.Error as error:
        raise ValueError(f"libvips: {error}") from None
    # The header's metadata (EXIF and XMP, which orientation reads): nothing more follows
    # the pixel data (_vips_takes).
    pixels.info = dict(image.info)
    return pixels


# Chunks after the pixel data that Pillow would read into `info` on load() (EXIF, text
# that may hold XMP or a raw EXIF profile): with one of them, Pillow decodes.
_LATE_METADATA: Final = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt"})


def _vips_takes(image: Image.Image, data: bytes) -> bool:
    """libvips may decode: plain 8-bit RGB/RGBA, no transparent colour, and no metadata
    after the pixel data (which Pillow's header read has not seen). Walking the chunk
    headers costs ~0.1 ms for a 4K PNG."""
    if image.mode not in ("RGB", "RGBA") or "transparency" in image.info:
        return False
    if image.info.get("interlace"):
        return False  # Adam7: libvips would hold a second full-size buffer
    position, seen_pixels = 8, False
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        if kind == b"IDAT":
            seen_pixels = True
        elif kind == b"IEND":
            return True
        elif seen_pixels and kind in _LATE_METADATA:
            return False
        position += 12 + length
    return True  # cut short: the decode says so, with the same message


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The transpose that makes the picture upright (EXIF orientation), None if it is."""
    return _ORIENTATION.get(image.getexif().get(_ORIENTATION_TAG, 1))


def _webp(image: Image.Image, quality: int, *, method: int = 2) -> bytes:
    buffer = io.BytesIO()
    # method 2 encodes twice as fast as the default 4 for ~3 % larger files.
    image.save(buffer, format="WEBP", quality=quality, method=method)
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


def _open(data: bytes, *, max_pixels: int) -> Image.Image:
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
        # Pillow's own hard limit (2 × MAX_IMAGE_PIXELS) tripped while reading the header.
        declared = _png_declared_size(data)
        if declared:
            _check_pixels(*declared, len(data), max_pixels)
        raise ImageRejected(
            "The image declares too many pixels to be processed safely; "
            "it was refused before decoding."
        ) from None
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


def _png_declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR, read without Pillow (for a readable refusal)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


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
