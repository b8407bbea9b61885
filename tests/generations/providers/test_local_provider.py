"""The local provider: exact sizes, deterministic pictures, detail that grows with
resolution, and latency/failure profiles that behave like a hosted model."""

from __future__ import annotations

import contextlib
import functools
import io
import random

import pytest
from PIL import Image, ImageChops, ImageFilter, ImageStat

from generations.providers.base import (
    InvalidRequest,
    Overloaded,
    RenderRequest,
    RenderResult,
    ServerError,
    Timeout,
)
from generations.providers.local import PROFILES, LocalProvider, resolve_profile
from generations.sizes import ASPECT_RATIOS, pixel_size

PROMPT = "A lighthouse on a basalt cliff at dusk, long exposure, teal and amber"


class RecordingSleep:
    """Stands in for time.sleep: remembers what it was asked, waits for nothing."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_request(
    *,
    prompt: str = PROMPT,
    seed: int = 7,
    aspect_ratio: str = "1:1",
    size: str = "1K",
    timeout_s: float = 60.0,
    pixels: tuple[int, int] | None = None,
) -> RenderRequest:
    width, height = pixels or pixel_size(aspect_ratio=aspect_ratio, size=size)
    return RenderRequest(
        prompt=prompt,
        model_id="local-test",
        aspect_ratio=aspect_ratio,
        size=size,
        width=width,
        height=height,
        seed=seed,
        timeout_s=timeout_s,
    )


@functools.cache
def render(*, aspect_ratio: str = "1:1", size: str = "1K", prompt: str = PROMPT, seed: int = 7):
    """Renders shared between tests: a 4K takes a couple of seconds."""
    provider = LocalProvider("instant")
    return provider.render(
        make_request(prompt=prompt, seed=seed, aspect_ratio=aspect_ratio, size=size)
    )


def decode(result: RenderResult) -> Image.Image:
    image = Image.open(io.BytesIO(result.data))
    image.load()
    return image


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def edge_energy(image: Image.Image) -> float:
    """Mean absolute Laplacian: how much fine, high-frequency detail there is."""
    return ImageStat.Stat(image.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0]


def relative_crop(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    width, height = image.size
    left, top, right, bottom = box
    return image.crop(
        (round(left * width), round(top * height), round(right * width), round(bottom * height))
    )


# --- the picture -----------------------------------------------------------------------


@pytest.mark.parametrize("aspect_ratio", ASPECT_RATIOS)
def test_1k_render_has_the_published_pixel_size_for_every_aspect_ratio(aspect_ratio):
    result = render(aspect_ratio=aspect_ratio, size="1K")

    expected = pixel_size(aspect_ratio=aspect_ratio, size="1K")
    assert (result.width, result.height) == expected
    assert result.mime_type == "image/png"
    image = decode(result)
    assert image.format == "PNG"
    assert image.size == expected


@pytest.mark.parametrize("aspect_ratio", ["1:1", "16:9", "9:16", "21:9"])
def test_2k_render_has_the_published_pixel_size(aspect_ratio):
    result = render(aspect_ratio=aspect_ratio, size="2K")

    assert decode(result).size == pixel_size(aspect_ratio=aspect_ratio, size="2K")


@pytest.mark.parametrize(
    ("aspect_ratio", "expected"), [("1:1", (4096, 4096)), ("16:9", (5504, 3072))]
)
def test_4k_render_has_the_published_pixel_size(aspect_ratio, expected):
    result = render(aspect_ratio=aspect_ratio, size="4K")

    assert (result.width, result.height) == expected
    assert decode(result).size == expected


def test_same_prompt_and_seed_give_identical_bytes_whatever_the_rng():
    first = LocalProvider("instant", rng=random.Random(1)).render(make_request())
    second = LocalProvider("instant", rng=random.Random(2)).render(make_request())

    assert first.data == second.data


def test_a_different_prompt_gives_a_visibly_different_picture():
    lighthouse = decode(render(prompt=PROMPT))
    cat = decode(render(prompt="Portrait of a ginger cat on a velvet chair"))

    assert mean_difference(lighthouse, cat) > 30


def test_a_different_seed_gives_a_visibly_different_picture():
    assert mean_difference(decode(render(seed=7)), decode(render(seed=8))) > 30


def test_every_size_shows_the_same_composition():
    one_k = decode(render(aspect_ratio="16:9", size="1K")).convert("RGB")
    two_k = decode(render(aspect_ratio="16:9", size="2K")).convert("RGB")
    other_prompt = decode(render(aspect_ratio="16:9", size="1K", prompt="A red bicycle"))

    same_scene = mean_difference(one_k, two_k.resize(one_k.size, Image.Resampling.LANCZOS))
    other_scene = mean_difference(one_k, other_prompt.convert("RGB"))
    assert same_scene < other_scene / 4


def test_4k_has_more_fine_detail_than_the_2k_blown_up_to_the_same_size():
    # The same region of the picture, at native 4K and as a 2K scaled up to match:
    # a real 4K resolves structure the 2K never had, which no resampling can invent.
    centre = (0.25, 0.25, 0.75, 0.75)
    native = relative_crop(decode(render(aspect_ratio="16:9", size="4K")), centre)
    from_2k = relative_crop(decode(render(aspect_ratio="16:9", size="2K")), centre)
    blown_up = from_2k.resize(native.size, Image.Resampling.LANCZOS)

    assert edge_energy(native) > 1.2 * edge_energy(blown_up)


# --- latency and failure profiles ------------------------------------------------------


def test_instant_profile_never_sleeps_and_reports_no_latency():
    sleep = RecordingSleep()

    result = LocalProvider("instant", sleep=sleep).render(make_request(size="4K", pixels=(64, 64)))

    assert sleep.calls == []
    assert result.meta == {"provider": "local", "profile": "instant", "simulated_latency_s": 0.0}


def test_fixed_profile_sleeps_the_configured_latency_at_every_size():
    sleep = RecordingSleep()
    provider = LocalProvider("fixed:latency=2.5,fail=0", sleep=sleep)

    results = [provider.render(make_request(size=size, pixels=(64, 64))) for size in ("1K", "4K")]

    assert sleep.calls == [2.5, 2.5]
    assert results[0].meta["simulated_latency_s"] == 2.5
    assert results[0].meta["profile"] == "fixed:latency=2.5,fail=0"


def test_latency_over_the_timeout_raises_timeout_after_waiting_only_the_timeout():
    sleep = RecordingSleep()
    provider = LocalProvider("fixed:latency=700", sleep=sleep)

    with pytest.raises(Timeout) as caught:
        provider.render(make_request(size="4K", timeout_s=660, pixels=(64, 64)))

    assert sleep.calls == [660]
    assert caught.value.retryable
    assert "simulated" in caught.value.message.lower()


def test_failure_probability_one_raises_a_retryable_simulated_error():
    sleep = RecordingSleep()
    provider = LocalProvider("fixed:latency=1,fail=1", sleep=sleep, rng=random.Random(3))

    with pytest.raises((ServerError, Overloaded)) as caught:
        provider.render(make_request(pixels=(64, 64)))

    assert caught.value.retryable
    assert not caught.value.billed
    assert "simulated" in caught.value.message.lower()
    assert sleep.calls == [1.0]  # a failure still costs the wait


def test_failures_vary_per_attempt_not_per_prompt():
    provider = LocalProvider("fixed:fail=0.5", sleep=RecordingSleep(), rng=random.Random(11))
    outcomes = set()
    for _ in range(30):
        try:
            provider.render(make_request(pixels=(64, 64)))
            outcomes.add("ok")
        except (ServerError, Overloaded):
            outcomes.add("failed")

    assert outcomes == {"ok", "failed"}


@pytest.mark.parametrize(("size", "low", "high"), [("1K", 1, 3), ("2K", 2, 5), ("4K", 4, 10)])
def test_demo_profile_waits_seconds_that_grow_with_size(size, low, high):
    sleep = RecordingSleep()
    provider = LocalProvider("demo", sleep=sleep, rng=random.Random(5))
    for _ in range(20):
        # Demo failures are part of the show; the wait happens either way.
        with contextlib.suppress(ServerError, Overloaded):
            provider.render(make_request(size=size, timeout_s=660, pixels=(64, 64)))

    assert len(sleep.calls) == 20
    assert all(low <= seconds <= high for seconds in sleep.calls)


def test_profiles_follow_the_published_table():
    realistic = PROFILES["realistic"]
    assert realistic.latency_s == {"1K": (15, 30), "2K": (45, 90), "4K": (180, 600)}
    assert realistic.failure_rate["1K"] < 0.05  # > 95 % first-try success
    assert realistic.failure_rate["2K"] == pytest.approx(0.15)  # ~85 %
    assert realistic.failure_rate["4K"] > 0.5  # < 50 %
    assert PROFILES["demo"].failure_rate == {"1K": 0.05, "2K": 0.05, "4K": 0.2}
    assert set(PROFILES["instant"].failure_rate.values()) == {0.0}


@pytest.mark.parametrize(
    "spec", ["turbo", "fixed:latency=-1", "fixed:fail=2", "fixed:speed=3", "fixed:latency=x"]
)
def test_an_unknown_or_malformed_profile_is_refused_with_a_message(spec):
    with pytest.raises(ValueError, match="rofile"):
        LocalProvider(spec)


def test_profile_spec_defaults_to_no_wait_and_no_failure():
    profile = resolve_profile("fixed:")

    assert profile.latency_range("2K") == (0.0, 0.0)
    assert profile.failure_probability("4K") == 0.0


def test_a_blank_prompt_is_refused_before_any_wait():
    sleep = RecordingSleep()

    with pytest.raises(InvalidRequest):
        LocalProvider("fixed:latency=5", sleep=sleep).render(make_request(prompt="   "))

    assert sleep.calls == []
