"""Image ingest: time and peak memory of the whole pipeline for one provider answer, next
to a naive baseline measured in the same run.

Each case is a Gemini-shaped JSON body holding a detailed PNG in base64: the local
provider's renderer (generations/providers/local.py) with per-channel noise on top, so
the PNG is as large and as hard to compress as a real 4K render (8–30 MB).

pipeline (what the product does):
  render task — take_json + base64 decode (GeminiProvider.result_from), codec.ingest
  (header checks, verify, one full decode → luma entropy, detail energy, placeholder,
  sha256, and the upright 2048 px pixels), store the original, spool those pixels;
  CPU queue   — take the spooled pixels (generations.imaging.renditions), make the screen 2048 px
  and thumbnail 384 px WebPs, store both.
pipeline without the spool (an images worker on another host): the CPU-queue step
  reads the original back and decodes it again (codec.make_renditions).
before (the same pipeline with the decoders it had before issue 19): binascii for the
  base64 and Pillow for every PNG — pyvips and pybase64 set aside in that process only.
naive (the baseline):
  json.loads + b64decode, store the original, Image.open + load(), thumbnail(2048) and
  thumbnail(384) (each on a copy), saved as WebP — no verify, no metrics, no placeholder.

Every measurement runs in a fresh subprocess (peak RSS = VmHWM of that process — not
ru_maxrss, which Linux carries over from the parent across exec — so one case cannot
inherit another's high-water mark); the best of `--repeat` times and the highest peak
are reported.

    .venv/bin/python bench/ingest.py                 # 4096², 5504×3072, 2048², 3 repeats
    .venv/bin/python bench/ingest.py --cases 4096x4096 --repeat 1
    .venv/bin/python bench/ingest.py --cold          # without the worker's warm-up
    .venv/bin/python bench/ingest.py --cases 4096x4096 --repeat 7 --no-naive

Each child first does what a worker process has done before its first image (imports,
Pillow's plugin registry, a tiny PNG and WebP): ~0.1 s that is no image's cost.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
MiB = 2**20
CASES = {"4096x4096": "1:1", "5504x3072": "16:9", "2048x2048": "1:1"}
TARGET_S, TARGET_MIB = 0.6, 250  # the 4096² targets: median wall, peak RSS (issue 19)


def _setup_django() -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()


def make_body(width: int, height: int, aspect_ratio: str) -> bytes:
    """A Gemini answer around a detailed PNG (render + noise), as the server sends it."""
    from PIL import Image

    from generations.providers.local import render_image

    picture = render_image(
        prompt="a lighthouse on a basalt cliff at dusk, storm light, fine rain",
        seed=11,
        aspect_ratio=aspect_ratio,
        width=width,
        height=height,
    )
    # Sensor-like grain: enough to make the PNG as large as a real render (~1.2 bytes per
    # pixel, 20 MB at 4096²), not so much that it is all noise.
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 16) for _ in range(3)])
    detailed = Image.blend(picture, noise, 0.08)
    buffer = io.BytesIO()
    detailed.save(buffer, format="PNG", compress_level=6)  # a provider's usual setting
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    document = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"inlineData": {"mimeType": "image/png", "data": data}}],
                },
                "finishReason": "STOP",
            }
        ],
        "modelVersion": "bench",
    }
    return json.dumps(document).encode()


# --- the measured work (child processes) ------------------------------------------------


def run_pipeline(body: bytearray, out: Path, *, spool: bool) -> dict[str, float]:
    from django.conf import settings

    from generations.imaging import codec, renditions

    settings.STUDIO_RENDITION_SPOOL_DIR = str(out / "spool")
    from generations.providers import gemini, http

    started = time.perf_counter()
    result = gemini.result_from(http.take_json(body, service="bench"), key=None)
    decoded = time.perf_counter()
    info = codec.ingest(result.data, keep_screen=spool)
    checked = time.perf_counter()
    original = out / f"original-{info.sha256[:16]}.png"
    original.write_bytes(result.data)
    if spool:
        renditions.spool_put(info.sha256, info.screen)
    del result
    stored = time.perf_counter()
    # The CPU queue's task, a separate step: from the spooled screen-size pixels (same
    # host), or by decoding the stored original again (another host, or --no-spool).
    pixels = renditions._spool_take(info.sha256) if spool else None
    if pixels is not None:
        thumbnail, screen = codec.renditions_of_screen(pixels)
        renditions.spool_discard(info.sha256)
    else:
        thumbnail, screen = codec.make_renditions(original.read_bytes())
    (out / "thumbnail.webp").write_bytes(thumbnail)
    (out / "screen.webp").write_bytes(screen)
    finished = time.perf_counter()
    return {
        "total_s": finished - started,
        "decode_b64_s": decoded - started,
        "ingest_s": checked - decoded,
        "store_s": stored - checked,
        "renditions_s": finished - stored,
        "render_task_s": stored - started,
        "image_mb": info.byte_size / 1e6,
        "placeholder_bytes": len(info.placeholder),
        "luma_entropy": info.luma_entropy,
        "detail_energy": info.detail_energy,
    }


def run_naive(body: bytearray, out: Path) -> dict[str, float]:
    from PIL import Image

    started = time.perf_counter()
    document = json.loads(bytes(body))
    body.clear()
    inline = document["candidates"][0]["content"]["parts"][0]["inlineData"]
    data = base64.b64decode(inline["data"])
    del document, inline
    (out / "original.png").write_bytes(data)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        for edge, name in ((2048, "screen"), (384, "thumbnail")):
            copy = image.copy()
            copy.thumbnail((edge, edge))
            copy.save(out / f"{name}.webp", format="WEBP", quality=80)
    return {"total_s": time.perf_counter() - started}


class _BinasciiBase64:
    """What generations.providers.http decoded base64 with before pybase64."""

    @staticmethod
    def b64decode(data: str, *, validate: bool) -> bytes:
        return binascii.a2b_base64(data, strict_mode=validate)


def _decoders_before() -> None:
    """This process decodes as the pipeline did before issue 19: binascii, Pillow alone."""
    from generations.imaging import codec
    from generations.providers import http

    codec._vips = None
    http.pybase64 = _BinasciiBase64  # type: ignore[assignment]


def _hwm_mib() -> float:
    """This process's peak RSS (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def _warm_up(mode: str) -> None:
    """What a worker process has done before its first image: imports, Pillow's plugin
    registry, libwebp's first use. Not part of any one image's cost (it was ~0.1 s of
    the first measurement in a fresh process); done alike for every mode."""
    from PIL import Image

    Image.init()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, format="PNG")
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        image.load()
        image.save(io.BytesIO(), format="WEBP", quality=80)
    if mode != "naive":
        from generations.imaging import codec, renditions  # noqa: F401
        from generations.providers import gemini, http  # noqa: F401

        codec.ingest(buffer.getvalue())  # libvips' first use too, where it decodes


