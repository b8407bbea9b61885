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

Each child first does what a worker process has done before its first image (imports,
Pillow's plugin registry, a tiny PNG and WebP): ~0.1 s that is no image's cost.
"""

from __future__ import annotations

import argparse
import base64
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
TARGET_S, TARGET_MIB = 1.0, 400  # the 4096² targets (issue 7)


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
        from generations.imaging import renditions  # noqa: F401
        from generations.providers import gemini, http  # noqa: F401


def child(mode: str, path: str, *, cold: bool) -> None:
    _setup_django()
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
            figures = run_pipeline(body, Path(folder), spool=mode == "pipeline")
    # CPU seconds: what the wall time would be on an idle core (this machine is shared).
    figures["cpu_s"] = time.process_time() - cpu_started
    figures["peak_rss_mib"] = _hwm_mib()
    figures["baseline_rss_mib"] = baseline
    print(json.dumps(figures))


# --- the driver -------------------------------------------------------------------------


def measure(mode: str, path: Path, repeat: int, *, cold: bool) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        output = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, __file__, "--child", mode, str(path)] + (["--cold"] if cold else []),
            check=True,
            capture_output=True,
            text=True,
            cwd=BASE_DIR,
        ).stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
    best = min(runs, key=lambda run: run["total_s"])
    best["median_s"] = statistics.median(run["total_s"] for run in runs)
    best["median_cpu_s"] = statistics.median(run["cpu_s"] for run in runs)
    best["cpu_s"] = min(run["cpu_s"] for run in runs)
    best["peak_rss_mib"] = max(run["peak_rss_mib"] for run in runs)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help="WxH,... (default: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--cold", action="store_true", help="no warm-up: the first image of a fresh process"
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "BODY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, cold=args.cold)
        return
    _setup_django()
    cache = Path(tempfile.gettempdir()) / "proof-studio-bench"
    cache.mkdir(exist_ok=True)
    print(
        f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}, best of "
        f"{args.repeat} (median in brackets){', cold processes' if args.cold else ''}"
    )
    header = (
        f"{'case':<11}{'PNG MB':>7}{'body MB':>8} | {'pipeline s':>10}{'(task+cpu)':>14}"
        f"{'CPU s':>7}{'peak MiB':>9} | {'naive s':>8}{'CPU s':>7}{'peak MiB':>9} | "
        f"{'time ×':>7}{'CPU ×':>6}{'mem ×':>6}"
    )
    print(header)
    print("-" * len(header))
    for case in args.cases.split(","):
        width, height = (int(n) for n in case.split("x"))
        path = cache / f"ingest-{case}.json"
        if not path.exists():
            path.write_bytes(make_body(width, height, CASES.get(case, "1:1")))
        pipeline = measure("pipeline", path, args.repeat, cold=args.cold)
        decoding = measure("pipeline-decode", path, args.repeat, cold=args.cold)
        naive = measure("naive", path, args.repeat, cold=args.cold)
        print(
            f"{case:<11}{pipeline['image_mb']:>7.1f}{path.stat().st_size / 1e6:>8.1f} | "
            f"{pipeline['total_s']:>10.2f}"
            f"{pipeline['render_task_s']:>7.2f}+{pipeline['renditions_s']:.2f}"
            f"{pipeline['cpu_s']:>7.2f}{pipeline['peak_rss_mib']:>9.0f} | "
            f"{naive['total_s']:>8.2f}{naive['cpu_s']:>7.2f}{naive['peak_rss_mib']:>9.0f} | "
            f"{pipeline['total_s'] / naive['total_s']:>7.2f}"
            f"{pipeline['cpu_s'] / naive['cpu_s']:>6.2f}"
            f"{pipeline['peak_rss_mib'] / naive['peak_rss_mib']:>6.2f}"
        )
        print(
            f"{'':<11}  pipeline steps: base64+JSON {pipeline['decode_b64_s']:.2f} s, "
            f"ingest {pipeline['ingest_s']:.2f} s, store {pipeline['store_s']:.2f} s, "
            f"renditions {pipeline['renditions_s']:.2f} s; process baseline "
            f"{pipeline['baseline_rss_mib']:.0f} MiB with the body; placeholder "
            f"{pipeline['placeholder_bytes']:.0f} B; entropy {pipeline['luma_entropy']:.2f} bits, "
            f"detail {pipeline['detail_energy']:.1f}"
        )
        print(
            f"{'':<11}  without the spool (images worker on another host: a second decode): "
            f"{decoding['total_s']:.2f} s ({decoding['render_task_s']:.2f}"
            f"+{decoding['renditions_s']:.2f}), CPU {decoding['cpu_s']:.2f} s, "
            f"peak {decoding['peak_rss_mib']:.0f} MiB; "
            f"× naive: time {decoding['total_s'] / naive['total_s']:.2f}, "
            f"CPU {decoding['cpu_s'] / naive['cpu_s']:.2f}"
        )
        print(
            f"{'':<11}  median of {args.repeat}: pipeline {pipeline['median_s']:.2f} s wall, "
            f"{pipeline['median_cpu_s']:.2f} CPU s; naive {naive['median_s']:.2f} s wall, "
            f"{naive['median_cpu_s']:.2f} CPU s; load average now {os.getloadavg()[0]:.2f}"
        )
        if case == "4096x4096":
            for label, seconds in (("wall", pipeline["total_s"]), ("CPU", pipeline["cpu_s"])):
                ok = seconds <= TARGET_S and pipeline["peak_rss_mib"] <= TARGET_MIB
                print(
                    f"{'':<11}  target ≤ {TARGET_S:.1f} s and ≤ {TARGET_MIB} MiB "
                    f"({label} time): {'met' if ok else 'NOT met'}"
                )


if __name__ == "__main__":
    main()
