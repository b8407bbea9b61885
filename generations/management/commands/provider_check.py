"""One real render with the configured key, for operators: does this model answer, how
fast, at what size, and what would it cost?

    manage.py provider_check nano-banana-pro --size 1K --aspect-ratio 1:1
    manage.py provider_check nano-banana-pro --fidelity

With --fidelity it renders a 1K, then the model's final size from it by each escalation
strategy (from the approved preview, from the prompt and the same seed, a local upscale),
and prints each one's similarity to the 1K, latency, bytes and list price: how this model
behaves before a team trusts a strategy.

Nothing is stored in the database; --save writes the image to a file.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations import catalog
from generations.imaging import codec, fidelity
from generations.providers import provider_for
from generations.providers.base import (
    InputImage,
    InputRole,
    ProviderError,
    RenderRequest,
    RenderResult,
)
from generations.rendering.policy import policy_for
from generations.spend import pricing
from generations.spend.money import money
from generations.strategies import Strategy

DEFAULT_PROMPT: Final = "A lighthouse on a basalt cliff at dusk, long exposure, teal and amber"

# NOT the price list: the published USD list prices per image from DESIGN.md, so an
# operator sees an order of magnitude before the price-list issue lands. Charges will come
# from the admin-edited price list with effective dates, never from this table.
PUBLISHED_PRICES_USD: Final[dict[str, dict[str, float]]] = {
    "gemini-3-pro-image": {"1K": 0.134, "2K": 0.134, "4K": 0.24},
    "gemini-3-pro-image-preview": {"1K": 0.134, "2K": 0.134, "4K": 0.24},
    "gemini-3.1-flash-image": {"1K": 0.067, "2K": 0.101, "4K": 0.151},
    "gemini-2.5-flash-image": {"1K": 0.039},
}


class Command(BaseCommand):
    help = "Make one real render with a configured model and print latency, size and price."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="A model key of STUDIO_MODELS, e.g. nano-banana-pro.")
        parser.add_argument("--size", default="1K", help="1K, 2K or 4K. Default: 1K.")
        parser.add_argument("--aspect-ratio", default="1:1", help="Default: 1:1.")
        parser.add_argument("--prompt", default=DEFAULT_PROMPT)
        parser.add_argument(
            "--timeout", type=float, help="Seconds. Default: the attempt policy's for the size."
        )
        parser.add_argument("--save", type=Path, help="Write the image to this file.")
        parser.add_argument(
            "--fidelity",
            action="store_true",
            help="Render a 1K, then the final size from it by each escalation strategy, and "
            "print similarity, latency, bytes and list price of each.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        model = _model(options["model"])
        if options["fidelity"]:
            self._fidelity(model, options)
            return
        request = _request(model, options)
        self._line("model", f"{model.key}: {_where(model)}")
        self._line(
            "request",
            f"{request.size} {request.aspect_ratio} (expects {request.width}×{request.height}), "
            f"timeout {request.timeout_s:g} s",
        )
        started = time.monotonic()
        try:
            result = provider_for(model).render(request)
        except ProviderError as error:
            latency = time.monotonic() - started
            retry = "retryable" if error.retryable else "not retryable"
            raise CommandError(
                f"failed after {latency:.1f} s: {error.kind} ({retry}): {error.message}"
            ) from None
        self._report(model, request, result, latency_s=time.monotonic() - started)
        if options["save"]:
            options["save"].write_bytes(result.data)
            self._line("saved", str(options["save"]))

    def _report(
        self,
        model: catalog.ModelEntry,
        request: RenderRequest,
        result: RenderResult,
        *,
        latency_s: float,
    ) -> None:
        try:
            info = codec.inspect_image(result.data)
        except codec.ImageRejected as exc:
            raise CommandError(f"the provider answered, but not with an image: {exc}") from None
        self._line("latency", f"{latency_s:.1f} s")
        size_check = (
            "as asked"
            if (info.width, info.height) == (request.width, request.height)
            else f"MISMATCH: asked for {request.width}×{request.height}"
        )
        self._line("pixels", f"{info.width}×{info.height} ({size_check})")
        self._line("bytes", f"{info.byte_size:,} ({info.bytes_per_pixel:.2f} bytes per pixel)")
        claimed = result.mime_type or "nothing"
        mime_check = "" if claimed == info.mime_type else f" (MISMATCH: provider said {claimed})"
        self._line("mime", f"{info.mime_type}{mime_check}")
        for name, value in result.meta.items():
            self._line("meta", f"{name} = {value}")
        self._line("price", _price(model, request.size))

    def _line(self, label: str, text: str) -> None:
        self.stdout.write(f"{label:<9}{text}")

    def _fidelity(self, model: catalog.ModelEntry, options: dict[str, Any]) -> None:
        base_size = "1K" if "1K" in model.sizes else model.sizes[0]
        final_size = model.final_size
        if final_size == base_size:
            raise CommandError(f"{model.key} renders only {base_size}: nothing to escalate to.")
        base = _request(model, {**options, "size": base_size})
        final = _request(model, {**options, "size": final_size})
        final = replace(final, seed=base.seed)  # a final keeps its preview's seed
        self._line("model", f"{model.key}: {_where(model)}")
        preview, latency = self._call(model, base)
        self._line(
            "base",
            f"{base_size} {base.aspect_ratio} seed {base.seed}: {len(preview.data):,} bytes "
            f"in {latency:.1f} s",
        )
        as_input = InputImage.from_bytes(preview.data, role=InputRole.APPROVED_PREVIEW)
        for strategy in Strategy:
            resolved = catalog.escalation(asked=strategy, model_key=model.key)
            if resolved.fell_back:
                self.stdout.write(f"{strategy.value:<13}skipped: {resolved.note}")
                continue
            started = time.monotonic()
            if strategy == Strategy.UPSCALE:
                data = codec.upscale(preview.data, width=final.width, height=final.height)
                latency = time.monotonic() - started
            else:
                request = final.from_preview(as_input) if resolved.sends_preview else final
                result, latency = self._call(model, request)
                data = result.data
            measured = fidelity.measure(preview.data, data)
            price = _final_price(model, final_size, strategy)
            self.stdout.write(
                f"{strategy.value:<13}similarity {measured.ssim:.3f} · hash distance "
                f"{measured.hash_distance} · {latency:.1f} s · {len(data):,} bytes · {price}"
            )

    def _call(
        self, model: catalog.ModelEntry, request: RenderRequest
    ) -> tuple[RenderResult, float]:
        started = time.monotonic()
        try:
            result = provider_for(model).render(request)
        except ProviderError as error:
            raise CommandError(
                f"{request.size} failed after {time.monotonic() - started:.1f} s: "
                f"{error.kind}: {error.message}"
            ) from None
        return result, time.monotonic() - started


def _model(key: str) -> catalog.ModelEntry:
    try:
        model = catalog.get_model(key)
    except LookupError:
        known = ", ".join(m.key for m in catalog.all_models())
        raise CommandError(f"No model {key!r} in STUDIO_MODELS; configured: {known}.") from None
    if model.simulated:
        raise CommandError(
            f"{model.simulated_because}: {model.key} would only render a local simulation. "
            f"Set {model.api_key_env} to check the real {model.configured_provider} model."
        )
    return model


def _request(model: catalog.ModelEntry, options: dict[str, Any]) -> RenderRequest:
    size, ratio = options["size"], options["aspect_ratio"]
    if size not in model.sizes:
        raise CommandError(f"{model.key} renders {', '.join(model.sizes)}, not {size}.")
    if ratio not in model.aspect_ratios:
        raise CommandError(f"{model.key} offers {', '.join(model.aspect_ratios)}, not {ratio}.")
    width, height = model.pixel_size(aspect_ratio=ratio, size=size)
    return RenderRequest(
        prompt=options["prompt"],
        model_id=model.model_id,
        aspect_ratio=ratio,
        size=size,
        width=width,
        height=height,
        seed=secrets.randbits(31),
        timeout_s=options["timeout"] or policy_for(size).timeout_s,
    )


def _final_price(model: catalog.ModelEntry, size: str, strategy: Strategy) -> str:
    """The configured price list's figure for this final (input image included)."""
    price = pricing.final_price(model_key=model.key, size=size, strategy=strategy).total
    return "not in the price list" if price is None else f"{money(price, exact=True)} list price"


def _where(model: catalog.ModelEntry) -> str:
    if model.provider == "local":
        return f"local provider ({model.model_id}); no call leaves this machine"
    key = f"key from {model.api_key_env}" if model.api_key_env else "no key"
    return f"{model.provider} {model.model_id} at {model.base_url} ({key})"


def _price(model: catalog.ModelEntry, size: str) -> str:
    if model.provider == "local":
        return f"{money(0)} (local provider)"
    price = PUBLISHED_PRICES_USD.get(model.model_id, {}).get(size)
    if price is None:
        return "price list not configured (no published price for this model and size)"
    return (
        f"{money(price, exact=True)} per image: the published list price (DESIGN.md), "
        "not a configured price list"
    )