def child(mode: str, path: str, *, cold: bool) -> None:
    _setup_django()
    if mode == "before":
        _decoders_before()
    if not cold:
        _warm_up(mode)
    body = bytearray(Path(path).stat().st_size)
    with open(path, "rb") as handle:  # into one buffer, as http.post_json hands it over
        handle.readinto(body)
    baseline = _hwm_mib()
    cpu_started = time.process_time()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        if mode == "naive":
            figures = run_naive(body, Path(folder))
        else:
            figures = run_pipeline(body, Path(folder), spool=mode != "pipeline-decode")
    # CPU seconds: what the wall time would be on an idle core (this machine is shared).
    figures["cpu_s"] = time.process_time() - cpu_started
    figures["peak_rss_mib"] = _hwm_mib()
    figures["baseline_rss_mib"] = baseline
    print(json.dumps(figures))


# --- the driver -------------------------------------------------------------------------


def _run(mode: str, path: Path, *, cold: bool) -> dict[str, Any]:
    output = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--child", mode, str(path)] + (["--cold"] if cold else []),
        check=True,
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def measure(modes: list[str], path: Path, repeat: int, *, cold: bool) -> dict[str, Any]:
    """Each mode `repeat` times, taking turns (mode A, B, C, A, B, C, …) so that a change
    of load on this shared host falls on all of them alike."""
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for _ in range(repeat):
        for mode in modes:
            runs[mode].append(_run(mode, path, cold=cold))
    return {mode: _summary(mode_runs) for mode, mode_runs in runs.items()}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = dict(min(runs, key=lambda run: run["total_s"]))
    best["median_s"] = statistics.median(run["total_s"] for run in runs)
    best["median_cpu_s"] = statistics.median(run["cpu_s"] for run in runs)
    best["cpu_s"] = min(run["cpu_s"] for run in runs)
    best["peak_rss_mib"] = max(run["peak_rss_mib"] for run in runs)
    for step in ("decode_b64_s", "ingest_s", "store_s", "renditions_s"):
        if step in best:
            best[f"median_{step}"] = statistics.median(run[step] for run in runs)
    return best


