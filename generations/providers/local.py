"""The embedded default provider: a deterministic, detailed picture drawn with Pillow.

It stands in for a hosted model wherever there is no API key (`make run`, tests, demos),
so it has to model what hosted models do, not flatter the product (DESIGN.md, "local"):

* More pixels, more real detail: a Mandelbrot region chosen from the prompt and seed is
  sampled at the exact requested width×height, so a 4K is sharper than a 2K where a
  reviewer zooms in. A Siemens star (a resolution target) and microprint that only
  becomes legible at high resolution make the difference easy to see.
* From the prompt alone, the composition drifts with the size, as a model sampled afresh
  does: where the frame falls in the region (shift, zoom) and a touch of the hue depend on
  the pixel size too, so a prompt-only 4K is related to its 2K preview (same region, same
  palette, same layout) but visibly not the same picture.
* From an approved preview (an input image with that role), the composition is kept:
  the preview scaled to the target size, plus the fine detail that the native render of
  the preview's own region has and the preview lacks. For a preview this provider made,
  that is the same picture with more detail.
* References (the other input images) steer the palette: its hue is taken from them.
* The same request always gives the same bytes. Latency and failures follow a named
  profile, drawn per attempt from `rng` (never from the prompt), so retries, timeouts and
  fallbacks can be exercised without a network.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from generations.catalog import LOCAL_INPUT_IMAGES
from generations.providers import inputs
from generations.providers.base import (
    InputImage,
    InputRole,
    InvalidRequest,
    Overloaded,
    ProviderError,
    RenderRequest,
    RenderResult,
    ServerError,
    Timeout,
)

# --- latency and failure profiles ------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """How long a render takes and how often it fails, per size ("1K"/"2K"/"4K")."""

    name: str
    latency_s: Mapping[str, tuple[float, float]]  # size -> (low, high), drawn uniformly
    failure_rate: Mapping[str, float]  # size -> probability of a retryable failure

    def latency_range(self, size: str) -> tuple[float, float]:
        # Sizes outside the table (e.g. a 512 preview) behave like the smallest one.
        return self.latency_s.get(size, self.latency_s["1K"])

    def failure_probability(self, size: str) -> float:
        return self.failure_rate.get(size, self.failure_rate["1K"])


def _per_size(one_k: T, two_k: T, four_k: T) -> dict[str, T]:
    return {"1K": one_k, "2K": two_k, "4K": four_k}


PROFILES: Final[dict[str, Profile]] = {
    "instant": Profile(
        name="instant",
        latency_s=_per_size((0.0, 0.0), (0.0, 0.0), (0.0, 0.0)),
        failure_rate=_per_size(0.0, 0.0, 0.0),
    ),
    # Seconds instead of minutes, with enough failures to see retries in a demo.
    "demo": Profile(
        name="demo",
        latency_s=_per_size((1.0, 3.0), (2.0, 5.0), (4.0, 10.0)),
        failure_rate=_per_size(0.05, 0.05, 0.20),
    ),
    # The published Nano Banana Pro table (DESIGN.md): for simulations, not for demos.
    "realistic": Profile(
        name="realistic",
        latency_s=_per_size((15.0, 30.0), (45.0, 90.0), (180.0, 600.0)),
        failure_rate=_per_size(0.04, 0.15, 0.55),
    ),
}

_FIXED_PREFIX: Final = "fixed:"


def resolve_profile(spec: str) -> Profile:
    """A profile by name, or a test spec like "fixed:latency=2.5,fail=0" (every size)."""
    if spec in PROFILES:
        return PROFILES[spec]
    if not spec.startswith(_FIXED_PREFIX):
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"Unknown local provider profile {spec!r}; use {known} or 'fixed:…'.")
    options = _parse_options(spec.removeprefix(_FIXED_PREFIX), spec=spec)
    latency, fail = options.get("latency", 0.0), options.get("fail", 0.0)
    if latency < 0 or not 0 <= fail <= 1:
        raise ValueError(f"Profile {spec!r}: latency must be >= 0 and fail within 0..1.")
    return Profile(
        name=spec,
        latency_s=_per_size((latency, latency), (latency, latency), (latency, latency)),
        failure_rate=_per_size(fail, fail, fail),
    )


def _parse_options(text: str, *, spec: str) -> dict[str, float]:
    options: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        if key not in ("latency", "fail"):
            raise ValueError(f"Profile {spec!r}: unknown option {key!r} (latency, fail).")
        try:
            options[key] = float(value)
        except ValueError:
            raise ValueError(f"Profile {spec!r}: {key} must be a number.") from None
    return options


# --- the provider ----------------------------------------------------------------------

_MAX_PIXELS: Final = 40_000_000  # well above 4K 21:9; refuses typos that would eat memory


class LocalProvider:
    name = "local"

    def __init__(
        self,
        profile: str = "demo",
        *,
        sleep: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
        max_input_images: int = LOCAL_INPUT_IMAGES,
        label: str = "The local renderer",
    ) -> None:
        self.profile = resolve_profile(profile)
        # When it simulates a hosted model, it takes the input images that model takes.
        self.max_input_images = max_input_images
        self.label = label
        self._sleep = sleep
        # Seeded from the OS, not the prompt: a retry must be able to succeed.
        self._rng = rng or random.Random(os.urandom(16))

    def render(self, request: RenderRequest) -> RenderResult:
        _validate(request)
        inputs.require_inputs(request, max_images=self.max_input_images, label=self.label)
        latency, failure = self._draw(request.size)
        if latency > request.timeout_s:
            # Honest timeout: the caller waited timeout_s, not the whole latency.
            self._sleep(request.timeout_s)
            raise Timeout(
                f"Simulated timeout: the local {request.size} render would take "
                f"{latency:.1f} s, over the {request.timeout_s:g} s limit."
            )
        if latency > 0:
            self._sleep(latency)
        if failure is not None:
            raise failure
        data = render_png(
            prompt=request.prompt,
            seed=request.seed,
            aspect_ratio=request.aspect_ratio,
            width=request.width,
            height=request.height,
            input_images=request.input_images,
        )
        meta: dict[str, Any] = {
            "provider": self.name,
            "profile": self.profile.name,
            "simulated_latency_s": round(latency, 3),
        }
        if request.input_images:
            meta["inputs"] = inputs.summary(request.input_images)
            meta["composition"] = _composition(request.input_images)
        return RenderResult(
            data=data, mime_type="image/png", width=request.width, height=request.height, meta=meta
        )

    def _draw(self, size: str) -> tuple[float, ProviderError | None]:
        # Always draw both numbers so one attempt consumes the rng the same way.
        low, high = self.profile.latency_range(size)
        latency = self._rng.uniform(low, high)
        fails = self._rng.random() < self.profile.failure_probability(size)
        if not fails:
            return latency, None
        error_type = self._rng.choice((ServerError, Overloaded))
        label = "an internal error" if error_type is ServerError else "overloaded"
        return latency, error_type(f"Simulated failure: the local {size} render was {label}.")


def _composition(images: Sequence[InputImage]) -> str:
    if _preview_of(images) is not None:
        return "kept from the approved preview"
    return f"drawn from the prompt, palette from {_references(len(images))}"


def _validate(request: RenderRequest) -> None:
    if not request.prompt.strip():
        raise InvalidRequest("The prompt is empty.")
    if request.width < 16 or request.height < 16:
        raise InvalidRequest(f"{request.width}×{request.height} is too small to render.")
    if request.width * request.height > _MAX_PIXELS:
        raise InvalidRequest(f"{request.width}×{request.height} is too large to render.")


# --- the picture -----------------------------------------------------------------------

# (centre re, centre im, width) of regions near the set's boundary that look good at a
# modest iteration count; the prompt hash picks one and nudges it.
_REGIONS: Final = (
    (-0.745, 0.11, 0.06),  # seahorse valley
    (0.28, 0.01, 0.06),  # elephant valley
    (-0.088, 0.654, 0.03),  # triple spiral
    (-1.768, 0.0, 0.05),  # a minibrot on the antenna
    (-1.25, 0.0, 0.35),  # the period-2 bulb
    (-0.1, 0.85, 0.4),  # the northern bulbs
    (-0.56, 0.62, 0.12),
    (-1.36, 0.07, 0.08),
    (-0.02, 0.81, 0.1),
    (0.36, 0.32, 0.1),
    (-0.4, 0.6, 0.15),
)
# Escape-time iterations. Fixed for every size so the composition never changes; cost
# is linear in it, and 80 keeps a 4K fractal around a second.
_QUALITY: Final = 80
# Tiles per long edge when skipping the interior: more tiles skip more of it but cost
# more Python per tile; 32 measured fastest at both 1K and 4K.
_TILES_PER_EDGE: Final = 32
_STAR_SPOKES: Final = 72
# Composition rules for picking a region: at most this share of the frame inside the
# set (a flat dark area), at least this share close to its boundary (the detail).
_PROBE_EDGE: Final = 96
_REGION_TRIES: Final = 12
_MAX_INSIDE: Final = 0.4
_MIN_NEAR_EDGE: Final = 0.04


# How far a prompt-only render's frame drifts with the pixel size: its centre moves by
# this share of the frame's width (in a size-dependent direction), it zooms by a factor in
# this range and its hue turns by up to this much. Enough that a 2K and a 4K of one seed
# are visibly different compositions, not so much that they stop looking related.
_DRIFT_SHIFT: Final = (0.1, 0.22)
_DRIFT_ZOOM: Final = (0.85, 1.2)
_DRIFT_HUE: Final = 0.04
# Below this weighted saturation a reference is grey: it does not steer the hue.
_MIN_REFERENCE_CHROMA: Final = 0.05
_REFERENCE_SAMPLE: Final = 32
# Input and output aspect ratios this close are the same frame: scaled, not cropped.
_SAME_FRAME: Final = 0.01


def render_png(
    *,
    prompt: str,
    seed: int,
    aspect_ratio: str,
    width: int,
    height: int,
    input_images: Sequence[InputImage] = (),
) -> bytes:
    """The local provider's picture as PNG bytes; same arguments, same bytes."""
    image = render_image(
        prompt=prompt,
        seed=seed,
        aspect_ratio=aspect_ratio,
        width=width,
        height=height,
        input_images=input_images,
    )
    buffer = io.BytesIO()
    # Level 1: a 4K PNG encodes in a fraction of a second; size hardly matters locally.
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def render_image(
    *,
    prompt: str,
    seed: int,
    aspect_ratio: str,
    width: int,
    height: int,
    input_images: Sequence[InputImage] = (),
) -> Image.Image:
    """From the approved preview among `input_images` if there is one, else from the prompt
    (with the palette of the references, if any)."""
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    source = next((i for i in input_images if i.role == InputRole.SOURCE), None)
    if source is not None and _preview_of(input_images) is None:
        # An edit's preview: the picture itself, changed as asked (here: recoloured by
        # the instruction), so the edit visibly keeps its source's composition.
        facts = f"seed {seed} · {aspect_ratio} · {width}×{height} · edit of the attached image"
        return _edit(digest, source, size=(width, height), prompt=prompt, facts=facts)
    preview = _preview_of(input_images)
    references = [image for image in input_images if image is not preview]
    hue = _reference_hue(references)
    facts = f"seed {seed} · {aspect_ratio} · {width}×{height}"
    if preview is None:
        if references:
            facts += f" · palette from {_references(len(references))}"
        size = (width, height)
        image, _ = _picture(digest, frame=size, size=size, hue=hue, prompt=prompt, facts=facts)
        return image
    return _from_preview(digest, preview, size=(width, height), hue=hue, prompt=prompt, facts=facts)


