"""The embedded default provider: a deterministic, detailed picture drawn with Pillow.

It stands in for a hosted model wherever there is no API key (`make run`, tests, demos).
Two properties matter to the rest of the app:

* The picture is the same composition at every size, with more real detail at more
  pixels: a Mandelbrot region chosen from the prompt and seed is sampled at the exact
  requested width×height, so a 4K is sharper than a 2K where a reviewer zooms in. A
  Siemens star (a resolution target) and microprint that only becomes legible at high
  resolution make the difference easy to see.
* Latency and failures follow a named profile, drawn per attempt from `rng` (never from
  the prompt), so retries, timeouts and fallbacks can be exercised without a network.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from PIL import Image, ImageDraw, ImageFont

from generations.providers.base import (
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
    ) -> None:
        self.profile = resolve_profile(profile)
        self._sleep = sleep
        # Seeded from the OS, not the prompt: a retry must be able to succeed.
        self._rng = rng or random.Random(os.urandom(16))

    def render(self, request: RenderRequest) -> RenderResult:
        _validate(request)
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
        )
        return RenderResult(
            data=data,
            mime_type="image/png",
            width=request.width,
            height=request.height,
            meta={
                "provider": self.name,
                "profile": self.profile.name,
                "simulated_latency_s": round(latency, 3),
            },
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


def render_png(*, prompt: str, seed: int, aspect_ratio: str, width: int, height: int) -> bytes:
    """The local provider's picture as PNG bytes; same arguments, same bytes."""
    image = render_image(
        prompt=prompt, seed=seed, aspect_ratio=aspect_ratio, width=width, height=height
    )
    buffer = io.BytesIO()
    # Level 1: a 4K PNG encodes in a fraction of a second; size hardly matters locally.
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def render_image(
    *, prompt: str, seed: int, aspect_ratio: str, width: int, height: int
) -> Image.Image:
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    escape = _mandelbrot((width, height), _choose_extent(digest, width, height), _QUALITY)
    escape.putpalette(_palette(digest))
    image = escape.convert("RGB")
    _draw_star(image, digest)
    _draw_caption(image, prompt=prompt, meta=f"seed {seed} · {aspect_ratio} · {width}×{height}")
    return image


def _choose_extent(digest: bytes, width: int, height: int) -> tuple[float, float, float, float]:
    """The first of a few prompt-derived regions that is neither mostly set nor empty.

    Judged on a small probe whose size depends only on the aspect ratio, so 1K, 2K and
    4K of one prompt pick the same region.
    """
    probe = (
        round(_PROBE_EDGE * math.sqrt(width / height)),
        round(_PROBE_EDGE * math.sqrt(height / width)),
    )
    for attempt in range(_REGION_TRIES):
        extent = _extent(hashlib.sha256(digest + bytes([attempt])).digest(), width, height)
        histogram = Image.effect_mandelbrot(probe, extent, _QUALITY).histogram()
        pixels = probe[0] * probe[1]
        inside, near_edge = histogram[0] / pixels, sum(histogram[96:]) / pixels
        if inside <= _MAX_INSIDE and near_edge >= _MIN_NEAR_EDGE:
            break
    return extent


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


def _palette(digest: bytes) -> list[int]:
    """A 256-entry RGB palette for escape values: 0 is the set, the rest cycle hues."""
    hue = digest[4] / 255
    spread = 0.15 + 0.5 * digest[5] / 255
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


def _draw_caption(image: Image.Image, *, prompt: str, meta: str) -> None:
    """A darkened band with a microprint line, the wrapped prompt and the render facts."""
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
