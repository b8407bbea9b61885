"""The model registry: which models designers can pick, and how each one is reached.

Models are configuration, not code. Each entry of settings.STUDIO_MODELS (overridable
as JSON in the STUDIO_MODELS environment variable) names a provider, a base URL, the
provider's model id, the *name* of the environment variable holding its API key, and
the sizes and aspect ratios it can render. The key itself is read from the environment
only when a call is made; it is never part of an entry, a label or a message.

A hosted model whose key variable is unset renders with the local provider instead, so
`make run` works with no key. That is never silent: the entry says `simulated`, its
label ends in "(local simulation)", and every Attempt records provider "local".
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from generations.lanes import ECONOMY_PROVIDERS, Lane
from generations.sizes import ASPECT_RATIOS, DEFAULT_SIZES, FINAL_SIZE, SCALE, SIZES, pixel_size
from generations.strategies import Resolved, Strategy, resolve

HOSTED_PROVIDERS: Final = ("gemini", "openai")
PROVIDERS: Final = ("local", *HOSTED_PROVIDERS)
SIMULATION_SUFFIX: Final = " (local simulation)"
# What an OpenAI-compatible gateway gets for the resolution unless an entry says
# otherwise: the exact pixel size, as OpenAI's own endpoint takes it.
DEFAULT_OPENAI_PARAMS: Final[Mapping[str, Any]] = {"size": "{width}x{height}"}
# Placeholders an OpenAI parameter template may use. A value that is exactly one
# placeholder is sent as that value (an integer for width, height and seed), e.g.
# {"seed": "{seed}"}; anything else is formatted as text.
TEMPLATE_FIELDS: Final = ("width", "height", "size", "size_lower", "aspect_ratio", "seed")
# Request fields the provider owns; a template cannot replace them.
_OPENAI_RESERVED: Final = frozenset({"model", "prompt", "n", "response_format", "image", "image[]"})
# How many input images (the approved preview, references) a model takes in one request
# when its entry does not say (`max_input_images`). Google documents up to 14 reference
# images for Gemini 3 Pro Image and for 3.1 Flash Image, and "works best with up to 3"
# for 2.5 Flash Image. A Gemini id not listed here gets 1, the conservative figure every
# Gemini image model documented so far meets (editing an image given with the prompt);
# an OpenAI-compatible gateway gets 0 (many only generate) until its entry says so. The
# local provider takes what the model it simulates takes, and 14 as itself.
GEMINI_INPUT_IMAGES: Final[Mapping[str, int]] = {
    "gemini-3-pro-image": 14,
    "gemini-3.1-flash-image": 14,
    "gemini-2.5-flash-image": 3,
}
UNKNOWN_GEMINI_INPUT_IMAGES: Final = 1
LOCAL_INPUT_IMAGES: Final = 14
# The most a request may weigh with its input images inline, unless an entry says
# otherwise (`max_request_bytes`): Gemini refuses inline requests over 20 MB in total, and
# the same budget keeps a gateway's multipart upload reasonable. Inputs that would go over
# it are downscaled to fit, and the result says so.
DEFAULT_MAX_REQUEST_BYTES: Final = 20 * 1024 * 1024
_SIZE_ORDER: Final = {size: rank for rank, size in enumerate(SIZES)}


@dataclass(frozen=True)
class ModelEntry:
    key: str
    label: str  # what designers see; ends in "(local simulation)" when simulated
    provider: str  # who renders it now: "local" for a hosted model without a key
    model_id: str  # the provider's id, e.g. "gemini-3-pro-image"
    configured_provider: str = ""  # what the registry says: "gemini", "openai" or "local"
    base_url: str = ""
    api_key_env: str = ""  # the NAME of the variable holding the key, never the key
    sizes: tuple[str, ...] = DEFAULT_SIZES  # every size the model renders
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS
    preview_sizes: tuple[str, ...] = ("1K", "2K")
    final_size: str = FINAL_SIZE  # what approval renders; the largest size it has
    # Overrides of the Gemini 3 pixel table at 1K (aspect ratio -> (width, height)), for
    # models whose sizes differ (Gemini 2.5 Flash Image: 16:9 is 1344×768).
    pixels_1k: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # OpenAI-compatible only: extra request fields, values formatted with TEMPLATE_FIELDS;
    # `openai_params_by_size` entries are merged on top for that size.
    openai_params: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPENAI_PARAMS))
    openai_params_by_size: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Input images one request may carry (0: none, so a final cannot be made from the
    # approved preview and goes from the prompt and seed); see GEMINI_INPUT_IMAGES.
    max_input_images: int = 0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    simulated_because: str = ""  # why a hosted model renders locally ("" = it does not)
    # Cross-model previews: the other models whose approved previews may become this
    # model's finals (made from the preview, sent as an input image). A model's own
    # previews always may; see `pairing_refusal`.
    preview_models: tuple[str, ...] = ()

    @property
    def simulated(self) -> bool:
        return bool(self.simulated_because)

    @property
    def can_escalate(self) -> bool:
        """Whether approval renders something larger than every preview."""
        return all(_SIZE_ORDER[self.final_size] > _SIZE_ORDER[s] for s in self.preview_sizes)

    @property
    def takes_input_images(self) -> bool:
        """Whether a final can be rendered from the approved preview (sent as an image)."""
        return self.max_input_images > 0

    @property
    def sends_image_size(self) -> bool:
        # Gemini models that only do 1K (2.5 Flash Image) take no imageSize at all.
        return self.sizes != ("1K",)

    def pixel_size(self, *, aspect_ratio: str, size: str) -> tuple[int, int]:
        """The (width, height) this model returns for a request."""
        if aspect_ratio in self.pixels_1k:
            width, height = self.pixels_1k[aspect_ratio]
            scale = SCALE[size]
            return int(width * scale), int(height * scale)
        return pixel_size(aspect_ratio=aspect_ratio, size=size)


def all_models() -> list[ModelEntry]:
    """Every configured model, in settings order, resolved against the environment now."""
    return [_resolved(key, raw) for key, raw in settings.STUDIO_MODELS.items()]


def get_model(key: str) -> ModelEntry:
    raw = settings.STUDIO_MODELS.get(key)
    if raw is None:
        raise LookupError(f"Unknown model {key!r}.")
    return _resolved(key, raw)


# key -> (a copy of the settings entry, its key variable's value, the entry resolved)
_RESOLVED: dict[str, tuple[Any, str | None, ModelEntry]] = {}


def _resolved(key: str, raw: Mapping[str, Any]) -> ModelEntry:
    """`_entry(key, raw)`, reused while the settings entry and its key variable are
    unchanged: a review page asks for a model's entry ~200 times, and validating it each
    time cost ~10 ms of the page's CPU. Compared with a copy, so an entry changed in
    place (a test, an override) is resolved again."""
    key_name = str(raw.get("api_key_env", ""))
    key_value = os.environ.get(key_name) if key_name else None
    cached = _RESOLVED.get(key)
    if cached is not None and cached[1] == key_value and cached[0] == raw:
        return cached[2]
    entry = _entry(key, raw)
    _RESOLVED[key] = (copy.deepcopy(raw), key_value, entry)
    return entry


def _entry(key: str, raw: Mapping[str, Any]) -> ModelEntry:
    where = f"STUDIO_MODELS[{key!r}]"
    provider = _text(raw, "provider", where)
    if provider not in PROVIDERS:
        raise ImproperlyConfigured(f"{where}: provider must be one of {', '.join(PROVIDERS)}.")
    sizes = _choices(raw.get("sizes", DEFAULT_SIZES), SIZES, "sizes", where)
    final_size = str(raw.get("final_size", max(sizes, key=_SIZE_ORDER.__getitem__)))
    default_previews = [s for s in sizes if s != final_size] or [final_size]
    preview_sizes = _choices(
        raw.get("preview_sizes", default_previews), sizes, "model's sizes", where
    )
    if final_size not in sizes:
        raise ImproperlyConfigured(f"{where}: final_size {final_size!r} is not in its sizes.")
    pixels_1k = _pixels(raw.get("pixels_1k", {}), where)
    ratios = _choices(
        raw.get("aspect_ratios", ASPECT_RATIOS),
        (*ASPECT_RATIOS, *pixels_1k),
        "aspect ratios",
        where,
    )
    entry = ModelEntry(
        key=key,
        label=_text(raw, "label", where),
        provider=provider,
        model_id=_text(raw, "model_id", where),
        configured_provider=provider,
        base_url=str(raw.get("base_url", "")).rstrip("/"),
        api_key_env=str(raw.get("api_key_env", "")),
        sizes=sizes,
        aspect_ratios=ratios,
        preview_sizes=preview_sizes,
        final_size=final_size,
        pixels_1k=pixels_1k,
        openai_params=dict(raw.get("openai_params", DEFAULT_OPENAI_PARAMS)),
        openai_params_by_size={
            size: dict(params) for size, params in raw.get("openai_params_by_size", {}).items()
        },
        max_input_images=_count(
            raw.get("max_input_images", _default_input_images(provider, raw)),
            "max_input_images",
            where,
        ),
        max_request_bytes=_count(
            raw.get("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES),
            "max_request_bytes",
            where,
            minimum=1,
        ),
        preview_models=_keys(raw.get("preview_models", ()), key, where),
    )
    if provider in HOSTED_PROVIDERS:
        _check_hosted(entry, where)
    return _simulated_if_keyless(entry)


def _simulated_if_keyless(entry: ModelEntry) -> ModelEntry:
    if entry.provider not in HOSTED_PROVIDERS or not entry.api_key_env:
        return entry
    if os.environ.get(entry.api_key_env):
        return entry
    return replace(
        entry,
        provider="local",
        label=entry.label + SIMULATION_SUFFIX,
        simulated_because=f"{entry.api_key_env} is not set",
    )


def _check_hosted(entry: ModelEntry, where: str) -> None:
    url = urlsplit(entry.base_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ImproperlyConfigured(f"{where}: base_url must be an http(s) URL.")
    if url.query or url.fragment or "@" in url.netloc:
        # Keys travel in headers only; a URL is logged, proxied and shown in errors.
        raise ImproperlyConfigured(
            f"{where}: base_url must not carry credentials or a query string; "
            "put the key's variable name in api_key_env."
        )
    if entry.configured_provider == "gemini" and not entry.api_key_env:
        raise ImproperlyConfigured(f"{where}: a gemini model needs api_key_env.")
    if entry.configured_provider == "openai":
        _check_openai_templates(entry, where)


def _check_openai_templates(entry: ModelEntry, where: str) -> None:
    sample = {name: "x" for name in TEMPLATE_FIELDS}  # only the names are checked here
    for size in entry.openai_params_by_size:
        if size not in entry.sizes:
            raise ImproperlyConfigured(f"{where}: openai_params_by_size has unknown size {size!r}.")
    for params in (entry.openai_params, *entry.openai_params_by_size.values()):
        if reserved := _OPENAI_RESERVED.intersection(params):
            raise ImproperlyConfigured(f"{where}: openai params cannot set {sorted(reserved)}.")
        for name, value in params.items():
            if not isinstance(value, str):
                continue
            try:
                value.format_map(sample)
            except (KeyError, ValueError, IndexError) as exc:
                fields = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
                raise ImproperlyConfigured(
                    f"{where}: openai param {name!r} is not a valid template ({exc}); use {fields}."
                ) from None


def _default_input_images(provider: str, raw: Mapping[str, Any]) -> int:
    if provider == "local":
        return LOCAL_INPUT_IMAGES
    if provider != "gemini":
        return 0
    model_id = str(raw.get("model_id", ""))
    for family, count in GEMINI_INPUT_IMAGES.items():
        if model_id.startswith(family):  # "gemini-3-pro-image-preview" too
            return count
    return UNKNOWN_GEMINI_INPUT_IMAGES


def _count(value: Any, name: str, where: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ImproperlyConfigured(f"{where}: {name} must be a whole number >= {minimum}.")
    return value


def _text(raw: Mapping[str, Any], name: str, where: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ImproperlyConfigured(f"{where}: {name!r} is required.")
    return value


def _choices(value: Any, allowed: tuple[str, ...], what: str, where: str) -> tuple[str, ...]:
    chosen = tuple(str(item) for item in value)
    unknown = [item for item in chosen if item not in allowed]
    if unknown or not chosen:
        raise ImproperlyConfigured(
            f"{where}: {', '.join(unknown) or 'nothing'} not among the {what} {', '.join(allowed)}."
        )
    return chosen


def _keys(value: Any, own: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(item, str) and item for item in value):
        raise ImproperlyConfigured(f"{where}: preview_models is a list of model keys.")
    # Other entries may not be configured (an override removed one): pairing_refusal
    # names them then, and the submit form never offers them.
    return tuple(dict.fromkeys(item for item in value if item != own))


def _pixels(value: Mapping[str, Any], where: str) -> dict[str, tuple[int, int]]:
    try:
        return {ratio: (int(size[0]), int(size[1])) for ratio, size in value.items()}
    except (TypeError, ValueError, IndexError, AttributeError):
        raise ImproperlyConfigured(
            f"{where}: pixels_1k maps aspect ratios to [width, height]."
        ) from None


def escalation(*, asked: str, model_key: str, preview_key: str = "") -> Resolved:
    """The escalation strategy a final of `model_key` will use when `asked` is asked for
    ("" = the default): from the preview falls back to prompt + seed for a model that
    takes no input images (or one no longer configured), with a note saying so.

    A final on another model than its previews (`preview_key`, cross-model previews) is
    made from the approved preview even when the prompt is asked for: the prompt and seed
    on another model would be another picture than the one approved."""
    try:
        model = get_model(model_key)
    except LookupError:
        return resolve(asked, takes_input_images=False, model_label=model_key)
    resolved = resolve(asked, takes_input_images=model.takes_input_images, model_label=model.label)
    if (
        preview_key
        and preview_key != model_key
        and model.takes_input_images
        and resolved.strategy == Strategy.FROM_PROMPT
    ):
        return Resolved(
            asked=resolved.asked,
            strategy=Strategy.FROM_PREVIEW,
            note=(
                f"Its previews come from another model, so the {model.label} final is made "
                "from the approved preview, not from the prompt alone."
            ),
        )
    return resolved


# --- cross-model previews ---------------------------------------------------------------


def final_models_for(preview_key: str) -> list[ModelEntry]:
    """The models whose finals previews of `preview_key` may become, in settings order:
    the model itself, and every model that declares it among its `preview_models` (and
    takes input images, so its final is made from the approved preview)."""
    return [
        model
        for model in all_models()
        if model.key == preview_key
        or (preview_key in model.preview_models and model.takes_input_images)
    ]


def pairing_refusal(*, preview_key: str, final_key: str) -> str:
    """Why previews on `preview_key` may not feed finals on `final_key` ("" = they may).

    Only the final model's entry can allow a pair (`preview_models`), and only when it
    takes input images: a final made from the prompt on another model would be a fresh
    picture, not the one approved."""
    if not final_key or final_key == preview_key:
        return ""
    try:
        final = get_model(final_key)
    except LookupError:
        return "Choose one of the listed final models."
    try:
        preview = get_model(preview_key)
    except LookupError:
        return "Choose one of the listed models."
    if preview_key not in final.preview_models:
        allowed = [m.label for m in all_models() if m.key in final.preview_models]
        also = f" (it takes previews from {', '.join(allowed)})" if allowed else ""
        return f"{final.label} finals cannot be made from {preview.label} previews{also}."
    if not final.takes_input_images:
        return (
            f"{final.label} takes no input images, so its finals cannot be made from "
            f"another model's previews."
        )
    return ""


def economy_refusal(*, model_key: str, strategy: str) -> str:
    """Why a final of `model_key` made by `strategy` (as resolved) cannot go by the economy
    lane, or "" when it can: the lane is Gemini's Batch API (or the local provider's
    simulation of it), and an upscale calls no model at all."""
    if strategy == Strategy.UPSCALE:
        return "An upscale calls no model, so it has no economy lane."
    try:
        model = get_model(model_key)
    except LookupError:
        return f"{model_key} is no longer configured."
    if model.configured_provider not in ECONOMY_PROVIDERS:
        return f"{model.label} has no batch API here: only Gemini models go by the economy lane."
    return ""


def final_lane(*, asked: str, default: str, model_key: str, strategy: str) -> tuple[Lane, str]:
    """The lane a final will go by: the one asked for ("" = the project's `default`), and
    a note when it cannot be the economy lane (then it goes now, at the standard price).
    Asking for the economy lane explicitly where there is none is the caller's refusal."""
    wanted = Lane(asked or default or Lane.STANDARD)
    if wanted == Lane.BATCH:
        refusal = economy_refusal(model_key=model_key, strategy=strategy)
        if refusal:
            return Lane.STANDARD, refusal
    return wanted, ""
