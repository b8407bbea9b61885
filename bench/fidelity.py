"""Fidelity at 4K: what comparing a final with its approved preview costs the worker, and
what sending the preview adds to a final's request.

The pictures are the local renderer's (generations/providers/local.py) with sensor-like
grain on top, so the PNGs are as large and as hard to compress as real renders: a 2048²
preview and a 4096² final made from it.

fidelity, as the worker does it (the target: ≤ 50 ms at 4K):
  the final's pixels are already decoded by codec.ingest (its one full decode), which takes
  the comparison sample (`sample=`) from the ~1 MP luma it makes for the detail metrics
  anyway; the preview's sample comes from its 384 px WebP thumbnail; then SSIM +
  perceptual hashes (generations.imaging.fidelity.compare).
  Reported: the sample from the decoded 4K, the preview side, the comparison, their sum,
  and what the sample adds to ingest (ingest with and without it).
baseline (same run): fidelity.measure on the two encoded originals — both decoded here,
  as a separate step after storing would have to.

request bytes: the Gemini JSON body (base64 inline part) and the OpenAI edits multipart
body of one 4K final, with and without the 2K preview as input image.

    .venv/bin/python bench/fidelity.py            # 7 runs, best and median
    .venv/bin/python bench/fidelity.py --runs 3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0
PROMPT = "a lighthouse on a basalt cliff at dusk, storm light, fine rain"


def _setup_django() -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()


def _grainy_png(picture) -> bytes:  # type: ignore[no-untyped-def]
    from PIL import Image

    noise = Image.merge("RGB", [Image.effect_noise(picture.size, 16) for _ in range(3)])
    buffer = io.BytesIO()
    Image.blend(picture, noise, 0.08).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _timed(work: Callable[[], object], runs: int) -> tuple[float, float]:
    """(best, median) in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    _setup_django()

    from PIL import Image

    from generations.catalog import get_model
    from generations.imaging import codec, fidelity
    from generations.providers import gemini, openai
    from generations.providers.base import InputImage, InputRole, RenderRequest
    from generations.providers.local import render_image

    print("making the pictures (2048² preview, 4096² final from it)…", flush=True)
    preview = _grainy_png(
        render_image(prompt=PROMPT, seed=11, aspect_ratio="1:1", width=2048, height=2048)
    )
    as_input = InputImage.from_bytes(preview, role=InputRole.APPROVED_PREVIEW)
    final = _grainy_png(
        render_image(
            prompt=PROMPT,
            seed=11,
            aspect_ratio="1:1",
            width=4096,
            height=4096,
            input_images=(as_input,),
        )
    )
    thumbnail, _ = codec.make_renditions(preview)
    size = fidelity.common_size(4096, 4096)
    with Image.open(io.BytesIO(final)) as opened:
        decoded = opened.convert("RGB")  # what ingest holds after its decode

    runs = args.runs
    luma = codec.analysis_luma(decoded)  # ingest makes it for the detail metrics anyway
    final_sample = fidelity.sample(luma, size)
    preview_sample = fidelity.sample_of_bytes(thumbnail, size)
    sample_ms = _timed(lambda: fidelity.sample(luma, size), runs)
    preview_ms = _timed(lambda: fidelity.sample_of_bytes(thumbnail, size), runs)
    compare_ms = _timed(lambda: fidelity.compare(preview_sample, final_sample), runs)
    worker_ms = _timed(
        lambda: fidelity.compare(
            fidelity.sample_of_bytes(thumbnail, size), fidelity.sample(luma, size)
        ),
        runs,
    )
    full_ms = _timed(lambda: fidelity.sample(decoded, size), runs)
    baseline_ms = _timed(lambda: fidelity.measure(preview, final), max(3, runs // 2))
    ingest_runs = max(3, runs // 2)
    plain_ms = _timed(lambda: codec.ingest(final), ingest_runs)
    sampled_ms = _timed(
        lambda: codec.ingest(final, sample=lambda px: fidelity.sample(px, size)), ingest_runs
    )
    measured = fidelity.compare(preview_sample, final_sample)

    print(f"\nfidelity of a 4096² final to its 2048² preview (ms; best / median of {runs})")
    print(f"  final sample from ingest's ~1 MP luma        {_ms(sample_ms)}")
    print(f"  (from the full decoded 4K instead:           {_ms(full_ms)})")
    print(f"  preview sample from its 384 px thumbnail     {_ms(preview_ms)}")
    print(f"  SSIM + perceptual hashes at {size[0]}×{size[1]}        {_ms(compare_ms)}")
    print(f"  the worker's whole fidelity step             {_ms(worker_ms)}")
    verdict = "meets" if worker_ms[1] <= TARGET_MS else "MISSES"
    print(f"  -> {verdict} the {TARGET_MS:.0f} ms target (median)")
    print(f"  baseline: measure() decoding both originals  {_ms(baseline_ms)}")
    print(f"  ratio worker / baseline (median)             {worker_ms[1] / baseline_ms[1]:.3f}")
    print(
        f"  ingest of the 4K without / with the sample   {plain_ms[1]:.0f} / "
        f"{sampled_ms[1]:.0f} ms median (+{sampled_ms[1] - plain_ms[1]:.0f} ms)"
    )
    print(f"  similarity {measured.ssim:.3f}, hash distance {measured.hash_distance}")

    request = RenderRequest(
        prompt=PROMPT,
        model_id="gemini-3-pro-image",
        aspect_ratio="1:1",
        size="4K",
        width=4096,
        height=4096,
        seed=11,
        timeout_s=660,
    )
    escalated = request.from_preview(as_input)
    gemini_plain = len(json.dumps(gemini.request_body(request, send_image_size=True)))
    gemini_with = len(json.dumps(gemini.request_body(escalated, send_image_size=True)))
    model = get_model("nano-banana-pro")
    openai_plain = len(json.dumps(openai.request_body(model, request)))
    openai_with = _multipart_bytes(
        openai.edit_fields(model, escalated), openai.image_parts(escalated.input_images)
    )
    print(f"\nrequest bytes of one 4K final (the preview PNG is {len(preview):,} bytes)")
    print(
        f"  Gemini JSON        {gemini_plain:>12,} -> {gemini_with:>12,}  "
        f"(+{gemini_with - gemini_plain:,}, ×{gemini_with / len(preview):.3f} the PNG: base64)"
    )
    print(
        f"  OpenAI-compatible  {openai_plain:>12,} -> {openai_with:>12,}  "
        f"(+{openai_with - openai_plain:,}: generations JSON -> edits multipart)"
    )


def _multipart_bytes(fields: dict[str, str], files: list) -> int:  # type: ignore[type-arg]
    import httpx

    built = httpx.Request("POST", "http://bench.invalid/", data=fields, files=files)
    return len(built.read())


def _ms(pair: tuple[float, float]) -> str:
    return f"{pair[0]:7.1f} / {pair[1]:7.1f}"


if __name__ == "__main__":
    main()
