"""Spend reports over a big ledger: build ~1,000,000 ledger rows on PostgreSQL (INSERT …
SELECT over generate_series: seconds, not an ORM loop), recount the daily roll-ups
(generations.spend.rollups), and time the spend report and the savings report — the selectors
the pages call (from the roll-ups, and from the ledger itself as the baseline measured in
the same run), and the whole page through Django's test client — printing median and
p95, cold and warm, the ratio, and what EXPLAIN says.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio \
        .venv/bin/python bench/spend_report.py

It builds its own database next to the configured one (`<name>_bench_spend`), migrates it,
seeds, measures, and drops it (`--keep` keeps it, and a later `--keep` run reuses the
rows; the migration that adds the roll-ups backfills them, and its time is printed).
`--write` puts the table into docs/benchmarks.md under "## Spend reports".

What is seeded (reproducible: setseed): 20 projects, 100 people (5 per project), one
generation per submission spread uniformly over the last 365 days, 4 models (Nano Banana
Pro 40 %, Nano Banana 2 35 %, Nano Banana 15 %, local 10 %; a tenth of Pro simulated),
1K/2K/512 previews, ~40 % approved to a 4K final that fails 0–2 times first (each failure
billed: waste), 5 % of previews failed (billed), a tenth of the work on the batch lane,
0.5 % of charges refunded. One Attempt row per charge, as the worker writes them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import docs  # noqa: E402

SECTION = "## Spend reports"
# Ledger rows per generation on average (1 preview + 38 % × (0.75 failures + ~0.95 final)
# on the models that escalate, + 0.5 % refunds).
ROWS_PER_GENERATION = 1.6
TARGET_MS = 200  # issue 19: spend reports ≤ 200 ms at 10M ledger rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger rows (about)")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per report")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--explain", action="store_true", help="print the full query plans")
    parser.add_argument(
        "--baseline-runs",
        type=int,
        default=0,
        help="timed runs of each report read from the ledger (default: a third of --runs, "
        "at least 3); at 10M rows one such run of the savings report takes tens of seconds",
    )
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="seed, recount the roll-ups and VACUUM ANALYZE, then stop (implies --keep): "
        "the long part, which need not hold the bench lock",
    )
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="reusing rows, trust the roll-ups (a --prepare-only run has just rebuilt them) "
        "instead of recounting them (minutes at 10M rows)",
    )
    args = parser.parse_args()
    args.keep = args.keep or args.prepare_only
    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL (DATABASE_URL=postgres://…).")

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    db = connection.settings_dict
    bench_name = f"{db['NAME']}_bench_spend"
    db["TEST"]["NAME"] = bench_name
    started = time.monotonic()
    connection.creation.create_test_db(
        verbosity=0, autoclobber=True, keepdb=args.keep, serialize=False
    )
    print(f"database ready (migrations included) in {time.monotonic() - started:.1f} s")
    try:
        from generations.models import LedgerEntry
        from generations.spend import rollups

        have = LedgerEntry.objects.count()
        seeded = abs(have - args.rows) > args.rows * 0.05
        if seeded:
            started = time.monotonic()
            seed(args.rows)
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")  # the recount below reads the new rows
            print(f"seeded in {time.monotonic() - started:.0f} s")
        else:
            print(f"reusing {have:,} ledger rows in {bench_name}")
        # The seed writes with raw SQL, behind the roll-ups' back: recount them, as
        # `manage.py spend_rollup_check --rebuild` would (and time it: the backfill's cost).
        # Just seeded, they are certainly off: rebuild without checking first.
        started = time.monotonic()
        if args.no_check and not seeded:
            drift = rollups.Drift()  # trusted: nothing to repair
        else:
            drift = None if seeded else rollups.rollups_check()
        checked = time.monotonic() - started
        if drift is None or not drift.clean:
            started = time.monotonic()
            rollups.rollups_rebuild()
            print(f"roll-ups rebuilt in {time.monotonic() - started:.1f} s")
        if args.no_check and not seeded:
            print("roll-ups trusted (--no-check), not recounted")
        elif drift is not None:
            print(f"roll-ups checked in {checked:.1f} s ({'clean' if drift.clean else drift})")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # visibility map: index-only scans
        if args.prepare_only:
            print(f"prepared {bench_name}; measure with --keep")
            return
        baseline_runs = args.baseline_runs or max(3, args.runs // 3)
        rows = measure(args.runs, explain=args.explain, baseline_runs=baseline_runs)
        table = report(rows, runs=args.runs, seeded=args.rows, baseline_runs=baseline_runs)
        print()
        print(table)
        if args.write:
            docs.write_section(SECTION, table)
            print("\nwritten to docs/benchmarks.md")
    finally:
        if not args.keep:
            connection.close()
            connection.creation.destroy_test_db(bench_name, verbosity=0)


def seed(rows: int) -> None:
    from django.contrib.auth import get_user_model

    from generations.models import Membership, Project, Role

    generations = int(rows / ROWS_PER_GENERATION)
    users = get_user_model()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE generations_ledgerentry, generations_attempt, generations_generation, "
            "generations_submission, generations_membership, generations_project CASCADE"
        )
    users.objects.all().delete()
    projects = Project.objects.bulk_create(
        Project(name=f"Project {n:02d}", slug=f"project-{n:02d}") for n in range(20)
    )
    people = users.objects.bulk_create(users(username=f"person{n:03d}") for n in range(100))
    users.objects.create(username="bench-staff", is_staff=True)
    admin = users.objects.create(username="bench-admin")
    Membership.objects.bulk_create(
        [
            Membership(project=projects[n % 20], user=u, role=Role.DESIGNER)
            for n, u in enumerate(people)
        ]
        + [Membership(project=projects[0], user=admin, role=Role.ADMIN)]
    )
    project_ids = "ARRAY[" + ",".join(str(p.pk) for p in projects) + "]"
    user_ids = "ARRAY[" + ",".join(str(u.pk) for u in people) + "]"
    steps = [
        ("plan", "SELECT setseed(0.2026)"),
        (
            "plan",
            f"""
