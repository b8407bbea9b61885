"""Forms parse and type what people send; the rules themselves live in the services,
whose ValidationErrors are attached back to these fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from generations import catalog
from generations.services import MAX_VARIANTS
from generations.sizes import ASPECT_RATIOS, PREVIEW_SIZES

VARIANT_CHOICES = [(n, str(n)) for n in range(1, MAX_VARIANTS + 1)]
_ASPECT_HINTS = {
    "1:1": "square",
    "16:9": "landscape",
    "9:16": "portrait",
    "21:9": "ultrawide",
}


def _aspect_choices() -> list[tuple[str, str]]:
    offered = {ratio for model in catalog.all_models() for ratio in model.aspect_ratios}
    ordered = [r for r in ASPECT_RATIOS if r in offered] + sorted(offered - set(ASPECT_RATIOS))
    return [(r, f"{r} · {_ASPECT_HINTS[r]}" if r in _ASPECT_HINTS else r) for r in ordered]


def _model_choices() -> list[tuple[str, str]]:
    return [(model.key, model.label) for model in catalog.all_models()]


def _size_choices() -> list[tuple[str, str]]:
    offered = {size for model in catalog.all_models() for size in model.preview_sizes}
    return [(s, s) for s in PREVIEW_SIZES if s in offered]


class ModelSelect(forms.Select):
    """Each model option says which aspect ratios and preview sizes it offers, so the
    page can grey out the others (static/js/studio.js); the service still checks."""

    def create_option(
        self,
        name: str,
        value: Any,
        label: Any,
        selected: bool,
        index: int,
        subindex: int | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        try:
            model = catalog.get_model(str(value))
        except LookupError:
            return option
        option["attrs"]["data-aspect-ratios"] = " ".join(model.aspect_ratios)
        option["attrs"]["data-preview-sizes"] = " ".join(model.preview_sizes)
        return option


class VariantsField(forms.IntegerField):
    widget = forms.Select(choices=VARIANT_CHOICES)


class SubmissionForm(forms.Form):
    prompt = forms.CharField(
        max_length=4000,
        required=False,  # the service says what is missing
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": "Describe the image: subject, setting, light, style…",
                "autofocus": True,
            }
        ),
    )
    # Callables: the choices follow settings.STUDIO_MODELS at every use.
    model_key = forms.ChoiceField(label="Model", choices=_model_choices, widget=ModelSelect)
    aspect_ratio = forms.ChoiceField(label="Aspect ratio", choices=_aspect_choices)
    preview_size = forms.ChoiceField(label="Preview size", choices=_size_choices)
    variants = VariantsField(label="Variants")

    @staticmethod
    def defaults() -> dict[str, object]:
        sizes = [size for size, _ in _size_choices()]
        return {
            "model_key": settings.STUDIO_DEFAULT_MODEL,
            "aspect_ratio": "1:1",
            "preview_size": "2K" if "2K" in sizes else sizes[0],
            "variants": 2,
        }


class ApproveForm(forms.Form):
    note = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Note (optional)"}),
    )


class RejectForm(forms.Form):
    comment = forms.CharField(
        max_length=2000,
        required=False,  # the service insists on it, with its own message
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why? The designer sees this."}),
    )


class RevisionForm(forms.Form):
    prompt = forms.CharField(
        max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    aspect_ratio = forms.ChoiceField(label="Aspect ratio", choices=_aspect_choices)
    preview_size = forms.ChoiceField(label="Preview size", choices=_size_choices)
    variants = VariantsField(label="Variants")