def _edit(
    digest: bytes, source: InputImage, *, size: tuple[int, int], prompt: str, facts: str
) -> Image.Image:
    """The source cut to the frame asked for, toned towards a colour the instruction
    picks (a third of the way), with this render's caption band."""
    picture = ImageOps.fit(_decode(source, draft=size), size, Image.Resampling.BICUBIC)
    tone = Image.new("RGB", size, _rgb(digest[0] / 255, 0.8, 0.9))
    image = Image.blend(picture, ImageChops.multiply(picture, tone), 0.35)
    _draw_caption(image, prompt=prompt, meta=facts)
    return image


def _preview_of(images: Sequence[InputImage]) -> InputImage | None:
    return next((i for i in images if i.role == InputRole.APPROVED_PREVIEW), None)


def _references(count: int) -> str:
    return f"{count} reference{'s' if count > 1 else ''}"


def _picture(
    digest: bytes,
    *,
    frame: tuple[int, int],
    size: tuple[int, int],
    hue: float | None,
    prompt: str,
    facts: str,
) -> tuple[Image.Image, int]:
    """The picture of this prompt and seed as a render at `frame` pixels composes it, drawn
    at `size` pixels; and where its caption band starts."""
    drift = hashlib.sha256(digest + b"drift %dx%d" % frame).digest()
    escape = _mandelbrot(size, _choose_extent(digest, drift, *frame), _QUALITY)
    escape.putpalette(_palette(digest, hue=hue, turn=(drift[3] / 255 - 0.5) * 2 * _DRIFT_HUE))
    image = escape.convert("RGB")
    _draw_star(image, digest)
    return image, _draw_caption(image, prompt=prompt, meta=facts)