CREATE TEMP TABLE bench_plan AS
SELECT g AS n,
       ({user_ids})[1 + g % 100] AS user_id,
       ({project_ids})[1 + (g % 100) % 20] AS project_id,
       CASE WHEN m < 0.40 THEN 'nano-banana-pro' WHEN m < 0.75 THEN 'nano-banana-2'
            WHEN m < 0.90 THEN 'nano-banana' ELSE 'local' END AS model_key,
       now() - random() * interval '365 days' AS created_at,
       random() AS r_state, random() AS r_size, random() AS r_fail1, random() AS r_fail2,
       random() < 0.10 AS batch, random() < 0.10 AS sim
FROM (SELECT g, random() AS m FROM generate_series(1, {generations}) g) s""",  # noqa: S608 - our ids
        ),
        (
            "plan",
            """
CREATE TEMP TABLE bench_gen AS
SELECT n, user_id, project_id, model_key, created_at,
       CASE WHEN model_key = 'nano-banana-2' AND r_size < 0.2 THEN '512'
            WHEN model_key IN ('nano-banana-pro', 'nano-banana-2') AND r_size > 0.6 THEN '2K'
            ELSE '1K' END AS preview_size,
       CASE WHEN model_key = 'nano-banana' THEN '1K' ELSE '4K' END AS final_size,
       CASE WHEN model_key = 'nano-banana' THEN r_state * 0.6 + 0.4 ELSE r_state END AS r_state,
       (r_fail1 < 0.5)::int + (r_fail2 < 0.25)::int AS final_fails,
       CASE WHEN batch THEN 'batch' ELSE 'standard' END AS lane,
       sim AND model_key = 'nano-banana-pro' AS simulated
FROM bench_plan""",
        ),
        (
            "plan",
            """
ALTER TABLE bench_gen ADD COLUMN state text;
UPDATE bench_gen SET state = CASE
  WHEN r_state < 0.36 THEN 'delivered' WHEN r_state < 0.38 THEN 'delivered_fallback'
  WHEN r_state < 0.40 THEN 'final_failed' WHEN r_state < 0.75 THEN 'rejected'
  WHEN r_state < 0.85 THEN 'in_review' WHEN r_state < 0.90 THEN 'cancelled'
  WHEN r_state < 0.95 THEN 'changes_requested' ELSE 'preview_failed' END""",
        ),
        (
            "submissions",
            """
INSERT INTO generations_submission (id, project_id, created_by_id, prompt, model_key,
    final_model_key, aspect_ratio, preview_size, final_size, variants, created_at)
SELECT n, project_id, user_id, 'bench prompt ' || n, model_key, '', '1:1', preview_size,
       final_size, 1, created_at
FROM bench_gen ORDER BY n""",
        ),
        (
            "generations",
            """
INSERT INTO generations_generation (id, submission_id, project_id, variant, seed, state,
    version, state_changed_at, created_at, attempt_count, tries_used, waiting_reason,
    last_error, escalation_strategy, final_lane)
