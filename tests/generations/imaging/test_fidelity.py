"""Fidelity to the approved preview, measured on the local provider's pictures: it keeps
the composition only when given the preview, as a hosted model does, so the strategies
differ measurably."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from generations.imaging import codec, fidelity
from generations.providers.base import InputImage, InputRole
from generations.providers.local import render_png

PROMPT, SEED = "a lighthouse on a basalt cliff at dusk", 1234


@pytest.fixture(scope="module")
def pictures() -> dict[str, bytes]:
    preview = render_png(prompt=PROMPT, seed=SEED, aspect_ratio="16:9", width=688, height=384)
    as_input = InputImage.from_bytes(preview, role=InputRole.APPROVED_PREVIEW)
    big = {"prompt": PROMPT, "seed": SEED, "aspect_ratio": "16:9", "width": 1376, "height": 768}
    return {
        "preview": preview,
        "from_prompt": render_png(**big),
        "from_preview": render_png(**big, input_images=(as_input,)),
        "upscale": codec.upscale(preview, width=1376, height=768),
    }


def test_the_strategies_differ_measurably_in_fidelity(pictures):
    measured = {
        name: fidelity.measure(pictures["preview"], pictures[name])
        for name in ("from_prompt", "from_preview", "upscale")
    }
    assert measured["upscale"].ssim > 0.98 and measured["upscale"].hash_distance <= 2
    assert measured["from_preview"].ssim > 0.9 and measured["from_preview"].hash_distance <= 6
    assert measured["from_prompt"].ssim < 0.6 and measured["from_prompt"].hash_distance >= 8
    assert measured["upscale"].ssim >= measured["from_preview"].ssim > measured["from_prompt"].ssim


def test_a_picture_is_perfectly_faithful_to_itself(pictures):
    same = fidelity.measure(pictures["preview"], pictures["preview"])
    assert (same.ssim, same.hash_distance) == (1.0, 0)


def test_the_sample_ingest_keeps_is_the_one_measure_would_take(pictures):
    """The worker compares from the luma ingest already made: the same figures, but for
    the rounding of taking the luminance before the reduction."""
    size = fidelity.common_size(1376, 768)
    info = codec.ingest(pictures["from_preview"], sample=lambda px: fidelity.sample(px, size))
    assert info.sample is not None and info.sample.size == size == (256, 143)
    from_ingest = fidelity.compare(fidelity.sample_of_bytes(pictures["preview"], size), info.sample)
    direct = fidelity.measure(pictures["preview"], pictures["from_preview"])
    assert from_ingest.ssim == pytest.approx(direct.ssim, abs=0.01)
    assert abs(from_ingest.hash_distance - direct.hash_distance) <= 2


def test_samples_of_different_sizes_are_refused():
    small, other = Image.new("L", (16, 16)), Image.new("L", (16, 8))
    with pytest.raises(ValueError, match="differ in size"):
        fidelity.compare(small, other)


def test_a_jpeg_preview_compares_with_a_png_final():
    buffer = io.BytesIO()
    Image.open(
        io.BytesIO(render_png(prompt="x", seed=1, aspect_ratio="1:1", width=512, height=512))
    ).convert("RGB").save(buffer, "JPEG", quality=85)
    final = render_png(prompt="x", seed=1, aspect_ratio="1:1", width=512, height=512)
    assert fidelity.measure(buffer.getvalue(), final).ssim > 0.9
