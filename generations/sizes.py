"""Published pixel sizes of the Gemini 3 image models, per aspect ratio and size.

The 1K sizes are Google's table; 2K and 4K are exactly ×2 and ×4 of them, and 512 (the
cheapest preview, where a model offers it: Nano Banana 2) exactly half.
"""

from __future__ import annotations

from typing import Final

# Every size the app knows, smallest first. A model's entry says which of them it renders
# (the catalogue's default is DEFAULT_SIZES: 512 only where an entry offers it).
SIZES: Final = ("512", "1K", "2K", "4K")
DEFAULT_SIZES: Final = ("1K", "2K", "4K")
PREVIEW_SIZES: Final = ("512", "1K", "2K")
FINAL_SIZE: Final = "4K"

# Linear scale of each size against 1K (512 is half of it in both directions).
SCALE: Final = {"512": 0.5, "1K": 1, "2K": 2, "4K": 4}

# aspect ratio -> (width, height) at 1K
_BASE_1K: Final[dict[str, tuple[int, int]]] = {
    "1:1": (1024, 1024),
    "16:9": (1376, 768),
    "9:16": (768, 1376),
    "3:2": (1264, 848),
    "2:3": (848, 1264),
    "4:3": (1200, 896),
    "3:4": (896, 1200),
    "5:4": (1152, 928),
    "4:5": (928, 1152),
    "21:9": (1584, 672),
}

ASPECT_RATIOS: Final = tuple(_BASE_1K)


def pixel_size(*, aspect_ratio: str, size: str) -> tuple[int, int]:
    """(width, height) in pixels that a provider returns for this request."""
    try:
        width, height = _BASE_1K[aspect_ratio]
        scale = SCALE[size]
    except KeyError as exc:
        raise ValueError(f"unknown aspect ratio or size: {aspect_ratio!r} {size!r}") from exc
    return int(width * scale), int(height * scale)
