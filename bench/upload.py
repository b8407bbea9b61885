"""Upload validation: what checking and cleaning a 20 MB camera JPEG costs the web request
(generations.imaging.uploads.upload_clean: header checks, the one decode, EXIF orientation,
metadata removed, re-encoded at ≤ 2048 px — its own screen rendition —, the thumbnail).

Target: ≤ 300 ms and ≤ 200 MiB for a 20 MB JPEG.

Each measurement runs in a fresh Python process (so ru_maxrss is this work's own peak):
  baseline   Image.open + load(): a plain full decode of the same file, nothing else
  upload     upload_clean on the same bytes (what upload_create does before storing)
Each process runs the work twice: cold (the first: codecs' first use included) and warm
(as in a web process that has served uploads before; the target is for this one).
Reported: best and median wall time over --runs, and the peak resident memory the work
added above the process's resident size after the imports and the file read (MiB: the
high-water mark VmHWM, reset through /proc/self/clear_refs before the work, so it is the
peak however briefly it was held; Linux only).

    .venv/bin/python bench/upload.py              # 5 runs each
    .venv/bin/python bench/upload.py --runs 3 --width 6000 --height 4000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
TARGET_MS = 300.0
TARGET_MIB = 200.0


def make_jpeg(path: Path, width: int, height: int, megabytes: float) -> int:
    """A camera-like JPEG of about `megabytes`: smooth light with sensor grain, EXIF."""
    from PIL import Image

    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    tint = Image.new("RGB", (width, height), (90, 140, 200))
    picture = Image.blend(base, tint, 0.4)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "BenchCam"
    grain, quality = 30, 97
    for _ in range(6):
        noise = Image.merge("RGB", [Image.effect_noise((width, height), grain) for _ in range(3)])
        buffer = io.BytesIO()
        Image.blend(picture, noise, 0.25).save(
            buffer, format="JPEG", quality=quality, exif=exif.tobytes()
        )
        size = buffer.tell()
        if abs(size - megabytes * 2**20) < 0.05 * megabytes * 2**20:
            break
        grain = max(1, round(grain * (megabytes * 2**20 / size) ** 1.5))
    path.write_bytes(buffer.getvalue())
    return size


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _child(kind: str, path: str) -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()
    from PIL import Image

    from generations.imaging import uploads

    data = Path(path).read_bytes()

    def work() -> tuple[int, int]:
        if kind == "baseline":
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                return image.size
        cleaned = uploads.upload_clean(data)
        return (cleaned.width, cleaned.height)

    # Reset the high-water mark (imports may have set it): VmHWM is then this work's peak.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    started = time.perf_counter()
    size = work()  # cold: the first in this process (codecs' first use included)
    cold = (time.perf_counter() - started) * 1000
    peak = _status_kib("VmHWM")
    started = time.perf_counter()
    work()  # warm: as in a web process that has served uploads before
    warm = (time.perf_counter() - started) * 1000
    print(json.dumps({"ms": cold, "warm": warm, "mib": (peak - before) / 1024, "size": size}))


def _run(kind: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--megabytes", type=float, default=19.1)  # MiB: 20.0 MB
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    sys.path.insert(0, str(BASE_DIR))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "camera.jpg"
        size = make_jpeg(path, args.width, args.height, args.megabytes)
        print(
            f"input: {args.width}×{args.height} JPEG, {size / 1e6:.1f} MB "
            f"({size / 2**20:.1f} MiB), EXIF orientation 6"
        )
        results = {}
        for kind in ("baseline", "upload"):
            runs = [_run(kind, path) for _ in range(args.runs)]
            ms = [run["ms"] for run in runs]
            warm = [run["warm"] for run in runs]
            mib = [run["mib"] for run in runs]
            results[kind] = (
                statistics.median(ms), min(warm), statistics.median(warm), max(mib),
                runs[0]["size"],
            )  # fmt: skip
        for kind, (cold, best, median, mib, out) in results.items():
            label = "baseline (open + load)" if kind == "baseline" else "upload_clean"
            print(
                f"{label:<24} warm best {best:5.0f} ms  median {median:5.0f} ms  "
                f"cold median {cold:5.0f} ms  peak +{mib:4.0f} MiB  -> {out[0]}×{out[1]}"
            )
        cold, best, median, mib, _ = results["upload"]
        verdict = "meets" if median <= TARGET_MS and mib <= TARGET_MIB else "MISSES"
        print(
            f"target ≤ {TARGET_MS:.0f} ms and ≤ {TARGET_MIB:.0f} MiB: {verdict} "
            f"(warm median {median:.0f} ms, cold {cold:.0f} ms, peak +{mib:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