def _row(label: str, run: dict[str, Any], base: dict[str, Any] | None) -> str:
    ratios = ""
    if base is not None:
        ratios = (
            f" | × {base['label']}: median {run['median_s'] / base['median_s']:.2f}, "
            f"CPU {run['median_cpu_s'] / base['median_cpu_s']:.2f}, "
            f"peak {run['peak_rss_mib'] / base['peak_rss_mib']:.2f}"
        )
    split = ""
    if "render_task_s" in run:
        split = f" ({run['render_task_s']:.2f}+{run['renditions_s']:.2f})"
    return (
        f"  {label:<26}{run['median_s']:>7.2f} s [best {run['total_s']:.2f}{split}]"
        f"{run['median_cpu_s']:>7.2f} CPU s{run['peak_rss_mib']:>6.0f} MiB{ratios}"
    )


def _steps(run: dict[str, Any]) -> str:
    return (
        f"base64+JSON {run['median_decode_b64_s']:.3f} s, ingest {run['median_ingest_s']:.3f} s, "
        f"store {run['median_store_s']:.3f} s, renditions {run['median_renditions_s']:.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help="WxH,... (default: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--cold", action="store_true", help="no warm-up: the first image of a fresh process"
    )
    parser.add_argument(
        "--no-naive",
        action="store_true",
        help="leave out the naive baseline (and the second decode)",
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "BODY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, cold=args.cold)
        return
    _setup_django()
    cache = Path(tempfile.gettempdir()) / "proof-studio-bench"
    cache.mkdir(exist_ok=True)
    modes = ["pipeline", "before"] + ([] if args.no_naive else ["pipeline-decode", "naive"])
    print(
        f"cpus: {os.cpu_count()}, load average: {_load()}; {args.repeat} runs of each, "
        f"taking turns; median wall [best], median CPU, highest peak RSS"
        f"{', cold processes' if args.cold else ''}"
    )
    for case in args.cases.split(","):
        width, height = (int(n) for n in case.split("x"))
        path = cache / f"ingest-{case}.json"
        if not path.exists():
            path.write_bytes(make_body(width, height, CASES.get(case, "1:1")))
        runs = measure(modes, path, args.repeat, cold=args.cold)
        pipeline, before = runs["pipeline"], runs["before"]
        before["label"] = "before"
        print(
            f"{case}: PNG {pipeline['image_mb']:.1f} MB, body {path.stat().st_size / 1e6:.1f} MB; "
            f"process baseline {pipeline['baseline_rss_mib']:.0f} MiB with the body"
        )
        print(_row("pipeline", pipeline, before))
        print(_row("before (binascii, Pillow)", before, None))
        if "naive" in runs:
            naive = runs["naive"]
            naive["label"] = "naive"
            print(_row("without the spool", runs["pipeline-decode"], naive))
            print(_row("naive", naive, None))
            print(_row("pipeline", pipeline, naive))
        print(f"  steps, median: pipeline {_steps(pipeline)}")
        print(f"  {'':<14}before   {_steps(before)}")
        print(
            f"  placeholder {pipeline['placeholder_bytes']:.0f} B; entropy "
            f"{pipeline['luma_entropy']:.2f} bits, detail {pipeline['detail_energy']:.1f} "
            f"(before: {before['luma_entropy']:.2f}, {before['detail_energy']:.1f}); "
            f"load average now {_load()}"
        )
        if width * height == 4096 * 4096:
            ok = pipeline["median_s"] <= TARGET_S and pipeline["peak_rss_mib"] <= TARGET_MIB
            print(
                f"  target: median ≤ {TARGET_S:.1f} s wall and peak ≤ {TARGET_MIB} MiB: "
                f"{'met' if ok else 'NOT met'} ({pipeline['median_s']:.2f} s, "
                f"{pipeline['peak_rss_mib']:.0f} MiB)"
            )


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
