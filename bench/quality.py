"""Quality drift at scale: the report over N native images (100,000 by default) and the
detail measure on a 4K picture, with baselines measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio .venv/bin/python bench/drift.py
    .venv/bin/python bench/drift.py --images 20000          # SQLite (medians in Python)

The report: its own database next to the configured one (`<name>_bench_quality`, or
var/bench-drift.sqlite3), migrated, N image rows bulk-created over 52 weeks in 12
series (4 models × 3 sizes), then timed: the weekly medians in the database
(PERCENTILE_CONT) against the same medians taken in Python over the streamed values, the
whole drift_report for staff and for a project admin (a join to the generation), and the
page through Django's test client. `--keep` keeps (and reuses) the database.

The measure: measure_detail on the local provider's 4096² and 5504×3072 pictures, against
decoding the same PNG (what ingest spends anyway).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

MODELS = ["nano-banana-pro", "nano-banana-2", "gateway-flux", "gateway-sdxl"]
SIZES = {"1K": 0.9, "2K": 0.7, "4K": 0.45}  # typical bytes per pixel
WEEKS = 52


def timed(function: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """(p50 ms, min ms, last result) over `runs` calls after one warm-up."""
    result = function()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times), result


def bench_measure(runs: int) -> list[str]:
    from generations.imaging.codec import measure_detail
    from generations.providers.local import render_png

    lines = [
        "| picture | decode PNG p50 ms | measure_detail p50 ms (min) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for width, height in ((4096, 4096), (5504, 3072)):
        png = render_png(
            prompt="a harbour at dawn", seed=7, aspect_ratio="1:1", width=width, height=height
        )

        def decode(png: bytes = png) -> PILImage.Image:
            picture = PILImage.open(io.BytesIO(png))
            picture.load()
            return picture

        decode_ms, _, picture = timed(decode, runs)
        measure_ms, measure_min, metrics = timed(lambda p=picture: measure_detail(p), runs)
        lines.append(
            f"| {width}×{height} RGB ({len(png) / 2**20:.1f} MiB PNG) | {decode_ms:.0f} | "
            f"**{measure_ms:.0f}** ({measure_min:.0f}) | {measure_ms / decode_ms:.2f}× |"
        )
        print(f"  {width}×{height}: {metrics}")
    return lines


def seed(total: int) -> None:
    from django.contrib.auth import get_user_model

    from generations.models import Generation, Image, Membership, Project, Role, Submission
    from generations.states import State

    rng = random.Random(20261123)
    user_model = get_user_model()
    staff = user_model.objects.create_user("bench-staff", is_staff=True)
    admin = user_model.objects.create_user("bench-admin")
    projects = [Project.objects.create(name=f"Bench {i}", slug=f"bench-{i}") for i in range(3)]
    Membership.objects.create(project=projects[0], user=admin, role=Role.ADMIN)
    now = timezone.now()
    # Images get their own created_at (spread over the year), not "now".
    Image._meta.get_field("created_at").auto_now_add = False  # type: ignore[attr-defined]
    series = [(m, s) for m in MODELS for s in SIZES]
    batch = 5000
    for start in range(0, total, batch):
        count = min(batch, total - start)
        project = projects[(start // batch) % len(projects)]
        submission = Submission.objects.create(
            project=project, created_by=staff, prompt="bench", model_key=MODELS[0],
            aspect_ratio="1:1", preview_size="1K", variants=1,
        )  # fmt: skip
        generations = Generation.objects.bulk_create(
            Generation(
                submission=submission, project=project, variant=i + 1, seed=i,
                state=State.DELIVERED, state_changed_at=now, created_at=now,
            )
            for i in range(count)
        )  # fmt: skip
        images = []
        for generation in generations:
            model_key, size = rng.choice(series)
            age = dt.timedelta(seconds=rng.uniform(0, WEEKS * 7 * 86400))
            created = now - age
            # One series shrinks by 30 % over the last ten weeks: the report has drops to flag.
            shrink = 0.7 if (model_key, size) == ("nano-banana-pro", "4K") and age.days < 70 else 1
            bpp = SIZES[size] * shrink * rng.lognormvariate(0, 0.15)
            images.append(
                Image(
                    generation=generation, phase="final", original=f"bench/{generation.pk}.png",
                    sha256="0" * 64, mime_type="image/png", width=4096, height=4096,
                    byte_size=int(bpp * 4096 * 4096), bytes_per_pixel=bpp,
                    native=rng.random() > 0.03, model_key=model_key, size=size,
                    luma_entropy=rng.uniform(6.5, 7.8), detail_energy=rng.uniform(8, 30) * shrink,
                    created_at=created,
                )
            )  # fmt: skip
        Image.objects.bulk_create(images)


def bench_report(total: int, runs: int, keep: bool) -> list[str]:
    db = connection.settings_dict
    vendor = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    name = (
        f"{db['NAME']}_bench_quality"
        if vendor == "PostgreSQL"
        else str(settings.VAR_DIR / "bench-drift.sqlite3")
    )
    db["TEST"]["NAME"] = name
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=keep)
    try:
        from django.contrib.auth import get_user_model

        from generations.models import Image
        from generations.quality import drift

        if Image.objects.count() != total:
            started = time.monotonic()
            seed(total)
            print(f"seeded {total:,} images in {time.monotonic() - started:.0f} s")
        if vendor == "PostgreSQL":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        users = get_user_model().objects
        staff, admin = users.get(username="bench-staff"), users.get(username="bench-admin")
        start, end = drift.report_range(None, None)
        reach = start - dt.timedelta(weeks=settings.STUDIO_DRIFT_BASELINE_WEEKS)
        images = drift._images(user=staff, projects=None).filter(
            created_at__gte=drift._local_midnight(reach),
            created_at__lt=drift._local_midnight(end + dt.timedelta(weeks=1)),
        )
        in_range = images.count()
        rows = []
        if vendor == "PostgreSQL":
            db_ms, db_min, cells = timed(lambda: drift._cells_in_database(images), runs)
            rows.append(("weekly medians in PostgreSQL (PERCENTILE_CONT)", db_ms, db_min))
        py_ms, py_min, cells = timed(lambda: drift._cells_in_python(images), runs)
        rows.append(("weekly medians in Python over streamed values (baseline)", py_ms, py_min))
        staff_ms, staff_min, report = timed(lambda: drift.drift_report(user=staff), runs)
        rows.append(("drift_report, staff (all projects)", staff_ms, staff_min))
        admin_ms, admin_min, _ = timed(lambda: drift.drift_report(user=admin), runs)
        rows.append(("drift_report, project admin (1 of 3 projects)", admin_ms, admin_min))
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        client = Client()
        client.force_login(staff)
        page_ms, page_min, response = timed(lambda: client.get("/quality/"), runs)
        assert response.status_code == 200, response.status_code
        rows.append(("the page (/quality/, 12 charts), test client", page_ms, page_min))
        csv_ms, csv_min, _ = timed(
            lambda: b"".join(client.get("/quality/drift.csv").streaming_content), runs
        )
        rows.append(("the CSV export", csv_ms, csv_min))
        flagged = sum(len(s.flagged("bytes_per_pixel")) for s in report.series)
        lines = [
            f"{vendor}: {total:,} images, {in_range:,} native in the default range "
            f"(26 weeks + {settings.STUDIO_DRIFT_BASELINE_WEEKS} of baseline), "
            f"{len(cells)} series-weeks, {flagged} flagged weeks (bytes per pixel); {runs} runs.",
            "",
            "| what | p50 ms | min ms |",
            "|---|---:|---:|",
            *(f"| {what} | {p50:.0f} | {low:.0f} |" for what, p50, low in rows),
        ]
        if vendor == "PostgreSQL":
            lines.append(f"\nPython medians / database medians: {py_ms / db_ms:.1f}×")
        return lines
    finally:
        if not keep:
            connection.creation.destroy_test_db(name, verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument("--skip-report", action="store_true", help="only the detail measure")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; measure_detail:")
    print("\n".join(bench_measure(args.runs)))
    if not args.skip_report:
        print()
        print("\n".join(bench_report(args.images, args.runs, args.keep)))


if __name__ == "__main__":
    main()
