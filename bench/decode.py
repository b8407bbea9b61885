"""The steps of the 4K ingest that could change library, each against the other in the
same run: the JSON body (json against orjson), its base64 (binascii against pybase64),
decoding the PNG (Pillow against libvips, both ways of handing libvips' pixels to
Pillow), and resizing the decoded pixels to the screen rendition's 2048 px.

    .venv/bin/python bench/decode.py              # bench/ingest.py's 4096² PNG, 7 runs
    .venv/bin/python bench/decode.py --runs 3 --case 2048x2048

Prints the median wall and CPU seconds of each, and checks that both decoders give the
same pixels (a PNG is lossless: they must). The body is bench/ingest.py's cached one (it
makes it if needed). orjson is not a dependency: its rows are left out when it is not
installed. Verdict: docs/benchmarks.md, "Decoders: libvips against Pillow".
"""

from __future__ import annotations

import argparse
import base64
import binascii
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


def _body(case: str) -> bytes:
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
    return path.read_bytes()


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
    import pybase64
    import pyvips
    from PIL import Image

    pyvips.cache_set_max(0)
    body = _body(args.case)
    text = json.loads(body)["candidates"][0]["content"]["parts"][0]["inlineData"]["data"]
    data = base64.b64decode(text)
    edge = 2048
    rows = [
        ("JSON: UTF-8 decode + json.loads", _time(lambda: json.loads(body.decode()), args.runs)),
    ]
    try:
        import orjson
    except ImportError:
        orjson = None
    if orjson is not None:
        rows.append(("JSON: orjson.loads", _time(lambda: orjson.loads(body), args.runs)))
    rows += [
        (
            "base64: binascii (strict)",
            _time(lambda: binascii.a2b_base64(text, strict_mode=True), args.runs),
        ),
        (
            "base64: pybase64 (validate)",
            _time(lambda: pybase64.b64decode(text, validate=True), args.runs),
        ),
    ]
    assert pybase64.b64decode(text, validate=True) == data

    def pillow_decode() -> Image.Image:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image

    def vips_decode() -> Image.Image:  # the first try: Pillow copies the RGB pixels
        decoded = pyvips.Image.new_from_buffer(data, "", access="sequential", fail_on="error")
        mode = "RGBA" if decoded.bands == 4 else "RGB"
        return Image.frombuffer(
            mode, (decoded.width, decoded.height), decoded.write_to_memory(), "raw", mode, 0, 1
        )

    def vips_mapped() -> Image.Image:  # what codec._decode does: Pillow maps libvips' memory
        decoded = pyvips.Image.new_from_buffer(data, "", access="sequential", fail_on="error")
        mode = "RGBA" if decoded.bands == 4 else "RGBX"
        if mode == "RGBX":
            decoded = decoded.bandjoin(255)  # Pillow's RGB is 4 bytes a pixel too
        return Image.frombuffer(
            mode, (decoded.width, decoded.height), decoded.write_to_memory(), "raw", mode, 0, 1
        )

    decoded = pillow_decode()
    assert vips_decode().tobytes() == decoded.tobytes(), "the decoders disagree"
    assert vips_mapped().convert(decoded.mode).tobytes() == decoded.tobytes(), "mapped differs"
    scale = edge / max(decoded.size)
    size = (round(decoded.width * scale), round(decoded.height * scale))
    pixels = pyvips.Image.new_from_buffer(data, "").copy_memory()

    def pillow_resize() -> Image.Image:  # what codec._resized does
        return decoded.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0)

    def vips_resize() -> Any:
        return pixels.resize(scale, kernel="lanczos3").write_to_memory()

    rows += [
        ("decode: Pillow", _time(pillow_decode, args.runs)),
        ("decode: libvips + Pillow's copy", _time(vips_decode, args.runs)),
        ("decode: libvips, mapped by Pillow", _time(vips_mapped, args.runs)),
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
    timed = dict(rows)
    for step, new, old in (
        ("JSON, orjson", "JSON: orjson.loads", "JSON: UTF-8 decode + json.loads"),
        ("base64, pybase64", "base64: pybase64 (validate)", "base64: binascii (strict)"),
        ("decode, libvips mapped", "decode: libvips, mapped by Pillow", "decode: Pillow"),
        (
            "resize, libvips",
            f"resize to {edge}: libvips (lanczos3)",
            f"resize to {edge}: Pillow (reduce + LANCZOS)",
        ),
    ):
        if new in timed:
            (nw, nc), (ow, oc) = timed[new], timed[old]
            print(f"  {step} against before: {nw / ow:.2f}× the wall time, {nc / oc:.2f}× the CPU")
    print(f"  load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