def _from_preview(
    digest: bytes,
    preview: InputImage,
    *,
    size: tuple[int, int],
    hue: float | None,
    prompt: str,
    facts: str,
) -> Image.Image:
    """The preview at `size`, with the fine detail it lacks.

    The detail comes from the native render of the preview's own region (composed as at
    the preview's size): the result is that render plus, upscaled, whatever the preview
    has that the render brought down to the preview's size has not. For a preview this
    provider made, that difference is only resampling, so the result is the native render
    of the preview; for any other picture it is the picture, with texture added. (Adding
    the upscaled difference is adding the upscaled preview and the native render's high
    frequencies, computed at the preview's size where it is cheap.) The caption band is
    the native one: it states this render's own facts.
    """
    source = _decode(preview)
    width, height = size
    # The preview cut to the target's frame (all of it, when the frames match).
    if abs(source.width / source.height - width / height) <= _SAME_FRAME * width / height:
        frame = source.size
    elif source.width / source.height > width / height:
        frame = (round(source.height * width / height), source.height)
    else:
        frame = (source.width, round(source.width * height / width))
    native, band_top = _picture(
        digest,
        frame=frame,
        size=size,
        hue=hue,
        prompt=prompt,
        facts=f"{facts} · from the approved preview",
    )
    if frame != source.size:
        source = ImageOps.fit(source, frame, Image.Resampling.BICUBIC)
    brought_down = native.resize(frame, Image.Resampling.BOX)
    missing = ImageChops.subtract(source, brought_down, scale=1.0, offset=128)
    del source, brought_down
    missing = missing.resize(size, Image.Resampling.BILINEAR)
    image = ImageChops.add(native, missing, scale=1.0, offset=-128)
    image.paste(native.crop((0, band_top, width, height)), (0, band_top))
    return image


