"""The local provider: exact sizes, deterministic pictures, detail that grows with
resolution, compositions that behave like a hosted model's (prompt-only renders drift with
the size, renders from the approved preview keep it, references steer the palette), and
latency/failure profiles that behave like a hosted model."""

from __future__ import annotations

import contextlib
import functools
import io
import math
import random

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageStat

from generations.providers.base import (
    InputImage,
    InputRole,
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
    input_images: tuple[InputImage, ...] = (),
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
        input_images=input_images,
    )


@functools.cache
def render(*, aspect_ratio: str = "1:1", size: str = "1K", prompt: str = PROMPT, seed: int = 7):
    """Renders shared between tests: a 4K takes a couple of seconds."""
    provider = LocalProvider("instant")
    return provider.render(
        make_request(prompt=prompt, seed=seed, aspect_ratio=aspect_ratio, size=size)
    )


@functools.cache
def render_from_preview(*, aspect_ratio: str = "1:1", size: str = "4K", preview_size: str = "2K"):
    """The final made from the approved preview (a prompt-only render at preview_size)."""
    preview = InputImage.from_bytes(render(aspect_ratio=aspect_ratio, size=preview_size).data)
    request = make_request(aspect_ratio=aspect_ratio, size=size).from_preview(preview)
    return LocalProvider("instant").render(request)


def decode(result: RenderResult) -> Image.Image:
    image = Image.open(io.BytesIO(result.data))
    image.load()
    return image


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def edge_energy(image: Image.Image) -> float:
    """Mean absolute Laplacian: how much fine, high-frequency detail there is."""
    return ImageStat.Stat(image.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0]


def at_256(image: Image.Image) -> Image.Image:
    """Both pictures at one small size, as a fidelity check compares them."""
    return image.convert("RGB").resize((256, 256), Image.Resampling.BOX)


def ssim(a: Image.Image, b: Image.Image, *, window: int = 8) -> float:
    """Mean SSIM of the luma over non-overlapping windows at 256×256 (1 = identical)."""
    x, y = at_256(a).convert("L").tobytes(), at_256(b).convert("L").tobytes()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    n = window * window
    for top in range(0, 256, window):
        for left in range(0, 256, window):
            rows = [
                slice((top + j) * 256 + left, (top + j) * 256 + left + window)
                for j in range(window)
            ]
            xs = [v for row in rows for v in x[row]]
            ys = [v for row in rows for v in y[row]]
            mx, my = sum(xs) / n, sum(ys) / n
            vx = sum((v - mx) ** 2 for v in xs) / (n - 1)
            vy = sum((v - my) ** 2 for v in ys) / (n - 1)
            cov = sum((p - mx) * (q - my) for p, q in zip(xs, ys, strict=True)) / (n - 1)
            scores.append(
                ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
            )
    return sum(scores) / len(scores)


