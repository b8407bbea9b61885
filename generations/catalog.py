"""The models designers can choose, as configured in settings.STUDIO_MODELS."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from generations.sizes import ASPECT_RATIOS, PREVIEW_SIZES


@dataclass(frozen=True)
class ModelEntry:
    key: str
    label: str
    provider: str
    model_id: str
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS
    preview_sizes: tuple[str, ...] = PREVIEW_SIZES


def all_models() -> list[ModelEntry]:
    return [
        ModelEntry(
            key=key,
            label=raw["label"],
            provider=raw["provider"],
            model_id=raw["model_id"],
            aspect_ratios=tuple(raw.get("aspect_ratios", ASPECT_RATIOS)),
            preview_sizes=tuple(raw.get("preview_sizes", PREVIEW_SIZES)),
        )
        for key, raw in settings.STUDIO_MODELS.items()
    ]


def get_model(key: str) -> ModelEntry:
    for entry in all_models():
        if entry.key == key:
            return entry
    raise LookupError(f"Unknown model {key!r}.")