def _decode(image: InputImage, *, draft: tuple[int, int] | None = None) -> Image.Image:
    """An input image as RGB pixels, upright; InvalidRequest when it is not an image."""
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            if opened.width * opened.height > _MAX_PIXELS:
                raise InvalidRequest(
                    f"The {image.role} ({opened.width}×{opened.height}) is too large to use."
                )
            if draft is not None:
                opened.draft("RGB", draft)  # JPEG: decode at a fraction of the size
            return ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise InvalidRequest(f"The {image.role} could not be decoded as an image.") from None


def _reference_hue(references: Sequence[InputImage]) -> float | None:
    """The references' dominant hue (0..1): the mean hue weighted by colourfulness, or None
    when they are (nearly) grey."""
    x = y = weight = 0.0
    edge = _REFERENCE_SAMPLE
    for reference in references:
        sample = _decode(reference, draft=(edge * 2, edge * 2))
        sample = sample.resize((edge, edge), Image.Resampling.BOX).convert("HSV")
        pixels = sample.tobytes()
        for index in range(0, len(pixels), 3):
            hue, saturation, value = pixels[index : index + 3]
            chroma = saturation * value / 255**2
            x += chroma * math.cos(2 * math.pi * hue / 255)
            y += chroma * math.sin(2 * math.pi * hue / 255)
            weight += chroma
    if not references or weight < _MIN_REFERENCE_CHROMA * edge * edge * len(references):
        return None
    return math.atan2(y, x) / (2 * math.pi) % 1.0


def _choose_extent(
    digest: bytes, drift: bytes, width: int, height: int
) -> tuple[float, float, float, float]:
    """The region of this prompt and seed, framed as a render at width×height frames it.

    The region is the first of a few prompt-derived ones that is neither mostly set nor
    empty, judged on a small probe whose size depends only on the aspect ratio, so every
    size of one prompt and seed starts from the same region. The frame then drifts by the
    pixel size (`drift`), keeping to the same composition rules where it can.
    """
    probe = (
        round(_PROBE_EDGE * math.sqrt(width / height)),
        round(_PROBE_EDGE * math.sqrt(height / width)),
    )
    for attempt in range(_REGION_TRIES):
        region = _extent(hashlib.sha256(digest + bytes([attempt])).digest(), width, height)
        if _composes(region, probe):
            break
    for attempt in range(_REGION_TRIES):
        drifted = _drifted(region, hashlib.sha256(drift + bytes([attempt])).digest())
        if _composes(drifted, probe):
            return drifted
    return region


