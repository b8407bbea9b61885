"""The economy lane at volume: what 1,000 economy finals cost in requests, polls and memory.

    # PostgreSQL (what production runs):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/economy.py
    # SQLite (the `make run` default):
    .venv/bin/python bench/economy.py

Each run approves 1,000 previews (1K, Nano Banana Pro, 2K finals made from the approved
preview) into the economy lane, then runs the one poller (`rendering.economy.economy_poll`,
what beat runs) until every final is delivered, against the fake Gemini Batch API
(tests/support/batch_server.py) in a process of its own on loopback: jobs go pending →
running → succeeded, every item an image (a real 2048² PNG, base64 in the answer, as
Gemini sends it). It reports:
- requests: batch creations, status polls, list calls (reconciling), file downloads,
  against the 1,000 `generateContent` calls of the standard lane;
- polls: measured here (the fake finishes a job in two polls), and what a real job
  would take at the configured interval for a turnaround of 1 h and of the 24 h target;
- memory: the peak of Python allocations (tracemalloc) during the run that stores a
  job's results — the inlined responses of a whole job are one JSON document — and the
  same with the results as a responses file (streamed line by line);
- money: the finals at the economy price against the standard price (the price list).

The previews here are small PNGs, so a job holds STUDIO_ECONOMY_MAX_ITEMS items; with
real 2K previews (~5 MB each as PNG) a job's inlined requests reach Gemini's 20 MB limit
at a few items, which the report also counts (the poller sizes jobs by both).
It builds its own database next to the configured one and drops it again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import sys
import time
import tracemalloc
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

KEY_ENV = "STUDIO_BENCH_GEMINI_KEY"
MODEL = "nano-banana-pro"


def serve(port_queue: Any, responses_file: bool) -> None:
    """The fake Batch API, in a process of its own (its memory is not the poller's)."""
    from tests.support.batch_server import FakeBatchService
    from tests.support.provider_server import FakeProviderServer

    server = FakeProviderServer()
    server.router = FakeBatchService(responses_file=responses_file)
    server.start()
    port_queue.put(server.url)
    while True:
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--finals", type=int, default=1000)
    parser.add_argument("--max-items", type=int, default=settings.STUDIO_ECONOMY_MAX_ITEMS)
    parser.add_argument("--real-preview-mb", type=float, default=5.0)
    args = parser.parse_args()

    db = connection.settings_dict
    vendor = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    bench_name = (
        f"{db['NAME']}_bench_economy"
        if vendor == "PostgreSQL"
        else str(settings.VAR_DIR / "bench-economy.sqlite3")
    )
    db["TEST"]["NAME"] = bench_name
    media = settings.VAR_DIR / "bench-economy-media"
    settings.MEDIA_ROOT = media
    settings.STUDIO_RENDITION_SPOOL_DIR = ""
    settings.STUDIO_ECONOMY_MAX_ITEMS = args.max_items
    # No worker makes the renditions here: their kicks are not sent.
    from generations.imaging import renditions

    renditions.enqueue = lambda *args, **kwargs: None  # type: ignore[assignment]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    lines = [
        f"{args.finals:,} economy finals (Nano Banana Pro, 1K previews → 2K finals from the "
        f"preview), on {vendor}; jobs of at most {args.max_items} items; poll interval "
        f"{settings.STUDIO_ECONOMY_JOB_POLL_SECONDS} s",
        "",
    ]
    try:
        for responses_file in (False, True):
            figures = run(args.finals, responses_file=responses_file)
            lines += report(figures, responses_file=responses_file, args=args)
        lines += sizing(args)
    finally:
        connection.creation.destroy_test_db(bench_name, verbosity=0)
    print("\n".join(lines))


def run(finals: int, *, responses_file: bool) -> dict[str, Any]:
    import httpx

    from generations.rendering import economy

    ports: Any = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(
        target=serve, args=(ports, responses_file), daemon=True
    )
    child.start()
    url = ports.get(timeout=30)
    from generations.models import EconomyJob

    before = EconomyJob.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    try:
        generations = _approved(finals, url, slug=f"bench-{int(responses_file)}")
        # Every run polls every open job (the fake needs three polls per job; real jobs
        # take hours: the interval decides, see the report).
        runs = 0
        peak = 0
        started = time.perf_counter()
        stored = 0
        while stored < finals and runs < 200:
            EconomyJob.objects.update(next_poll_at=_past())
            tracemalloc.start()
            report_ = economy.economy_poll()
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            stored += report_.stored
            runs += 1
        seconds = time.perf_counter() - started
        stats = httpx.get(f"{url}/__stats", timeout=10).json()
    finally:
        child.kill()
    from generations.models import EconomyJob, Generation, LedgerEntry

    delivered = Generation.objects.filter(pk__in=generations, state="delivered").count()
    charges = LedgerEntry.objects.filter(
        kind="charge", phase="final", generation_id__in=generations
    )
    charged = sum((e.amount_usd for e in charges), Decimal(0))
    jobs = EconomyJob.objects.filter(pk__gt=before).count()
    return {
        **stats,
        "runs": runs,
        "seconds": seconds,
        "peak": peak,
        "delivered": delivered,
        "charged": charged,
        "jobs": jobs,
    }


def _past() -> dt.datetime:
    from django.utils import timezone

    return timezone.now() - dt.timedelta(seconds=1)


