"""Helpers shared by the hosted-provider tests: a registry entry pointed at the fake
server, a short attempt policy, driving generation_render to an end state, and the
check that the API key appears nowhere it could leak to."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from generations import catalog, services
from generations.models import Attempt, Generation, Image, PriceEntry, PriceKind, Transition
from generations.providers.base import RenderRequest
from generations.rendering import jobs
from generations.sizes import pixel_size
from generations.states import State

SECRET = "AIzaSy-TEST-ONLY-7f3a9c1e-not-a-real-key"
KEY_ENV = "STUDIO_TEST_PROVIDER_KEY"
MODEL_KEY = "hosted-test"
PROMPT = "a lighthouse on a basalt cliff at dusk"
QUICK_POLICY = {"timeout": 1.0, "tries": 2, "base_delay": 10}


def configure(settings: Any, base_url: str, **entry: Any) -> catalog.ModelEntry:
    """Make MODEL_KEY a hosted model at base_url (Gemini 3 Pro unless told otherwise)."""
    settings.STUDIO_MODELS = {
        MODEL_KEY: {
            "label": "Test Banana",
            "provider": "gemini",
            "model_id": "gemini-3-pro-image",
            "base_url": base_url,
            "api_key_env": KEY_ENV,
            **entry,
        }
    }
    settings.STUDIO_ATTEMPT_POLICY = {size: dict(QUICK_POLICY) for size in ("1K", "2K", "4K")}
    # The fake server builds a real 2K or 4K PNG per answer (~1 s on a loaded 2-core
    # machine): a 1 s timeout there made those tests flaky without testing anything about
    # time. The timeout tests use 1K, or a timeout of their own.
    for size in ("2K", "4K"):
        settings.STUDIO_ATTEMPT_POLICY[size]["timeout"] = 10.0
    # The shared per-model limits have tests of their own (test_limits.py); here a 429
    # must only affect this job, so the waits seen are the provider's alone.
    settings.STUDIO_MODEL_LIMITS = {MODEL_KEY: {"concurrency": None, "rpm": None}}
    return catalog.get_model(MODEL_KEY)


def make_request(
    *,
    model_id: str = "gemini-3-pro-image",
    aspect_ratio: str = "1:1",
    size: str = "1K",
    timeout_s: float = 5.0,
    prompt: str = PROMPT,
) -> RenderRequest:
    width, height = pixel_size(aspect_ratio=aspect_ratio, size=size)
    return RenderRequest(
        prompt=prompt,
        model_id=model_id,
        aspect_ratio=aspect_ratio,
        size=size,
        width=width,
        height=height,
        seed=7,
        timeout_s=timeout_s,
    )


def submit(designer: Any, project: Any, *, aspect_ratio: str = "1:1") -> Generation:
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt=PROMPT,
        model_key=MODEL_KEY,
        aspect_ratio=aspect_ratio,
        preview_size="1K",
        variants=1,
    )
    return submission.generations.get()


def reload(generation: Generation) -> Generation:
    return Generation.objects.get(pk=generation.pk)


def render(generation: Generation) -> str:
    """One worker step with the configured provider (no injection: provider_for)."""
    return jobs.generation_render(generation_id=generation.pk, worker="w1@test")


def make_due(generation: Generation) -> None:
    Generation.objects.filter(pk=generation.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def render_until_settled(generation: Generation, *, steps: int = 4) -> str:
    """Render, waiting out every backoff at once, until the generation leaves the queue."""
    outcome = ""
    for _ in range(steps):
        outcome = render(generation)
        if reload(generation).state not in (State.PREVIEW_QUEUED, State.FINAL_QUEUED):
            break
        make_due(generation)
    return outcome


def assert_secret_nowhere(secret: str, *, caplog: Any = None) -> None:
    """The key is in no row a person or a log can read."""
    for model in (Attempt, Transition, Generation, Image):
        for row in model.objects.values():
            assert secret not in str(row), f"{model.__name__} leaks the key: {row}"
    if caplog is not None:
        assert secret not in caplog.text


def price_list_for_finals_from_previews() -> None:
    """MODEL_KEY's list prices for the wire tests of finals made from inputs: 1K previews,
    4K finals and one input image, in force since yesterday."""
    since = timezone.now() - dt.timedelta(days=1)
    for size, usd, kind in (
        ("1K", "0.134", PriceKind.IMAGE),
        ("4K", "0.24", PriceKind.IMAGE),
        ("", "0.0011", PriceKind.INPUT_IMAGE),
    ):
        PriceEntry.objects.create(
            model_key=MODEL_KEY, size=size, kind=kind, usd_per_image=Decimal(usd),
            effective_from=since,
        )  # fmt: skip