SELECT n, n, project_id, 1, n, state, 1, created_at, created_at, 1, 1, '', '', '', lane
FROM bench_gen ORDER BY n""",
        ),
        (
            "attempts",
            """
INSERT INTO generations_attempt (generation_id, number, phase, size, provider, model_id,
    model_key, lease_token, worker, started_at, finished_at, outcome, error_kind,
    error_message, provider_meta, strategy, input_images, lane)
SELECT n, 1, 'preview', preview_size,
       CASE WHEN simulated OR model_key = 'local' THEN 'local' ELSE 'gemini' END, model_key,
       model_key, gen_random_uuid(), 'bench', created_at, created_at + interval '40 s',
       CASE WHEN state = 'preview_failed' THEN 'failed' ELSE 'succeeded' END, '', '', '{}'::jsonb,
       '', 0, lane
FROM bench_gen
UNION ALL
SELECT n, 1 + k, 'final', final_size,
       CASE WHEN simulated OR model_key = 'local' THEN 'local' ELSE 'gemini' END, model_key,
       model_key, gen_random_uuid(), 'bench', created_at + k * interval '20 min',
       created_at + k * interval '20 min' + interval '5 min',
       CASE WHEN k <= final_fails OR state = 'final_failed' THEN 'failed'
            ELSE 'succeeded' END, '', '', '{}'::jsonb, '', 0, lane
FROM bench_gen, generate_series(1, 3) k
WHERE state IN ('delivered', 'delivered_fallback', 'final_failed')
  AND model_key <> 'nano-banana' AND k <= final_fails + 1""",
        ),
        (
            "ledger",
            """
INSERT INTO generations_ledgerentry (kind, project_id, user_id, generation_id, attempt_id,
    phase, model_key, provider, size, lane, unit_price, price_entry_id, amount_usd, waste,
    simulated, reason, created_at)
SELECT 'charge', g.project_id, g.user_id, g.n, a.id, a.phase, g.model_key,
       a.provider, a.size, g.lane, p.usd_per_image, p.id, p.usd_per_image,
       a.outcome = 'failed', g.simulated, '', a.finished_at
FROM generations_attempt a
JOIN bench_gen g ON g.n = a.generation_id
JOIN generations_priceentry p
  ON p.model_key = g.model_key AND p.size = a.size AND p.lane = g.lane
ORDER BY a.finished_at""",
        ),
        (
            "ledger",
            """
INSERT INTO generations_ledgerentry (kind, project_id, user_id, generation_id, phase,
    model_key, provider, size, lane, unit_price, amount_usd, waste, simulated, reason,
    corrects_id, created_at)
SELECT 'refund', project_id, user_id, generation_id, phase, model_key, provider, size, lane,
       unit_price, -amount_usd, waste, simulated, 'provider outage credit', id,
       created_at + interval '2 days'
FROM generations_ledgerentry
WHERE kind = 'charge' AND amount_usd > 0 AND random() < 0.005
  AND created_at < now() - interval '2 days'""",
        ),
        ("plan", "DROP TABLE bench_plan; DROP TABLE bench_gen"),
        *(
            (table, f"ALTER TABLE {table} ALTER COLUMN id RESTART WITH {{}}")
            for table in ("generations_submission", "generations_generation")
        ),
    ]
    with _bulk_load(SEEDED):
        for label, sql in steps:
            started = time.monotonic()
            with connection.cursor() as cursor:
                if "RESTART WITH {}" in sql:  # ids were given: the identity goes on from them
                    cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {label}")  # noqa: S608
                    sql = sql.format(cursor.fetchone()[0])
                cursor.execute(sql)
                count = cursor.rowcount
            print(f"  {label:<12} {count:>10,} rows  {time.monotonic() - started:6.1f} s")


SEEDED: Final = (
    "generations_submission",
    "generations_generation",
    "generations_attempt",
    "generations_ledgerentry",
)


@contextlib.contextmanager
def _bulk_load(tables: tuple[str, ...]) -> Iterator[None]:
    """Load without maintaining the tables' secondary indexes or checking their foreign
    keys row by row (the seed's ids are consistent by construction): the indexes are
    dropped and built again afterwards, sorted in one pass, as a restore does. At 10M
    ledger rows the row-by-row load took over an hour on a shared 2-core host."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND "
            "indexname NOT IN (SELECT conname FROM pg_constraint)",
            [list(tables)],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET session_replication_role = replica")  # no FK triggers
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
            cursor.execute("SET maintenance_work_mem = '512MB'")
            started = time.monotonic()
            for _, definition in indexes:
                cursor.execute(definition)
            cursor.execute("RESET maintenance_work_mem")
        print(f"  indexes      {len(indexes):>10,} built  {time.monotonic() - started:6.1f} s")


def _timed(call: Callable[[], Any], runs: int, *, cold: bool = True) -> dict[str, float]:
    # Cold: the first call on a fresh connection (new backend: empty catalog caches and
    # plan caches; the table pages may still be in PostgreSQL's and the OS's cache).
    first = float("nan")
    if cold:
        connection.close()
        started = time.perf_counter()
        call()
        first = (time.perf_counter() - started) * 1000
    else:
        call()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "cold": first,
        "p50": statistics.median(times),
        "p95": times[max(0, round(0.95 * len(times)) - 1)],
    }


