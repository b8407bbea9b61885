"""The provider that renders a model of the registry (generations.catalog)."""

from __future__ import annotations

from django.conf import settings

from generations.catalog import ModelEntry
from generations.providers import http
from generations.providers.base import Provider
from generations.providers.batch import BatchProvider
from generations.providers.gemini import GeminiProvider
from generations.providers.gemini_batch import GeminiBatchProvider
from generations.providers.local import LocalProvider
from generations.providers.local_batch import LocalBatchProvider
from generations.providers.openai import OpenAIProvider


def provider_for(model: ModelEntry) -> Provider:
    """A provider bound to this model's entry.

    Hosted providers share one httpx client (one connection pool) per base URL in each
    process, so back-to-back calls reuse connections. A simulated entry (no key) already
    says provider "local".
    """
    if model.provider == "local":
        # A simulated hosted model takes the input images the real one takes.
        return LocalProvider(
            profile=settings.STUDIO_LOCAL_PROFILE,
            max_input_images=model.max_input_images,
            label=model.label,
        )
    if model.provider == "gemini":
        return GeminiProvider(model, client=http.shared_client(model.base_url))
    if model.provider == "openai":
        return OpenAIProvider(model, client=http.shared_client(model.base_url))
    raise LookupError(f"No provider called {model.provider!r} is configured.")


def batch_provider_for(model: ModelEntry) -> BatchProvider:
    """The batch API (the economy lane) of this model's provider: Gemini's Batch API, or
    the local provider's simulation of it (a hosted model without a key, `local`)."""
    if model.provider == "local":
        return LocalBatchProvider()
    if model.provider == "gemini":
        return GeminiBatchProvider(model, client=http.shared_client(model.base_url))
    raise LookupError(f"{model.label} has no batch API: it cannot go by the economy lane.")
