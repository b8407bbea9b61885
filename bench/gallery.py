"""Gallery and review queue at scale: seed N generations (100,000 by default) and time the
pages the way a browser asks for them — through Django's test client, the whole stack
(middleware, session, permission filters, selectors, templates) — printing p50/p95 and
the queries each page costs.

    # PostgreSQL (what production runs):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio .venv/bin/python bench/gallery.py
    # SQLite (the `make run` default):
    .venv/bin/python bench/gallery.py --generations 20000

It builds its own database next to the configured one (`<name>_bench`, or
var/bench.sqlite3), migrates it, bulk-creates the rows, measures, and drops it again
(`--keep` keeps it, and a later `--keep` run reuses the rows). `--write` puts the table
into docs/benchmarks.md under "## Gallery and review queue".

What is seeded: 3 projects; 24 designers and 4 reviewers; N generations in submissions of
1–4 variants over a year, each with a preview image row (finals for delivered ones); ~2 %
waiting for review (≈2,000 at 100k); pinned comments on some of those; and a few thousand
notifications, so the header's unread count has rows to count.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import statistics
import sys
import time
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
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import docs  # noqa: E402

SECTION = "## Gallery and review queue"
SUBJECTS = [
    "lighthouse",
    "paper crane",
    "red kite",
    "fox",
    "harbour",
    "forest",
    "city",
    "teapot",
    "astronaut",
    "violin",
    "orchard",
    "glacier",
    "market",
    "robot",
    "owl",
    "bridge",
]
SETTINGS_ = [
    "at dusk",
    "in fog",
    "at noon",
    "in the snow",
    "under neon",
    "by candlelight",
    "after rain",
    "at golden hour",
    "underwater",
    "in a desert",
]
STYLES = ["oil painting", "woodcut", "watercolour", "35mm photo", "isometric render",
          "pencil sketch", "poster", "linocut", "pixel art", "cinematic still"]  # fmt: skip
# state -> share of generations (the rest are delivered)
STATES = {
    "in_review": 0.02,
    "rejected": 0.10,
    "changes_requested": 0.04,
    "cancelled": 0.04,
    "final_failed": 0.01,
    "preview_failed": 0.02,
    "delivered_fallback": 0.02,
    "preview_queued": 0.002,
    "final_queued": 0.003,
}
MODELS = ["nano-banana-pro", "nano-banana-2", "nano-banana-pro", "local"]
# A word in one prompt of ~2,000: the search a person makes for one picture they remember,
# where a scan reads every visible prompt to find a page of cards.
RARE_WORD = "zeppelin"
RARE_SHARE = 0.0005
TRIGRAM_INDEX = "submission_prompt_trgm_idx"  # migration 0017_prompt_trigram


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40, help="timed requests per page")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    args = parser.parse_args()

    # What setup_test_environment() would do for the test client, minus its template
    # instrumentation (a signal per template rendered), which would be timed too.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    db = connection.settings_dict
    vendor = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    bench_name = (
        f"{db['NAME']}_bench" if vendor == "PostgreSQL" else str(settings.VAR_DIR / "bench.sqlite3")
    )
    db["TEST"]["NAME"] = bench_name
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=args.keep)
    try:
        from generations.models import Generation

        if Generation.objects.count() != args.generations:
            started = time.monotonic()
            seed(args.generations)
            print(f"seeded {args.generations:,} generations in {time.monotonic() - started:.0f} s")
        else:
            print(f"reusing {args.generations:,} generations in {bench_name}")
        if vendor == "PostgreSQL":
            # As autovacuum leaves a live table: statistics, and the visibility map that
            # lets an index-only scan skip the heap (the queue's count).
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        rows = measure(args.runs, explain=args.explain)
        table = report(rows, vendor=vendor, generations=args.generations, runs=args.runs)
        print()
        print(table)
        if args.write:
            docs.write_section(SECTION, table)
            print("\nwritten to docs/benchmarks.md")
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(bench_name, verbosity=0)


def seed(total: int) -> None:
    from django.contrib.auth import get_user_model

    from generations.models import (
        Comment,
        Generation,
        Image,
        Membership,
        Notification,
        Project,
        Role,
        Submission,
    )

    rng = random.Random(20260101)  # noqa: S311 - reproducible data, not secrets
    for model in (Notification, Comment, Image, Generation, Submission, Membership, Project):
        model.objects.all().delete()
    users = get_user_model()
    users.objects.all().delete()
    projects = [
        Project.objects.create(name=name, slug=name.lower().replace(" ", "-"))
        for name in ("Acme Launch", "Northwind Catalogue", "Blue Harbour")
    ]
    designers = [users.objects.create(username=f"designer{n:02d}") for n in range(24)]
    reviewers = [users.objects.create(username=f"reviewer{n}") for n in range(4)]
    memberships = [
        Membership(project=projects[n % 3], user=user, role=Role.DESIGNER)
        for n, user in enumerate(designers)
    ]
    memberships += [
        Membership(project=project, user=user, role=Role.REVIEWER)
        for user in reviewers
        for project in projects
    ]
    Membership.objects.bulk_create(memberships)

    now = timezone.now()
    year = 365 * 24 * 3600
    cumulative, acc = [], 0.0
    for state, share in STATES.items():
        acc += share
        cumulative.append((acc, state))

    def pick_state() -> str:
        roll = rng.random()
        return next((state for edge, state in cumulative if roll < edge), "delivered")

    made = 0
    batch = 4000
    while made < total:
        plan = []
        while made < total and len(plan) < batch:
            variants = min(rng.choice((1, 2, 2, 3, 4)), total - made)
            designer = rng.choice(designers)
            project = projects[designers.index(designer) % 3]
            created = now - dt.timedelta(seconds=rng.uniform(0, year))
            prompt = f"a {rng.choice(SUBJECTS)} {rng.choice(SETTINGS_)}, {rng.choice(STYLES)}"
            if rng.random() < RARE_SHARE:
                prompt += f", {RARE_WORD} in the sky"
            plan.append((project, designer, prompt, variants, created))
            made += variants
        submissions = Submission.objects.bulk_create(
            Submission(
                project=project,
                created_by=designer,
                prompt=prompt,
                model_key=rng.choice(MODELS),
                aspect_ratio="1:1",
                preview_size="1K",
                final_size="4K",
                variants=variants,
            )
            for project, designer, prompt, variants, created in plan
        )
        generations = Generation.objects.bulk_create(
            Generation(
                submission=submission,
                project=project,
                variant=n,
                seed=rng.randrange(2**31),
                state=pick_state(),
                state_changed_at=created,
                created_at=created,
                attempt_count=1,
            )
            for submission, (project, _, _, variants, created) in zip(
                submissions, plan, strict=True
            )
            for n in range(1, variants + 1)
        )
        images = []
        for generation in generations:
            if generation.state in {"preview_queued", "preview_failed", "cancelled"}:
                continue
            phases = ["preview"]
            if generation.state in {"delivered", "delivered_fallback"}:
                phases.append("final")
            for phase in phases:
                edge = 1024 if phase == "preview" else 4096
                stem = f"bench/p{generation.project_id}/g{generation.pk}/{phase}"
                images.append(
                    Image(
                        generation=generation,
                        phase=phase,
                        original=f"{stem}.png",
                        thumbnail=f"{stem}-thumbnail.webp",
                        screen=f"{stem}-screen.webp",
                        sha256="0" * 64,
                        mime_type="image/png",
                        width=edge,
                        height=edge,
                        byte_size=edge * edge,
                        bytes_per_pixel=1.0,
                    )
                )
        Image.objects.bulk_create(images)
        print(f"  {made:,} / {total:,}", end="\r", flush=True)
    print()

    waiting = list(
        Generation.objects.filter(state="in_review").values_list("pk", "submission__created_by")
    )
    previews = dict(
        Image.objects.filter(generation__state="in_review", phase="preview").values_list(
            "generation_id", "pk"
        )
    )
    Comment.objects.bulk_create(
        Comment(
            generation_id=pk,
            author=rng.choice(reviewers),
            body="look at this corner",
            image_id=previews[pk],
            pin_x=rng.random(),
            pin_y=rng.random(),
            created_at=now,
        )
        for pk, _ in waiting[::7]
        if pk in previews
    )
    Notification.objects.bulk_create(
        Notification(
            recipient=reviewer,
            kind="review_requested",
            generation_id=pk,
            text=f"#{pk} awaits review",
            created_at=now,
            read_at=None if rng.random() < 0.3 else now,
        )
        for pk, _ in waiting
        for reviewer in reviewers[:1]
    )


def measure(runs: int, *, explain: bool) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model

    from generations.models import Generation
    from generations.paging import Cursor

    reviewer = get_user_model().objects.get(username="reviewer0")
    client = Client(raise_request_exception=True)
    client.force_login(reviewer)

    everything = Generation.objects.order_by("-created_at", "-pk")
    total = everything.count()
    deep = everything[total // 2]
    waiting = Generation.objects.filter(state="in_review").order_by("created_at", "pk")
    queue_deep = waiting[waiting.count() // 2]
    designer = Generation.objects.filter(
        state="in_review", project__slug="acme-launch"
    ).values_list("submission__created_by__username", flat=True)[0]
    today = timezone.localdate()
    month = f"date_from={today - dt.timedelta(days=30)}&date_to={today}"
    pages: list[tuple[str, str]] = [
        ("gallery, first page", "/gallery/"),
        (f"gallery, page ~{total // 2 // 24:,} (keyset)",
         f"/gallery/?after={Cursor.of(deep).encode()}"),
        ("gallery, state + model filter", "/gallery/?state=delivered&model=nano-banana-2"),
        ("gallery, prompt search", "/gallery/?q=lighthouse+fog"),
        ("gallery, rare-word search", f"/gallery/?q={RARE_WORD}"),
        ("gallery, search with no match", "/gallery/?q=unicorn"),
        ("gallery, search + designer + project",
         f"/gallery/?q=fox&designer={designer}&project=acme-launch"),
        ("gallery, last 30 days", f"/gallery/?{month}"),
        ("review queue, first page", "/review/"),
        ("review queue, one designer", f"/review/?designer={designer}"),
        ("review queue, middle (keyset)", f"/review/?after={Cursor.of(queue_deep).encode()}"),
    ]  # fmt: skip
    rows = [time_page(client, label, url, runs, explain=explain) for label, url in pages]
    if connection.vendor == "postgresql":
        rows += baselines(client, pages, runs)
    return rows


# What the indexes (migrations 0017 and 0024) buy, measured in the same run: each
# baseline puts the database back as it was without them, in a transaction rolled back
# afterwards, and times the pages it concerns again.
BASELINES: list[tuple[str, list[str], str]] = [
    ("no trigram index", [f"DROP INDEX {TRIGRAM_INDEX}"], "/gallery/?q="),
    (
        "the expression's default statistics sample",
        [f"ALTER INDEX {TRIGRAM_INDEX} ALTER COLUMN 1 SET STATISTICS -1",
         "ANALYZE generations_submission"],
        f"/gallery/?q={RARE_WORD}",
    ),
    (
        "0005's queue index, without the project",
        ["DROP INDEX gen_review_queue_idx",
         "CREATE INDEX gen_review_queue_idx ON generations_generation (created_at, id) "
         "WHERE state = 'in_review'"],
        "/review/",
    ),
]  # fmt: skip


def baselines(client: Client, pages: list[tuple[str, str]], runs: int) -> list[dict[str, Any]]:
    from django.db import transaction

    class Rollback(Exception):
        pass

    rows: list[dict[str, Any]] = []
    for name, statements, prefix in BASELINES:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    for statement in statements:
                        cursor.execute(statement)
                for label, url in pages:
                    if url.startswith(prefix):
                        rows.append(time_page(client, f"{label} (baseline: {name})", url, runs))
                raise Rollback
        except Rollback:
            pass
    return rows


def time_page(
    client: Client, label: str, url: str, runs: int, *, explain: bool = False
) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    cards = len(re.findall(rb'<article id="gen-', response.content))
    for _ in range(2):
        client.get(url)  # warm up (the first request also fills the health figures' cache)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    captured = list(queries.captured_queries)  # read now: the next request resets the log
    times, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    row = {
        "page": label,
        "url": url,
        "cards": cards,
        "queries": len(captured),
        "sql": sum(float(query["time"]) for query in captured) * 1000,
        "p50": statistics.median(times),
        "p95": times[max(0, round(0.95 * len(times)) - 1)],
        "cpu": statistics.median(cpu),
        "plan": _plan(captured, url),
    }
    print(f"  {label:<42} p50 {row['p50']:7.1f} ms  p95 {row['p95']:7.1f} ms  "
          f"{row['queries']} queries, {cards} cards")  # fmt: skip
    if explain and connection.vendor == "postgresql":
        slowest = max(captured, key=lambda q: float(q["time"]))
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN ANALYZE " + slowest["sql"])
            print("\n".join(line[0] for line in cursor.fetchall()))
    return row


SCAN = re.compile(
    r"((?:Parallel )?(?:Index Only Scan|Index Scan|Bitmap Heap Scan|Seq Scan|Bitmap Index Scan))"
    r"(?: Backward)? (?:using (\w+) )?on (\w+)"
)


def _plan(captured: list[dict[str, str]], url: str) -> str:
    """How PostgreSQL reads the query a page turns on (a search: the page's query, which
    matches the prompt; the review queue: its count), from EXPLAIN ANALYZE: its scan
    nodes and execution time. "" for other pages and on SQLite."""
    marker = "LIKE" if "q=" in url else "COUNT(*)" if url.startswith("/review/") else None
    found = [q["sql"] for q in captured if marker and marker in q["sql"]]
    if connection.vendor != "postgresql" or not found:
        return ""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + found[0])
        plan = [line[0] for line in cursor.fetchall()]
    scans = []
    for line in plan:
        if match := SCAN.search(line):
            kind, index, table = match.groups()
            if kind.endswith("Bitmap Index Scan"):  # "on" names the index
                scans.append(f"{kind} {table}")
            elif table in ("generations_generation", "generations_submission"):
                scans.append(f"{kind}{f' {index}' if index else ''} on {table[12:]}")
    heap = next((line.strip() for line in plan if "Heap Fetches" in line), "")
    took = next((line for line in plan if line.startswith("Execution Time")), "")
    return "; ".join(dict.fromkeys(scans)) + (f" ({heap})" if heap else "") + f" — {took}"


def report(rows: list[dict[str, Any]], *, vendor: str, generations: int, runs: int) -> str:
    command = (
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio "
        if vendor == "PostgreSQL"
        else ""
    )
    lines = [
        SECTION,
        "",
        f"{generations:,} generations on {vendor} ({connection.vendor} "
        f"{connection.Database.sqlite_version if vendor == 'SQLite' else ''}"
        f"{connection.pg_version // 10000 if vendor == 'PostgreSQL' else ''}), "
        f"measured {timezone.localdate():%Y-%m-%d} through Django's test client (the whole "
        f"request: session, permissions, selectors, templates), signed in as a reviewer of "
        f"all 3 projects; {runs} timed requests per page after 3 untimed ones. Host: "
        f"{os.cpu_count()} vCPU, Python {sys.version.split()[0]}, load average "
        f"{os.getloadavg()[0]:.1f} while measuring (shared with other test runs).",
        "",
        "```",
        f"{command}.venv/bin/python bench/gallery.py "
        f"--generations {generations} --runs {runs} --write",
        "```",
        "",
        "| page | p50 ms | p95 ms | CPU ms | queries | SQL ms | cards |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    lines += [
        f"| {r['page']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['cpu']:.1f} | {r['queries']} "
        f"| {r['sql']:.1f} "
        f"| {r['cards']} |"
        for r in rows
    ]
    plans = [f"- {r['page']}: {r['plan']}" for r in rows if r["plan"]]
    if plans:
        lines += ["", "How PostgreSQL reads the query a search turns on (the page of "
                  "generations whose prompt matches) and the queue's count, from EXPLAIN "
                  "(ANALYZE, BUFFERS) in the same run:", "", *plans]  # fmt: skip
    lines += [
        "",
        "SQL ms is the database's share of one warm request (the sum of its queries' times); "
        "CPU ms is the web process's own CPU per request (median), what a request costs when "
        "it does not wait for a core: on a shared host read it with SQL ms next to the wall-"
        "clock p50/p95. The rest is Python: mostly rendering 20–24 cards. Every page costs "
        "the same handful of queries at any depth: keyset pagination on (created_at, id) — no"
        " OFFSET, no COUNT over the gallery — served by the indexes of migration "
        "`0005_review_workflow` (`gen_recent_idx`, `gen_state_recent_idx`, and the partial "
        "`gen_review_queue_idx` on what waits for review). The queue also counts what waits: "
        "since `0024_page_speed` that index carries the project (INCLUDE), so the count is an "
        "index-only scan of the rows in review. Prompt search is `icontains` per word; on "
        "PostgreSQL migration `0017_prompt_trigram` puts a pg_trgm GIN index on "
        "`UPPER(prompt::text)`, the expression Django's `icontains` compares "
        "(`UPPER(prompt::text) LIKE UPPER('%word%')`), so a rare word or a word that matches "
        "nothing is found through the index instead of a scan of every visible prompt, while "
        "a common word still walks the recency index (the planner's choice, from the "
        "statistics). `0024_page_speed` gives that expression a 1,000-entry statistics "
        "sample: with the default 100, a word in one prompt of 2,000 can be estimated at 1 %, "
        "and the planner then walks the recency index through half the gallery to fill a page."
        " The *baseline* rows are the same requests in the same run with the database as it "
        "was without each index or setting (in a transaction rolled back afterwards). The "
        "database is VACUUM ANALYZEd after seeding, as autovacuum leaves a live table.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
