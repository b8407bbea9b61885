"""Provider health at scale: the page's figures over N attempts (1,000,000 by default) on
PostgreSQL, spread over 40 days in 8 series (4 models × 2 sizes).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ps_health .venv/bin/python bench/health.py

Its own database next to the configured one (`<name>_bench_health`), migrated, the
attempts inserted with one INSERT … SELECT over generate_series (1,000 generations × N/1000
attempts), ANALYZEd, then timed: provider_health for 24 h / 7 d / 30 d (two grouped
queries each: all hours, and by hour with percentile_cont), the approval line (one model ×
size, 7 d), the learned off-peak hours (30 d by hour), and the page through Django's test
client, computed and then from the cache. `--keep` keeps (and reuses) the database.
"""

from __future__ import annotations

import argparse
import os
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

MODELS = ["nano-banana-pro", "nano-banana-2", "gateway-flux", "gateway-sdxl"]


def timed(function: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """(p50 ms, min ms, last result) over `runs` calls after one warm-up."""
    result = function()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times), result


def seed(total: int) -> None:
    from django.contrib.auth import get_user_model

    from generations.models import Attempt, Generation, Project, Submission
    from generations.states import State

    staff = get_user_model().objects.create_user("bench-staff", is_staff=True)
    project = Project.objects.create(name="Bench", slug="bench")
    submission = Submission.objects.create(
        project=project, created_by=staff, prompt="bench", model_key=MODELS[0],
        aspect_ratio="1:1", preview_size="1K", variants=1,
    )  # fmt: skip
    now = timezone.now()
    Generation.objects.bulk_create(
        Generation(
            submission=submission, project=project, variant=i + 1, seed=i,
            state=State.DELIVERED, state_changed_at=now, created_at=now,
        )
        for i in range(1000)
    )  # fmt: skip
    table = Attempt._meta.db_table
    per = total // 1000
    models = "ARRAY[" + ",".join(f"'{m}'" for m in MODELS) + "]"
    # 4K: ~50 % success, 10 % 429s, latency ~ 3–10 min; 1K: ~95 %, 2 % 429s, 15–30 s.
    # Success is better from 01:00 to 07:00 UTC (the hours off-peak learns).
    sql = f"""
    INSERT INTO {table} (generation_id, number, phase, size, provider, model_id, model_key,
        lease_token, worker, started_at, finished_at, outcome, latency_ms, error_kind,
        error_message, provider_meta, strategy, input_images)
    SELECT g.id, n, 'final', s.size, 'gemini', 'bench', s.model_key, gen_random_uuid(), '',
        s.at, s.at, CASE WHEN s.r < s.ok THEN 'succeeded' ELSE 'failed' END,
        CASE WHEN s.r < s.ok THEN s.latency END,
        CASE WHEN s.r < s.ok THEN '' WHEN s.r > 1 - s.limited THEN 'rate_limited'
             ELSE 'server_error' END,
        '', '{{}}'::jsonb, '', 0
    FROM generations_generation g CROSS JOIN generate_series(1, {per}) n
    CROSS JOIN LATERAL (  -- it names g and n, so it is drawn again for every row
        SELECT size, model_key, at, r,
            CASE WHEN size = '4K' THEN
                CASE WHEN extract(hour FROM at AT TIME ZONE 'UTC') BETWEEN 1 AND 6
                     THEN 0.7 ELSE 0.45 END
                ELSE 0.95 END AS ok,
            CASE WHEN size = '4K' THEN 0.10 ELSE 0.02 END AS limited,
            CASE WHEN size = '4K' THEN (180000 + random() * 420000)::int
                 ELSE (15000 + random() * 15000)::int END AS latency
        FROM (SELECT
            CASE WHEN random() < 0.5 THEN '4K' ELSE '1K' END AS size,
            ({models})[1 + floor(random() * 4)::int] AS model_key,
            now() - random() * interval '40 days' + (g.id * 0 + n * 0) * interval '1 s' AS at,
            random() AS r) base
    ) s
    """  # noqa: S608 - constants of this script, no input
    with connection.cursor() as cursor:
        cursor.execute(sql)


def bench(total: int, runs: int, keep: bool) -> list[str]:
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        raise SystemExit("bench/health.py measures PostgreSQL: set DATABASE_URL")
    name = f"{db['NAME']}_bench_health"
    db["TEST"]["NAME"] = name
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=keep)
    try:
        from generations import health, offpeak
        from generations.models import Attempt

        settings.STUDIO_HEALTH_CACHE_SECONDS = 0  # computed every time, then the cached page
        settings.STUDIO_MODELS = {
            key: {"label": key, "provider": "local", "model_id": key} for key in MODELS
        }
        if Attempt.objects.count() != total:
            started = time.monotonic()
            seed(total)
            print(f"seeded {total:,} attempts in {time.monotonic() - started:.0f} s")
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        rows = []
        for window in health.WINDOWS:
            p50, low, report = timed(lambda w=window: health.provider_health(window=w), runs)
            calls = sum(s.overall.calls for s in report.series)
            rows.append((f"provider_health {window} ({calls:,} calls)", p50, low))
        p50, low, figure = timed(
            lambda: health.approval_figure(model_key=MODELS[0], size="4K"), runs
        )
        rows.append(("approval line, one model × size, 7 d", p50, low))
        p50, low, plan = timed(lambda: offpeak.offpeak_plan(model_key=MODELS[0], size="4K"), runs)
        rows.append(("off-peak hours learned (30 d by hour, twice)", p50, low))
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        client = Client()
        from django.contrib.auth import get_user_model

        client.force_login(get_user_model().objects.get(username="bench-staff"))
        p50, low, response = timed(lambda: client.get("/health/?window=30d"), runs)
        assert response.status_code == 200, response.status_code
        rows.append(("the page /health/?window=30d (8 charts), test client", p50, low))
        settings.STUDIO_HEALTH_CACHE_SECONDS = 300
        p50, low, response = timed(lambda: client.get("/health/?window=30d"), runs)
        rows.append(("the same page, figures from the cache", p50, low))
        return [
            f"PostgreSQL: {total:,} attempts over 40 days; {runs} runs; load average "
            f"{os.getloadavg()[0]:.1f}.",
            f"approval line: {figure.text}",
            f"off-peak: {plan.text if plan else 'no hours'}",
            "",
            "| what | p50 ms | min ms |",
            "|---|---:|---:|",
            *(f"| {what} | {p50:.0f} | {low:.0f} |" for what, p50, low in rows),
        ]
    finally:
        if not keep:
            connection.creation.destroy_test_db(name, verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    args = parser.parse_args()
    print("\n".join(bench(args.attempts, args.runs, args.keep)))


if __name__ == "__main__":
    main()