def measure(runs: int, *, explain: bool, baseline_runs: int) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model
    from django.test.utils import CaptureQueriesContext

    from generations.models import (
        LedgerEntry,
        Project,
        SavingsRollup,
        SpendPersonRollup,
        SpendRollup,
    )
    from generations.spend import reports, rollups
    from generations.spend.reports import ReportFilter

    staff = get_user_model().objects.get(username="bench-staff")
    admin = get_user_model().objects.get(username="bench-admin")
    total = LedgerEntry.objects.count()
    print(f"{total:,} ledger rows")
    project = Project.objects.get(slug="project-00")
    today = timezone.localdate()
    tomorrow = today + dt.timedelta(days=1)
    ranges = [
        ("last 30 days, all projects (default)", staff,
         ReportFilter(tomorrow - dt.timedelta(days=30), tomorrow, None, "day")),
        ("last 30 days, project admin (1 project)", admin,
         ReportFilter(tomorrow - dt.timedelta(days=30), tomorrow, None, "day")),
        ("last 90 days by week, all projects", staff,
         ReportFilter(tomorrow - dt.timedelta(days=90), tomorrow, None, "week")),
        ("12 months by month, one project", staff,
         ReportFilter(tomorrow - dt.timedelta(days=366), tomorrow, project, "month")),
        ("12 months by month, all projects", staff,
         ReportFilter(tomorrow - dt.timedelta(days=366), tomorrow, None, "month")),
    ]  # fmt: skip

    def spend(user: Any, filters: ReportFilter, from_ledger: bool = False) -> None:
        reports.spend_report(user=user, filters=filters, from_ledger=from_ledger)

    def savings(user: Any, filters: ReportFilter, from_ledger: bool = False) -> None:
        reports.savings_report(user=user, filters=filters, from_ledger=from_ledger)

    assert rollups.rollups_ready(), "the roll-ups must hold this zone's days"
    client = Client(raise_request_exception=True)
    rows = []
    for label, user, filters in ranges:
        in_range = reports.ledger_in_scope(user=user, filters=filters).count()
        rolled = {
            "spend": sum(
                reports._rollups_in_scope(model, user=user, filters=filters).count()
                for model in (SpendRollup, SpendPersonRollup)
            ),
            "savings": reports._rollups_in_scope(SavingsRollup, user=user, filters=filters).count(),
        }
        client.force_login(user)
        query = f"date_from={filters.date_from}&date_to={filters.date_to}&grain={filters.grain}"
        if filters.project is not None:
            query += f"&project={filters.project.slug}"
        for report_name, call, url in (
            ("spend", spend, f"/spend/?{query}"),
            ("savings", savings, f"/spend/savings/?{query}"),
        ):
            with CaptureQueriesContext(connection) as queries:
                call(user, filters)
            captured = list(queries.captured_queries)
            timed_call = functools.partial(call, user, filters)
            # Baseline, same run: the same report read from the ledger itself.
            baseline = _timed(functools.partial(call, user, filters, True), baseline_runs)
            selector = _timed(timed_call, runs)
            page = _timed(lambda u=url: _get(client, u), max(3, runs // 3))
            slowest = max(captured, key=lambda q: float(q["time"]))
            notes = _plan_notes(slowest["sql"], full=explain)
            rows.append(
                {"range": label, "report": report_name, "rows": in_range,
                 "rolled": rolled[report_name], "queries": len(captured), "selector": selector,
                 "page": page, "plan": notes, "baseline": baseline}
            )  # fmt: skip
            print(f"  {label:<42} {report_name:<8} {in_range:>9,} rows "
                  f"{rolled[report_name]:>7,} rolled  "
                  f"cold {selector['cold']:7.1f}  p50 {selector['p50']:7.1f}  "
                  f"p95 {selector['p95']:7.1f} ms  from the ledger p50 {baseline['p50']:7.1f} ms "
                  f"({baseline['p50'] / selector['p50']:.1f}×)  page p50 {page['p50']:7.1f} ms  "
                  f"{len(captured)} queries | slowest: {notes}")  # fmt: skip
    return rows


def _get(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)


SCAN = re.compile(
    r"((?:Parallel )?(?:Index Only Scan|Index Scan|Bitmap Heap Scan|Seq Scan|Bitmap Index Scan))"
    r" (?:using (\w+) )?on (\w+)"
)


def _plan_notes(sql: str, *, full: bool) -> str:
    """The access path of a query, from EXPLAIN ANALYZE: the scan nodes and their rows."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = [row[0] for row in cursor.fetchall()]
    if full:
        print("\n".join(plan))
    scans = []
    for line in plan:
        found = SCAN.search(line)
        if found:
            kind, index, table = found.groups()
            table = table.removeprefix("generations_")
            scans.append(f"{kind}{f' {index}' if index else ''} on {table}")
    heap = next((line.strip() for line in plan if "Heap Fetches" in line), "")
    total = next((line.strip() for line in plan if line.startswith("Execution Time")), "")
    return "; ".join(dict.fromkeys(scans)) + (f" ({heap})" if heap else "") + f" — {total}"


def report(rows: list[dict[str, Any]], *, runs: int, seeded: int, baseline_runs: int) -> str:
    lines = [
        SECTION,
        "",
        f"{rows and rows[0]['rows'] and ''}Ledger of "
        f"{_total():,} rows on PostgreSQL {connection.pg_version // 10000}, measured "
        f"{timezone.localdate():%Y-%m-%d}. *Selector* = the report's queries as the page calls "
        f"them ({runs} runs after a cold one on a fresh connection); *page* = the whole "
        f"request through Django's test client, rendering included. Host: {os.cpu_count()} "
        f"vCPU, Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} while "
        f"measuring (shared with other test runs). Target: ≤ {TARGET_MS} ms.",
        "",
        "```",
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio "
        f".venv/bin/python bench/spend_report.py --rows {seeded} --runs {runs} "
        f"--baseline-runs {baseline_runs} --write",
        "```",
        "",
        "| range | report | ledger rows in range | roll-up rows read | queries | cold ms "
        "| p50 ms | p95 ms | page p50 ms | page p95 ms | p50 from the ledger | speed-up |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s, p, b = r["selector"], r["page"], r["baseline"]
        lines.append(
            f"| {r['range']} | {r['report']} | {r['rows']:,} | {r['rolled']:,} | {r['queries']} "
            f"| {s['cold']:.0f} | {s['p50']:.0f} | {s['p95']:.0f} | {p['p50']:.0f} "
            f"| {p['p95']:.0f} | {b['p50']:.0f} | {b['p50'] / s['p50']:.0f}× |"
        )
    lines += ["", "Slowest query of each report, from EXPLAIN (ANALYZE, BUFFERS):", ""]
    lines += [f"- {r['range']}, {r['report']}: {r['plan']}" for r in rows]
    lines += ["", *NOTES, ""]
    return "\n".join(lines)


NOTES: Final = (
    "How the reports are read (generations/reports.py, generations/rollups.py, "
    "migrations `0010_spend_rollups` / `0011_backfill_rollups`):",
    "",
    "- Both reports read daily roll-ups kept in the transaction of every ledger insert and "
    "of every move into or out of the approved / delivered states (INSERT … ON CONFLICT DO "
    "UPDATE of increments). Spend: `SpendRollup` (local day × project × model × size × "
    "lane) for the totals, the chart and the model / size / lane tables, and "
    "`SpendPersonRollup` (day × project × person) for the project and person tables. "
    "Savings: `SavingsRollup` (day of first preview × project × designer × model × final "
    "size: previewed / approved / delivered counts and the whole ledger of that work).",
    "- A year is a few hundred thousand roll-up rows at most (here: see *roll-up rows "
    "read*), against a million ledger rows; the time grows with days × projects × models, "
    "not with the ledger.",
    "- Provider health (savings: success and billed-failure rates over the 30 days before "
    "the end) reads `attempt_health_idx` — `(model_key, size, started_at) INCLUDE "
    "(outcome)` on attempts, which now carry their submission's model — instead of joining "
    "the window's attempts to generations and submissions.",
    "- *p50 from the ledger* is the same report with `from_ledger=True`: the direct queries "
    "over the ledger (the path the reports take when the roll-ups hold another time zone's "
    "days), measured in the same run (`--baseline-runs` runs after a cold one).",
)


def _total() -> int:
    from generations.models import LedgerEntry

    return LedgerEntry.objects.count()


if __name__ == "__main__":
    main()
