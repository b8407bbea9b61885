"""The API's generation list at scale: seed N generations (100,000 by default) the way
bench/gallery.py does, plus their attempts and ledger charges (the list shows both), and
time the API calls a program makes — through Django's test client with a bearer token,
the whole stack (middleware, token lookup, permission filters, selectors, pydantic
validation, JSON) — printing p50/p95 and the queries each call costs.

    # PostgreSQL (what production runs):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio .venv/bin/python bench/api.py
    # SQLite (the `make run` default):
    .venv/bin/python bench/api.py --generations 20000

It builds its own database next to the configured one (`<name>_bench_api`, or
var/bench_api.sqlite3), migrates it, bulk-inserts the rows, measures, and drops it again
(`--keep` keeps it, and a later `--keep` run reuses the rows). `--write` puts the table
into docs/benchmarks.md under "## API".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import sys
import time
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
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import docs, gallery  # noqa: E402 - its seed: the same projects, people, generations
from studio.runtime import freeze_loaded_app  # noqa: E402 - what studio/wsgi.py does at start

SECTION = "## API"
PREVIEW_PRICE, FINAL_PRICE = Decimal("0.1340"), Decimal("0.2400")
# Generations in these states have had a final attempt (and its charge).
FINAL_TRIED = {"final_queued", "delivered", "delivered_fallback", "final_failed"}
NO_PREVIEW_YET = {"preview_queued"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40, help="timed requests per call")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument(
        "--no-freeze", action="store_true", help="skip studio.runtime.freeze_loaded_app"
    )
    args = parser.parse_args()

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    db = connection.settings_dict
    vendor = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    bench_name = (
        f"{db['NAME']}_bench_api"
        if vendor == "PostgreSQL"
        else str(settings.VAR_DIR / "bench_api.sqlite3")
    )
    db["TEST"]["NAME"] = bench_name
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=args.keep)
    try:
        from generations.models import Generation

        if Generation.objects.count() != args.generations:
            if Generation.objects.exists():  # kept with another size; ledger rows stay
                sys.exit(f"{bench_name} holds another size: run once without --keep.")
            started = time.monotonic()
            gallery.seed(args.generations)
            seed_attempts()
            print(f"seeded {args.generations:,} generations in {time.monotonic() - started:.0f} s")
        else:
            print(f"reusing {args.generations:,} generations in {bench_name}")
        if vendor == "PostgreSQL":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        # As a web process starts (studio/wsgi.py): the loaded app out of the GC's way.
        # --no-freeze measures without, for the before/after.
        if not args.no_freeze:
            freeze_loaded_app()
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


def seed_attempts() -> None:
    """One preview attempt per generation that has been rendered (and a final attempt for
    those that went on), each succeeded one charged in the ledger. Raw bulk inserts: the
    roll-ups are not kept (the API does not read them)."""
    from generations.models import Attempt, Generation, LedgerEntry

    rows = Generation.objects.exclude(state__in=NO_PREVIEW_YET).values_list(
        "pk", "state", "created_at", "project_id", "submission__created_by_id",
        "submission__model_key",
    ).order_by("pk")  # fmt: skip
    batch: list[tuple[Any, ...]] = []
    done = 0
    for row in rows.iterator(chunk_size=5000):
        batch.append(row)
        if len(batch) == 5000:
            done += _attempts_for(batch, Attempt, LedgerEntry)
            batch = []
            print(f"  attempts for {done:,} generations", end="\r", flush=True)
    done += _attempts_for(batch, Attempt, LedgerEntry)
    print(f"  attempts for {done:,} generations")


def _attempts_for(batch: list[tuple[Any, ...]], Attempt: Any, LedgerEntry: Any) -> int:  # noqa: N803
    attempts = []
    for pk, state, created, _project, _user, model_key in batch:
        failed_preview = state == "preview_failed"
        attempts.append(
            Attempt(
                generation_id=pk, number=1, phase="preview", size="1K", provider="local",
                model_id=model_key, model_key=model_key, started_at=created,
                finished_at=created + dt.timedelta(seconds=20), latency_ms=20000,
                outcome="failed" if failed_preview else "succeeded",
                error_kind="server_error" if failed_preview else "",
            )
        )  # fmt: skip
        if state in FINAL_TRIED:
            started = created + dt.timedelta(hours=2)
            ok = state != "final_failed"
            attempts.append(
                Attempt(
                    generation_id=pk, number=2, phase="final", size="4K", provider="local",
                    model_id=model_key, model_key=model_key, started_at=started,
                    finished_at=started + dt.timedelta(minutes=4), latency_ms=240000,
                    outcome="succeeded" if ok else "failed",
                    error_kind="" if ok else "timeout",
                )
            )  # fmt: skip
    made = Attempt.objects.bulk_create(attempts)
    owners = {pk: (project, user) for pk, _s, _c, project, user, _m in batch}
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            kind="charge", project_id=owners[a.generation_id][0],
            user_id=owners[a.generation_id][1], generation_id=a.generation_id, attempt_id=a.pk,
            phase=a.phase, model_key=a.model_key, provider="local", size=a.size,
            unit_price=PREVIEW_PRICE if a.phase == "preview" else FINAL_PRICE,
            amount_usd=PREVIEW_PRICE if a.phase == "preview" else FINAL_PRICE,
            simulated=True, created_at=a.finished_at,
        )
        for a in made
        if a.outcome == "succeeded"
    )  # fmt: skip
    return len(batch)


def measure(runs: int, *, explain: bool) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model

    from generations import tokens
    from generations.models import Generation
    from generations.paging import Cursor

    reviewer = get_user_model().objects.get(username="reviewer0")  # sees all 3 projects
    _, raw = tokens.token_create(user=reviewer, name="bench", scope="read")
    api_client = Client(raise_request_exception=True, HTTP_AUTHORIZATION=f"Bearer {raw}")

    everything = Generation.objects.order_by("-created_at", "-pk")
    total = everything.count()
    deep = everything[total // 2]
    delivered = Generation.objects.filter(state="delivered").order_by("-created_at", "-pk")[0]
    calls: list[tuple[str, str]] = [
        ("list, first page (50)", "/api/v1/generations"),
        ("list, first page (100, the most)", "/api/v1/generations?limit=100"),
        (f"list, page ~{total // 2 // 50:,} (cursor)",
         f"/api/v1/generations?cursor={Cursor.of(deep).encode()}"),
        ("list, state filter", "/api/v1/generations?state=delivered"),
        ("list, project + state", "/api/v1/generations?project=acme-launch&state=in_review"),
        ("list, prompt search", "/api/v1/generations?q=lighthouse+fog"),
        ("get one (with timeline)", f"/api/v1/generations/{delivered.pk}"),
        # For scale on a shared host: the HTML gallery page (24 cards) measured alongside;
        # its figures on a quiet host are in "Gallery and review queue" above.
        ("reference: gallery page (HTML, 24 cards)", "/gallery/"),
    ]  # fmt: skip
    browser = Client(raise_request_exception=True)
    browser.force_login(reviewer)
    rows = []
    for label, url in calls:
        client = browser if url.startswith("/gallery/") else api_client
        client.get(url)  # the token's last use is written on the first call only
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        captured = list(queries.captured_queries)
        if url.startswith("/gallery/"):
            items = len(re.findall(rb'<article id="gen-', response.content))
        else:
            body = response.json()
            items = len(body["items"]) if "items" in body else 1
        for _ in range(3):
            client.get(url)  # warm up
        times, cpu = [], []
        for _ in range(runs):
            started, started_cpu = time.perf_counter(), time.process_time()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        times.sort()
        rows.append(
            {
                "call": label,
                "url": url,
                "items": items,
                "bytes": len(response.content),
                "queries": len(captured),
                "sql": sum(float(query["time"]) for query in captured) * 1000,
                "p50": statistics.median(times),
                "p95": times[max(0, round(0.95 * len(times)) - 1)],
                "cpu": statistics.median(cpu),
            }
        )
        print(f"  {label:<36} p50 {rows[-1]['p50']:7.1f} ms  p95 {rows[-1]['p95']:7.1f} ms  "
              f"{rows[-1]['queries']} queries, {items} items")  # fmt: skip
        if explain and connection.vendor == "postgresql":
            slowest = max(captured, key=lambda q: float(q["time"]))
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN ANALYZE " + slowest["sql"])
                print("\n".join(row[0] for row in cursor.fetchall()))
    return rows


def report(rows: list[dict[str, Any]], *, vendor: str, generations: int, runs: int) -> str:
    command = (
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio "
        if vendor == "PostgreSQL"
        else ""
    )
    version = (
        f"postgresql {connection.pg_version // 10000}"
        if vendor == "PostgreSQL"
        else f"sqlite {connection.Database.sqlite_version}"
    )
    lines = [
        SECTION,
        "",
        f"`GET /api/v1/generations` over {generations:,} generations on {vendor} ({version}), "
        f"with ~{generations * 19 // 10:,} attempts and their ledger charges, measured "
        f"{timezone.localdate():%Y-%m-%d} through Django's test client with a read token "
        f"(the whole request: middleware, token lookup, permissions, selectors, pydantic "
        f"validation, JSON), as a reviewer of all 3 projects; {runs} timed requests per "
        f"call after 3 warm-ups. Host: {os.cpu_count()} vCPU, Python "
        f"{sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} while measuring. "
        f"Target: p95 ≤ 100 ms for the list.",
        "",
        "```",
        f"{command}.venv/bin/python bench/api.py --generations {generations} --runs {runs} --write",
        "```",
        "",
        "| call | p50 ms | p95 ms | CPU ms | queries | SQL ms | items | KiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['call']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['cpu']:.1f} | {r['queries']} "
        f"| {r['sql']:.1f} "
        f"| {r['items']} | {r['bytes'] / 1024:.0f} |"
        for r in rows
    ]
    lines += [
        "",
        "A list page is six queries at any depth — the token, the keyset page with its "
        "submissions and projects, the images, the references, the attempts, their ledger "
        "rows — on the "
        "gallery's indexes (`gen_recent_idx`, `gen_state_recent_idx`); no OFFSET, no "
        "COUNT. CPU ms is the web process's own CPU per request (median): what a request "
        "costs when it does not wait for a core, so on a host shared with other runs it "
        "with SQL ms (the database's share, one request) is the figure to read next to "
        "the wall-clock p50/p95; the reference row puts the run's load in scale. The "
        "Python time is the ORM building the rows, the items' validation (pydantic) and "
        "the JSON, so it grows with `limit`, not with the table. Prompt search scans the "
        "visible submissions, as the gallery's does.",
        "",
        "The process first does what a web process does at start (`studio/wsgi.py`: "
        "`studio.runtime.freeze_loaded_app`, the loaded app moved out of the cyclic GC's "
        "generations); `--no-freeze` measures without it, for the comparison.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
