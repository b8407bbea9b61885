"""Batches at the limit: the time to validate and queue a 1,000-row CSV batch.

    # PostgreSQL (what production runs) and Redis (the broker the kicks go to):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/batch.py
    # SQLite and the file broker (the `make run` default):
    .venv/bin/python bench/batch.py

Each run builds a fresh 1,000-row CSV (prompts of ~60–90 characters, two models, 1K and
2K previews, five aspect ratios, 1–4 variants: 2,500 generations by default) and times
what a designer waits for, through the services the pages call:
- plan: read the file, check every row with the submit form's rules, price the
  estimate and keep the draft (`batch_plan_csv` + `batch_draft`);
- the plan page: the whole page with its 1,000 rows, through Django's test client;
- queue: check the rows again, insert the submissions, generations, audit rows and
  reservations (under the budget lock: the project has a budget), commit, and send the
  batch's one message (`batch_queue`);
- the fan-out a worker then does off the request: one render kick per generation sent to
  the broker (`batch_kick`), timed here in this process.

The messages go to a queue of the run's own, deleted afterwards, so no worker renders them.
It builds its own database next to the configured one (`<name>_bench_batch`, or
var/bench-batch.sqlite3) and drops it again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from decimal import Decimal
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

SUBJECTS = ["ceramic mug", "glass bottle", "canvas tote", "leather wallet", "desk lamp", "sneaker"]
SURFACES = ["an oak table", "a marble slab", "raw concrete", "a linen cloth", "wet slate"]
LIGHTS = ["soft morning light", "hard noon sun", "blue hour", "studio softbox", "candlelight"]
MODELS = [("nano-banana-pro", "1K"), ("nano-banana-2", "1K"), ("nano-banana-2", "2K")]
RATIOS = ["1:1", "16:9", "9:16", "4:5", "3:2"]


def csv_rows(rows: int, *, variants: int | None, salt: int) -> bytes:
    lines = ["prompt,aspect_ratio,variants,model,preview_size,reference_image_ids"]
    for n in range(rows):
        subject = SUBJECTS[n % len(SUBJECTS)]
        surface = SURFACES[(n // len(SUBJECTS)) % len(SURFACES)]
        light = LIGHTS[(n // 7 + salt) % len(LIGHTS)]
        model, size = MODELS[n % len(MODELS)]
        count = variants or (n % 4) + 1
        prompt = f'"a {subject} on {surface}, {light}, product shot #{n + 1}"'
        lines.append(f"{prompt},{RATIOS[n % len(RATIOS)]},{count},{model},{size},")
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--variants", type=int, default=None, help="per row (default 1–4)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.STUDIO_BATCH_MAX_ROWS = max(settings.STUDIO_BATCH_MAX_ROWS, args.rows)
    settings.STUDIO_RENDER_QUEUE = f"bench-batch-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    vendor = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    bench_name = (
        f"{db['NAME']}_bench_batch"
        if vendor == "PostgreSQL"
        else str(settings.VAR_DIR / "bench-batch.sqlite3")
    )
    db["TEST"]["NAME"] = bench_name
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        rows = measure(args.rows, args.variants, args.runs)
        print()
        print(report(rows, vendor=vendor, args=args))
    finally:
        purge_queue(settings.STUDIO_RENDER_QUEUE)
        connection.creation.destroy_test_db(bench_name, verbosity=0)


def measure(rows: int, variants: int | None, runs: int) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model

    from generations.batches import selectors, services
    from generations.models import Budget, Generation, Membership, Project, Role

    project = Project.objects.create(name="Bench", slug="bench")
    user = get_user_model().objects.create_user("bench-designer", password="x")  # noqa: S106
    Membership.objects.create(project=project, user=user, role=Role.DESIGNER)
    Budget.objects.create(project=project, amount_usd=Decimal("100000"))
    client = Client()
    client.force_login(user)

    results = []
    for run in range(runs):
        data = csv_rows(rows, variants=variants, salt=run)
        started = time.perf_counter()
        batch = services.batch_plan_csv(project=project, user=user, filename="b.csv", data=data)
        draft = selectors.batch_draft(batch=batch, user=user)
        planned = time.perf_counter() - started
        assert len(draft.rows) == rows and not draft.refused, draft.refused[:3]

        started = time.perf_counter()
        page = client.get(f"/batches/{batch.pk}/")
        page_s = time.perf_counter() - started
        assert page.status_code == 200 and page.content.count(b"<tr>") >= rows

        started = time.perf_counter()
        services.batch_queue(batch_id=batch.pk, user=user)
        queued = time.perf_counter() - started
        made = Generation.objects.filter(submission__batch=batch).count()

        started = time.perf_counter()
        kicked = services.batch_kick(batch_id=batch.pk)
        fan_out = time.perf_counter() - started
        assert kicked == made
        results.append(
            {
                "plan": planned,
                "page": page_s,
                "queue": queued,
                "fan_out": fan_out,
                "generations": made,
                "bytes": len(data),
            }
        )
        print(
            f"run {run + 1}: plan {planned:.2f} s · plan page {page_s:.2f} s · queue "
            f"{queued:.2f} s · worker fan-out {fan_out:.2f} s · {made:,} generations"
        )
    return results


def purge_queue(name: str) -> None:
    """Drop the run's kicks: nobody consumes that queue."""
    from celery import current_app

    try:
        with current_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(name)
    except Exception as exc:  # the broker may not know the queue (no kick sent)
        print(f"(could not delete queue {name}: {exc})")


def report(rows: list[dict[str, Any]], *, vendor: str, args: argparse.Namespace) -> str:
    def median(key: str) -> float:
        return statistics.median(row[key] for row in rows)

    total = median("plan") + median("queue")
    lines = [
        f"{args.rows:,} rows → {rows[0]['generations']:,} generations, CSV "
        f"{rows[0]['bytes'] / 1024:.0f} KiB, on {vendor}, broker "
        f"{settings.CELERY_BROKER_URL.split('://')[0]}; median of {len(rows)} runs",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| plan: read, check every row, estimate, keep the draft | {median('plan'):.2f} |",
        f"| the plan page (1,000 rows in a table) | {median('page'):.2f} |",
        f"| queue: check again, insert, reserve, commit, one message | {median('queue'):.2f} |",
        f"| **validate and queue** (plan + queue) | **{total:.2f}** |",
        f"| then, on a worker: one render kick per generation | {median('fan_out'):.2f} |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
