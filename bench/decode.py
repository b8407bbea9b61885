"""libvips (pyvips) against Pillow, in the same run, for the two steps of the 4K ingest
that could change library: decoding the provider's PNG, and resizing the decoded pixels
to the screen rendition's 2048 px.

    .venv/bin/python bench/decode.py              # bench/ingest.py's 4096² PNG, 7 runs
    .venv/bin/python bench/decode.py --runs 3 --case 2048x2048

Prints the median wall and CPU seconds of each, and checks that both decoders give the
same pixels (a PNG is lossless: they must). The PNG is bench/ingest.py's cached body
(it makes it if needed). Needs pyvips (`pip install "pyvips[binary]"`: the wheel carries
libvips). Verdict (docs/benchmarks.md, Image ingest): libvips decodes in ~0.83× Pillow's
CPU, but handing its pixels to Pillow raised the 4K pipeline's peak from ~200 to ~325 MiB
(bench/ingest.py), past the 250 MiB target, and Pillow resizes faster: Pillow stays.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent


def _png(case: str) -> bytes:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    from bench.ingest import CASES, make_body

    path = Path(tempfile.gettempdir()) / "proof-studio-bench" / f"ingest-{case}.json"
    if not path.exists():
        import django

        django.setup()
        width, height = map(int, case.split("x"))
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(make_body(width, height, CASES[case]))
    part = json.loads(path.read_bytes())["candidates"][0]["content"]["parts"][0]
    return base64.b64decode(part["inlineData"]["data"])


def _time(step: Callable[[], Any], runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="4096x4096")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    import pyvips
    from PIL import Image

    pyvips.cache_set_max(0)
    data = _png(args.case)
    edge = 2048

    def pillow_decode() -> Image.Image:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image

    def vips_decode() -> Image.Image:
        decoded = pyvips.Image.new_from_buffer(data, "", access="sequential", fail_on="error")
        mode = "RGBA" if decoded.bands == 4 else "RGB"
        return Image.frombuffer(
            mode, (decoded.width, decoded.height), decoded.write_to_memory(), "raw", mode, 0, 1
        )

    decoded = pillow_decode()
    assert vips_decode().tobytes() == decoded.tobytes(), "the decoders disagree"
    scale = edge / max(decoded.size)
    size = (round(decoded.width * scale), round(decoded.height * scale))
    pixels = pyvips.Image.new_from_buffer(data, "").copy_memory()

    def pillow_resize() -> Image.Image:  # what codec._resized does
        return decoded.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0)

    def vips_resize() -> Any:
        return pixels.resize(scale, kernel="lanczos3").write_to_memory()

    rows = [
        ("decode: Pillow", _time(pillow_decode, args.runs)),
        ("decode: libvips + to Pillow", _time(vips_decode, args.runs)),
        (f"resize to {edge}: Pillow (reduce + LANCZOS)", _time(pillow_resize, args.runs)),
        (f"resize to {edge}: libvips (lanczos3)", _time(vips_resize, args.runs)),
    ]
    load = os.getloadavg()[0]
    print(
        f"{args.case} PNG of {len(data) / 1e6:.1f} MB, median of {args.runs}; libvips "
        f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f}; same pixels from both decoders"
    )
    for label, (wall, cpu) in rows:
        print(f"  {label:45} {wall:6.3f} s wall {cpu:6.3f} s CPU")
    (pw, pc), (vw, vc) = rows[0][1], rows[1][1]
    print(f"  decode, libvips against Pillow: {vw / pw:.2f}× the wall time, {vc / pc:.2f}× the CPU")
    (pw, pc), (vw, vc) = rows[2][1], rows[3][1]
    print(f"  resize, libvips against Pillow: {vw / pw:.2f}× the wall time, {vc / pc:.2f}× the CPU")


if __name__ == "__main__":
    main()