def _approved(finals: int, url: str, *, slug: str) -> list[int]:
    """`finals` previews in review with a small preview file each, approved into the
    economy lane through the approval service (reservation at the batch price)."""
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from generations.lanes import Lane
    from generations.models import Generation, Image, Membership, Project, Role, Submission
    from generations.review.decisions import generation_approve
    from tests.support.fakes import png_bytes

    settings.STUDIO_MODELS = {
        **settings.STUDIO_MODELS,
        MODEL: {**settings.STUDIO_MODELS[MODEL], "base_url": url, "api_key_env": KEY_ENV},
    }
    os.environ[KEY_ENV] = "bench-key-not-real"
    project = Project.objects.create(slug=slug, name=slug, final_size="2K", fidelity_threshold=0)
    users = get_user_model().objects
    designer = users.filter(username="bench-designer").first() or users.create_user(
        "bench-designer",
        password="x",  # noqa: S106
    )
    reviewer = users.filter(username="bench-reviewer").first() or users.create_user(
        "bench-reviewer",
        password="x",  # noqa: S106
    )
    Membership.objects.get_or_create(project=project, user=designer, role=Role.DESIGNER)
    Membership.objects.get_or_create(project=project, user=reviewer, role=Role.REVIEWER)
    preview = png_bytes(1024, 1024)
    name = default_storage.save("bench/preview.png", ContentFile(preview))
    now = timezone.now()
    ids = []
    for n in range(0, finals, 4):
        submission = Submission.objects.create(
            project=project,
            created_by=designer,
            prompt=f"a ceramic mug on an oak table, product shot #{n}",
            model_key=MODEL,
            aspect_ratio="1:1",
            preview_size="1K",
            final_size="2K",
            variants=min(4, finals - n),
        )
        for variant in range(1, submission.variants + 1):
            generation = Generation.objects.create(
                submission=submission,
                project=project,
                variant=variant,
                seed=n * 10 + variant,
                state="in_review",
                state_changed_at=now,
                created_at=now,
            )
            Image.objects.create(
                generation=generation,
                phase="preview",
                original=name,
                sha256="0" * 64,
                mime_type="image/png",
                width=1024,
                height=1024,
                byte_size=len(preview),
                bytes_per_pixel=len(preview) / 1024**2,
                model_key=MODEL,
                size="1K",
            )
            ids.append(generation.pk)
    for pk in ids:
        generation_approve(generation_id=pk, user=reviewer, lane=Lane.BATCH)
    return ids


def report(figures: dict[str, Any], *, responses_file: bool, args: argparse.Namespace) -> list[str]:
    from generations.spend import pricing
    from generations.strategies import Strategy

    standard = pricing.final_price(model_key=MODEL, size="2K", strategy=Strategy.FROM_PREVIEW)
    economy = pricing.final_price(
        model_key=MODEL, size="2K", strategy=Strategy.FROM_PREVIEW, lane="batch"
    )
    finals = args.finals
    requests = figures["creates"] + figures["polls"] + figures["lists"] + figures["downloads"]
    interval = settings.STUDIO_ECONOMY_JOB_POLL_SECONDS
    jobs = figures["jobs"]
    how = "a responses file (JSONL, streamed)" if responses_file else "inlined responses"
    return [
        f"### Results as {how}",
        "",
        "| figure | value |",
        "|---|---|",
        f"| finals delivered | {figures['delivered']:,} of {finals:,} |",
        f"| batch jobs (one `batchGenerateContent` each) | {jobs:,} |",
        f"| status polls (`GET batches/…`), fake: 2 per job | {figures['polls']:,} |",
        f"| list calls (reconciling) · file downloads | {figures['lists']} · "
        f"{figures['downloads']} |",
        f"| **HTTP requests in all** (standard lane: {finals:,} `generateContent`, more "
        f"with retries) | **{requests:,}** |",
        f"| polls a real job takes at {interval} s: 1 h turnaround · 24 h target | "
        f"{3600 // interval:,} · {86400 // interval:,} per job "
        f"({jobs * 3600 // interval:,} · {jobs * 86400 // interval:,} in all) |",
        f"| poller runs · wall time (store and ingest included) | {figures['runs']} · "
        f"{figures['seconds']:.1f} s |",
        f"| peak Python memory of one poller run (tracemalloc) | "
        f"{figures['peak'] / 2**20:.0f} MiB |",
        f"| charged (economy lane) · same finals now | ${figures['charged']:,.2f} · "
        f"${(standard.total or 0) * finals:,.2f} (economy {economy.total}/final against "
        f"{standard.total}) |",
        "",
    ]


def sizing(args: argparse.Namespace) -> list[str]:
    """How many jobs the same finals need with real previews (the 20 MB request limit)."""
    from generations import catalog

    limit = catalog.get_model(MODEL).max_request_bytes
    item = int(args.real_preview_mb * 2**20 * 4 / 3) + 4096
    per_job = max(1, min(args.max_items, limit // item))
    jobs = -(-args.finals // per_job)
    return [
        f"With real 2K previews of ~{args.real_preview_mb:g} MB (PNG), a job's inlined "
        f"requests reach Gemini's {limit // 2**20} MB request limit at {per_job} items: "
        f"{jobs:,} jobs for {args.finals:,} finals ({jobs:,} creations, and "
        f"{jobs * 3600 // settings.STUDIO_ECONOMY_JOB_POLL_SECONDS:,} polls for a 1 h "
        "turnaround). Sending previews through the Files API (a JSONL input file) instead "
        "would make that a handful of jobs again; not built yet.",
    ]


if __name__ == "__main__":
    main()