def _composes(extent: tuple[float, float, float, float], probe: tuple[int, int]) -> bool:
    histogram = Image.effect_mandelbrot(probe, extent, _QUALITY).histogram()
    pixels = probe[0] * probe[1]
    inside, near_edge = histogram[0] / pixels, sum(histogram[96:]) / pixels
    return inside <= _MAX_INSIDE and near_edge >= _MIN_NEAR_EDGE


def _drifted(
    extent: tuple[float, float, float, float], digest: bytes
) -> tuple[float, float, float, float]:
    left, top, right, bottom = extent
    half_w, half_h = (right - left) / 2, (bottom - top) / 2
    angle = 2 * math.pi * digest[0] / 255
    low, high = _DRIFT_SHIFT
    shift = 2 * half_w * (low + (high - low) * digest[1] / 255)
    centre_re = left + half_w + shift * math.cos(angle)
    centre_im = top + half_h + shift * math.sin(angle)
    low, high = _DRIFT_ZOOM
    zoom = low * (high / low) ** (digest[2] / 255)  # log-uniform: in and out alike
    half_w, half_h = half_w * zoom, half_h * zoom
    return (centre_re - half_w, centre_im - half_h, centre_re + half_w, centre_im + half_h)


def _extent(digest: bytes, width: int, height: int) -> tuple[float, float, float, float]:
    centre_re, centre_im, span = _REGIONS[digest[0] % len(_REGIONS)]
    # Nudge by up to a fifth of the span and zoom by 0.8–1.2 so prompts sharing a
    # region still differ; the numbers depend on the prompt only, never on the size.
    centre_re += span * (digest[1] / 255 - 0.5) * 0.4
    centre_im += span * (digest[2] / 255 - 0.5) * 0.4
    span *= 0.8 + 0.4 * digest[3] / 255
    # Keep the area constant across aspect ratios, so 21:9 is not a sliver of 1:1.
    half_w = span * math.sqrt(width / height) / 2
    half_h = span * math.sqrt(height / width) / 2
    return (centre_re - half_w, centre_im - half_h, centre_re + half_w, centre_im + half_h)


