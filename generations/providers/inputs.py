"""Input images on their way to a provider: whether the model takes them, and making them
fit the request limit.

A model takes at most `ModelEntry.max_input_images` images per request; more (or any, for
a model that takes none) is refused before a call, so the caller can fall back to the
prompt and seed. A request whose images would weigh more than `max_request_bytes` on the
wire (Gemini: 20 MB for inline data) gets its largest images downscaled, aspect ratio kept,
until it fits; each downscale is a note on the result.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from PIL import Image, ImageOps

from generations.providers.base import InputImage, InvalidRequest, RenderRequest

# Below this long edge an input image tells the model too little to be worth sending.
MIN_EDGE: Final = 256
_ROUNDS: Final = 4  # a re-encode only roughly hits its target size; it rarely takes two
# Aim a little under the budget: a re-encoded image's size is only roughly ~ its pixels.
_HEADROOM: Final = 0.92
_FORMATS: Final = {"image/jpeg": "JPEG", "image/webp": "WEBP"}  # anything else: PNG


def require_inputs(request: RenderRequest, *, max_images: int, label: str) -> None:
    """Refuse, before any call, more input images than the model takes."""
    count = len(request.input_images)
    if not count or count <= max_images:
        return
    if max_images == 0:
        raise InvalidRequest(
            f"{label} takes no input images, so it cannot render from the approved preview "
            "or from references; render from the prompt and seed instead."
        )
    raise InvalidRequest(
        f"{label} takes at most {max_images} input image{'s' if max_images > 1 else ''} "
        f"per request; this one has {count}."
    )


@dataclass(frozen=True)
class Fitted:
    images: tuple[InputImage, ...]
    notes: tuple[str, ...]  # one per downscaled image


def fit_request(
    images: Sequence[InputImage],
    *,
    limit_bytes: int,
    fixed_bytes: int,
    wire_bytes: Callable[[InputImage], int],
    service: str,
) -> Fitted:
    """The images, the largest downscaled until fixed_bytes + Σ wire_bytes ≤ limit_bytes.

    `fixed_bytes` is what the request weighs without its images; `wire_bytes` what one
    image adds (base64 in JSON for Gemini, a multipart part for a gateway). Each image is
    scaled from its original, never from an earlier downscale, so quality is lost once.
    """
    current = list(images)
    scales = [1.0] * len(current)
    limit_mb = f"{limit_bytes / 2**20:g} MB"
    for _ in range(_ROUNDS):
        costs = [wire_bytes(image) for image in current]
        if fixed_bytes + sum(costs) <= limit_bytes:
            notes = tuple(
                _note(number, before, after, service, limit_mb)
                for number, (before, after) in enumerate(zip(images, current, strict=True), 1)
                if after is not before
            )
            return Fitted(tuple(current), notes)
        # Every image over one common cap shrinks to it: several large images share the
        # cut, small references are left alone.
        cap = _water_level(costs, limit_bytes - fixed_bytes) * _HEADROOM
        for index, cost in enumerate(costs):
            if cost > cap:
                scales[index] *= math.sqrt(max(cap, 0) / cost)
                current[index] = downscale(
                    images[index], scales[index], service=service, limit=limit_mb
                )
    raise InvalidRequest(
        f"The input images do not fit {service}'s {limit_mb} request limit even downscaled."
    )


def _water_level(costs: Sequence[int], budget: int) -> float:
    """The largest cap C with Σ min(cost, C) ≤ budget (0 when nothing fits)."""
    remaining = float(max(budget, 0))
    ordered = sorted(costs)
    for position, cost in enumerate(ordered):
        left = len(ordered) - position
        if cost * left > remaining:
            return remaining / left
        remaining -= cost
    return float(ordered[-1]) if ordered else 0.0


def downscale(image: InputImage, scale: float, *, service: str, limit: str) -> InputImage:
    """`image` at `scale` of its size, aspect ratio kept, in its own format (PNG otherwise)."""
    width, height = round(image.width * scale), round(image.height * scale)
    if max(width, height) < MIN_EDGE or min(width, height) < 1:
        raise InvalidRequest(
            f"The {image.role} ({image.width}×{image.height}) would have to shrink below "
            f"{MIN_EDGE} px to fit {service}'s {limit} request limit."
        )
    with Image.open(io.BytesIO(image.data)) as opened:
        # Phone photos say "rotate me" in EXIF, which a re-encode drops: apply it first.
        picture = ImageOps.exif_transpose(opened)
    if picture.width != image.width:  # rotated by a quarter turn: keep the same scale
        width, height = height, width
    picture = picture.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    image_format = _FORMATS.get(image.mime_type, "PNG")
    options: dict[str, Any] = {"quality": 90} if image_format != "PNG" else {}
    if image_format == "JPEG" and picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format=image_format, **options)
    return replace(
        image,
        data=buffer.getvalue(),
        mime_type=Image.MIME[image_format],
        width=picture.width,
        height=picture.height,
    )


def summary(images: Sequence[InputImage]) -> list[dict[str, Any]]:
    """What was sent, for the attempt's provider metadata (no pixels)."""
    return [
        {
            "role": str(image.role),
            "mime_type": image.mime_type,
            "width": image.width,
            "height": image.height,
            "bytes": len(image.data),
        }
        for image in images
    ]


def _note(number: int, before: InputImage, after: InputImage, service: str, limit: str) -> str:
    return (
        f"input image {number} ({before.role}) downscaled from {before.width}×{before.height} "
        f"to {after.width}×{after.height} to fit {service}'s {limit} request limit"
    )