def colour_distance(a: Image.Image, b: Image.Image) -> float:
    """Total variation between the colour histograms (4 levels a channel): 0 = same
    palette in the same amounts, 1 = no colour in common. Blind to where colours are."""

    def histogram(image: Image.Image) -> list[float]:
        data = at_256(image).point(lambda v: v // 64).tobytes()
        counts = [0] * 64
        for index in range(0, len(data), 3):
            counts[data[index] * 16 + data[index + 1] * 4 + data[index + 2]] += 1
        return [count / (len(data) // 3) for count in counts]

    return sum(abs(p - q) for p, q in zip(histogram(a), histogram(b), strict=True)) / 2


def mean_hue(image: Image.Image) -> float:
    """The hue (0..1) the picture leans to, weighted by colourfulness."""
    data = at_256(image).convert("HSV").tobytes()
    x = y = 0.0
    for index in range(0, len(data), 3):
        hue, chroma = data[index] / 255, data[index + 1] * data[index + 2] / 255**2
        x += chroma * math.cos(2 * math.pi * hue)
        y += chroma * math.sin(2 * math.pi * hue)
    return math.atan2(y, x) / (2 * math.pi) % 1.0


def hue_gap(a: float, b: float) -> float:
    return min(abs(a - b), 1 - abs(a - b))


def encoded(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


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


# --- compositions: prompt-only drifts, from the preview keeps, references steer ----------


def test_the_same_size_of_a_prompt_and_seed_is_the_same_picture():
    # A retry (same size) must not drift: only another size does.
    assert render(size="2K").data == LocalProvider("instant").render(make_request(size="2K")).data


def test_prompt_only_at_another_size_is_related_but_a_visibly_different_composition():
    preview = decode(render(size="2K"))
    prompt_only = decode(render(size="4K"))
    other_prompt = decode(render(size="2K", prompt="A red bicycle leaning on a wall"))

    # Visibly not the picture that was approved: the frame moved and zoomed...
    assert mean_difference(at_256(preview), at_256(prompt_only)) > 25
    assert ssim(preview, prompt_only) < 0.5
    # ...but the same region and palette, unlike another prompt's picture.
    assert colour_distance(preview, prompt_only) < 0.8 * colour_distance(preview, other_prompt)


def test_from_the_preview_keeps_the_composition_and_prompt_only_does_not():
    preview = decode(render(size="2K"))
    from_preview = decode(render_from_preview(size="4K", preview_size="2K"))
    prompt_only = decode(render(size="4K"))

    kept = mean_difference(at_256(preview), at_256(from_preview))
    drifted = mean_difference(at_256(preview), at_256(prompt_only))
    assert kept < 4
    assert drifted > 8 * kept
    assert ssim(preview, from_preview) > 0.9
    assert ssim(preview, prompt_only) < ssim(preview, from_preview) - 0.4


def test_4k_from_the_preview_has_more_fine_detail_than_the_preview_blown_up():
    # The same region of the picture, at 4K from the 2K preview and as that preview scaled
    # up to match: the 4K resolves structure the 2K never had, which no resampling invents.
    centre = (0.25, 0.25, 0.75, 0.75)
    native = relative_crop(decode(render_from_preview(aspect_ratio="16:9", size="4K")), centre)
    from_2k = relative_crop(decode(render(aspect_ratio="16:9", size="2K")), centre)
    blown_up = from_2k.resize(native.size, Image.Resampling.LANCZOS)

    assert mean_difference(native.resize(from_2k.size, Image.Resampling.BOX), from_2k) < 5
    assert edge_energy(native) > 1.2 * edge_energy(blown_up)


def test_from_the_preview_keeps_a_picture_it_did_not_draw():
    # A preview from another model: a dark disc on a two-tone ground.
    preview = Image.new("RGB", (1024, 1024), (40, 110, 170))
    preview.paste((230, 200, 90), (0, 600, 1024, 1024))
    ImageDraw.Draw(preview).ellipse((300, 200, 700, 600), fill=(20, 20, 30))
    image = InputImage.from_bytes(encoded(preview, "JPEG"), role=InputRole.APPROVED_PREVIEW)

    result = LocalProvider("instant").render(make_request(size="2K", input_images=(image,)))

    final = decode(result).convert("RGB")
    above_caption = (0.0, 0.0, 1.0, 0.8)  # the band at the bottom is the renderer's own
    kept = relative_crop(at_256(final), above_caption)
    assert mean_difference(kept, relative_crop(at_256(preview), above_caption)) < 12
    assert result.meta["composition"] == "kept from the approved preview"
    assert result.meta["inputs"] == [
        {
            "role": "approved preview",
            "mime_type": "image/jpeg",
            "width": 1024,
            "height": 1024,
            "bytes": len(image.data),
        }
    ]


@pytest.mark.parametrize(("colour", "hue"), [((200, 30, 30), 0.0), ((30, 60, 210), 0.63)])
def test_a_reference_gives_the_picture_its_palette(colour, hue):
    reference = InputImage.from_bytes(encoded(Image.new("RGB", (64, 64), colour)))

    steered = LocalProvider("instant").render(make_request(input_images=(reference,)))

    picture = decode(steered)
    assert hue_gap(mean_hue(picture), hue) < 0.08
    assert hue_gap(mean_hue(decode(render())), hue) > 0.15  # the prompt alone leans elsewhere
    assert steered.meta["composition"] == "drawn from the prompt, palette from 1 reference"


def test_references_visibly_change_the_picture():
    red, blue = (
        InputImage.from_bytes(encoded(Image.new("RGB", (64, 64), colour)))
        for colour in ((200, 30, 30), (30, 60, 210))
    )
    provider = LocalProvider("instant")

    with_red = decode(provider.render(make_request(input_images=(red,))))
    with_blue = decode(provider.render(make_request(input_images=(blue,))))

    assert mean_difference(at_256(with_red), at_256(with_blue)) > 20


def test_more_input_images_than_the_model_takes_are_refused_before_any_wait():
    sleep = RecordingSleep()
    image = InputImage.from_bytes(encoded(Image.new("RGB", (64, 64))))
    provider = LocalProvider(
        "fixed:latency=5", sleep=sleep, max_input_images=0, label="Flat Banana (local simulation)"
    )

    with pytest.raises(InvalidRequest, match="Flat Banana .* takes no input images"):
        provider.render(make_request(input_images=(image,)))

    assert sleep.calls == []


def test_an_input_that_is_not_an_image_is_an_invalid_request():
    broken = InputImage(data=b"<html>502</html>", mime_type="image/png", width=64, height=64)

    with pytest.raises(InvalidRequest, match="could not be decoded"):
        LocalProvider("instant").render(make_request(pixels=(64, 64), input_images=(broken,)))


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