def _mandelbrot(
    size: tuple[int, int], extent: tuple[float, float, float, float], quality: int
) -> Image.Image:
    """Image.effect_mandelbrot, but skipping tiles that lie wholly inside the set.

    Interior points cost the full iteration count. The set (at any iteration count) has
    no holes, so a tile whose border never escapes is interior throughout and stays 0:
    only the borders (a few percent of the pixels) are computed for such tiles.
    """
    width, height = size
    left, top, right, bottom = extent
    step_x, step_y = (right - left) / (width - 1), (bottom - top) / (height - 1)

    def sample(x: int, y: int, w: int, h: int) -> Image.Image:
        # Pixel (x, y) always maps to the same point as in one full-image call.
        box = (left + x * step_x, top + y * step_y, left + (x + w - 1) * step_x)
        return Image.effect_mandelbrot((w, h), (*box, top + (y + h - 1) * step_y), quality)

    tile = max(16, max(size) // _TILES_PER_EDGE)
    xs, ys = range(0, width, tile), range(0, height, tile)
    # Border lines shared by neighbouring tiles; 2 px thick because a 1 px sample
    # divides by zero inside Pillow. Lines at width/height close the last tiles.
    rows = {y: sample(0, y, width + 1, 2) for y in [*ys, height]}
    cols = {x: sample(x, 0, 2, height + 1) for x in [*xs, width]}
    out = Image.new("L", size, 0)
    for y in ys:
        h = min(tile, height - y)
        for x in xs:
            w = min(tile, width - x)
            border = (
                rows[y].crop((x, 0, x + w + 1, 1)),
                rows[y + h].crop((x, 0, x + w + 1, 1)),
                cols[x].crop((0, y, 1, y + h + 1)),
                cols[x + w].crop((0, y, 1, y + h + 1)),
            )
            if any(line.getbbox() for line in border):
                out.paste(sample(x, y, w, h), (x, y))
    return out


def _palette(digest: bytes, *, hue: float | None = None, turn: float = 0.0) -> list[int]:
    """A 256-entry RGB palette for escape values: 0 is the set, the rest cycle hues.

    `hue` (from references) replaces the prompt's own and keeps the colours close to it;
    `turn` nudges the hue (a size-dependent drift).
    """
    if hue is None:
        hue, spread = digest[4] / 255, 0.15 + 0.5 * digest[5] / 255
    else:
        spread = 0.06 + 0.08 * digest[5] / 255
        hue -= spread / 2  # centre the palette's sweep on the reference's hue
    hue += turn
    cycles = 2 + digest[6] % 4
    palette = [*_rgb(hue + 0.5, 0.6, 0.08)]  # the set itself: a deep complementary shade
    for value in range(1, 256):
        # sqrt spreads the low escape counts (far from the set) into broad bands; the
        # squared term adds quick colour changes close to the set, where the fine
        # filaments are, so they stand out from their surroundings.
        share = value / 255
        t = (math.sqrt(share) * cycles + share * share * 6) % 1.0
        wave = 0.5 - 0.5 * math.cos(2 * math.pi * t)
        palette += _rgb(hue + spread * wave, 0.55 + 0.4 * wave, 0.25 + 0.75 * (1 - wave * 0.6))
    return palette


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, min(value, 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def _draw_star(image: Image.Image, digest: bytes) -> None:
    """A Siemens star: its spokes resolve closer to the centre the more pixels there are."""
    width, height = image.size
    radius = round(min(width, height) * 0.09)
    margin = round(min(width, height) * 0.04)
    cx = width - margin - radius if digest[7] % 2 else margin + radius
    cy = margin + radius
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    draw = ImageDraw.Draw(image)
    draw.ellipse(box, fill=(245, 245, 240))
    step = 360 / _STAR_SPOKES
    for spoke in range(0, _STAR_SPOKES, 2):
        draw.pieslice(box, spoke * step, (spoke + 1) * step, fill=(16, 16, 20))
    draw.ellipse(box, outline=(16, 16, 20), width=max(1, radius // 40))


def _draw_caption(image: Image.Image, *, prompt: str, meta: str) -> int:
    """A darkened band with a microprint line, the wrapped prompt and the render facts;
    returns the band's top row."""
    width, height = image.size
    unit = min(width, height)
    title = _font(unit * 0.034)
    small = _font(unit * 0.02)
    micro = _font(unit * 0.006)  # ~6 px at 1K (a grey smear), ~25 px at 4K (legible)
    pad = round(unit * 0.025)
    lines = _wrap(prompt, title, max_width=width - 2 * pad, max_lines=3)
    line_height = round(title.size * 1.25)
    micro_height = round(micro.size * 1.6)
    band_height = micro_height + pad + line_height * len(lines) + round(small.size * 1.6) + pad
    top = height - band_height
    band = image.crop((0, top, width, height)).point(lambda v: v * 35 // 100)
    image.paste(band, (0, top))

    draw = ImageDraw.Draw(image)
    _microprint(draw, f"PROOF STUDIO · {prompt} · {meta} · ", micro, top=top, width=width)
    y = top + micro_height + pad
    for line in lines:
        draw.text((pad, y), line, font=title, fill=(250, 250, 245))
        y += line_height
    draw.text((pad, y), meta, font=small, fill=(190, 190, 185))
    return top


def _microprint(
    draw: ImageDraw.ImageDraw, unit_text: str, font: ImageFont.FreeTypeFont, *, top: int, width: int
) -> None:
    repeats = math.ceil(width / max(1.0, font.getlength(unit_text))) + 1
    draw.text((0, top + font.size * 0.3), unit_text * repeats, font=font, fill=(170, 170, 165))


def _font(size: float) -> ImageFont.FreeTypeFont:
    pixels = max(4, round(size))
    try:
        # DejaVu covers accents, Greek and Cyrillic that prompts contain; Pillow's
        # bundled font (Latin only) keeps renders working where it is not installed.
        return ImageFont.truetype("DejaVuSans.ttf", pixels)
    except OSError:
        pass
    font = ImageFont.load_default(size=pixels)
    if isinstance(font, ImageFont.FreeTypeFont):
        return font
    # Without FreeType Pillow hands back a fixed-size bitmap font that cannot scale.
    raise RuntimeError("The local provider needs Pillow built with FreeType.")


def _wrap(text: str, font: ImageFont.FreeTypeFont, *, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap; the last line ends in an ellipsis when the prompt is longer."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and font.getlength(candidate) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], " ".join(lines[max_lines - 1 :])]
    return [_fit(line, font, max_width) for line in lines]


def _fit(line: str, font: ImageFont.FreeTypeFont, max_width: int) -> str:
    if font.getlength(line) <= max_width:
        return line
    # Binary search for the longest prefix that fits with its ellipsis.
    low, high = 0, len(line)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(line[:middle] + "…") <= max_width:
            low = middle
        else:
            high = middle - 1
    return line[:low].rstrip() + "…"
