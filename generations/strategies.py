"""How an approved preview becomes its final: the escalation strategies (DESIGN.md).

Pure definitions (no database): the project setting, the per-approval override and the
attempt all hold one of these values, and `resolve` says what a model can actually do
with it, so the approval screen and the worker agree before anyone pays.

- from_preview: the final request carries the approved preview as an input image, the
  prompt, the same seed and an instruction to reproduce it bigger. The default, where
  the model takes input images.
- from_prompt: the prompt and the same seed only (a fresh sample at the final's size).
- upscale: no model call; the preview resampled to the final's size on our own CPU,
  "not native 4K" wherever it is shown, charged at its own price-list entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.db import models


class Strategy(models.TextChoices):
    FROM_PREVIEW = "from_preview", "From the approved preview"
    FROM_PROMPT = "from_prompt", "From the prompt and seed"
    UPSCALE = "upscale", "Upscale the preview (not native 4K)"


# The price-list model key of an upscale (our CPU, not a provider's model).
UPSCALE_PRICE_KEY: Final = "upscale"
# How an upscaled final is flagged wherever it is shown.
NOT_NATIVE: Final = "not native 4K"
# The project's default SSIM threshold: a final less similar than this to its approved
# preview waits for the reviewer. With the local provider, finals made from the preview
# score ~0.98, upscales ~1.0, prompt-only ones ~0.3–0.4 (tests/generations/imaging/
# test_fidelity.py).
DEFAULT_THRESHOLD: Final = 0.6


@dataclass(frozen=True)
class Resolved:
    """What will be done for an asked strategy, and why it differs if it does."""

    asked: Strategy
    strategy: Strategy
    note: str = ""  # "" when the model does what was asked

    @property
    def fell_back(self) -> bool:
        return self.strategy != self.asked

    @property
    def calls_model(self) -> bool:
        return self.strategy != Strategy.UPSCALE

    @property
    def sends_preview(self) -> bool:
        return self.strategy == Strategy.FROM_PREVIEW


def resolve(asked: str, *, takes_input_images: bool, model_label: str = "This model") -> Resolved:
    """The strategy a final of this model will use when `asked` is asked for ("" = the
    default). A model that takes no input images cannot render from the preview: it
    falls back to prompt + seed, and the note says so (shown before approval)."""
    wanted = Strategy(asked) if asked else Strategy.FROM_PREVIEW
    if wanted == Strategy.FROM_PREVIEW and not takes_input_images:
        return Resolved(
            asked=wanted,
            strategy=Strategy.FROM_PROMPT,
            note=(
                f"{model_label} takes no input images, so its final cannot be made from the "
                "approved preview: it will be rendered from the prompt and the same seed, "
                "and may differ from what you approve."
            ),
        )
    return Resolved(asked=wanted, strategy=wanted)


def label(strategy: str) -> str:
    try:
        return Strategy(strategy).label
    except ValueError:
        return strategy or "—"
