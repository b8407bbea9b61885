"""Live cards for 1,000 open cards: one poll per page (views/live.py, static/js/live.js)
against the baseline of one request per card (the per-card hx polling it replaced),
both measured in the same run through Django's test client (middleware, session,
permission filters, selectors, templates).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio .venv/bin/python bench/live.py
    .venv/bin/python bench/live.py            # SQLite, the `make run` default

It builds its own database next to the configured one (`<name>_bench_live`, or
var/bench-live.sqlite3), seeds 1,000 rendering cards in pages of 24 (the studio's page
size), times every page's poll when nothing changed (304), when one card of the page
changed (200 with that card), and every card's own request as the baseline, then drops
the database. Printed: p50/p95 per request, requests per interval for 1,000 cards, and
the server time one interval costs each way, with the ratio. `--write` puts the table into
docs/benchmarks.md under "## Live updates".
"""

from __future__ import annotations

import argparse
import os
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
from django.utils import timezone  # noqa: E402

from bench import docs  # noqa: E402

PAGE = 24  # selectors.CARDS_PER_PAGE
SECTION = "## Live updates"


def _ms(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    db = connection.settings_dict
    vendor = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    db["TEST"]["NAME"] = (
        f"{db['NAME']}_bench_live"
        if vendor == "PostgreSQL"
        else str(settings.VAR_DIR / "bench-live.sqlite3")
    )
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        table = run(args.cards, vendor)
        if args.write:
            docs.write_section(SECTION, table)
            print("\nwritten to docs/benchmarks.md")
    finally:
        connection.creation.destroy_test_db(db["NAME"], verbosity=0)


def run(count: int, vendor: str) -> str:
    from django.contrib.auth import get_user_model

    from generations import selectors
    from generations.models import Generation, Membership, Project, Role, Submission
    from generations.states import State

    project = Project.objects.create(name="Bench", slug="bench")
    designer = get_user_model().objects.create_user("designer", password="x")  # noqa: S106
    Membership.objects.create(project=project, user=designer, role=Role.DESIGNER)
    now = timezone.now()
    for start in range(0, count, 4):
        submission = Submission.objects.create(
            project=project, created_by=designer, prompt=f"bench card {start}",
            model_key="nano-banana-pro", aspect_ratio="1:1", preview_size="1K",
            final_size="4K", variants=4,
        )  # fmt: skip
        Generation.objects.bulk_create(
            Generation(
                submission=submission,
                project=project,
                variant=v,
                seed=start + v,
                state=State.PREVIEW_RENDERING,
                state_changed_at=now,
                created_at=now,
            )  # fmt: skip
            for v in range(1, 5)
        )
    cards = list(selectors.with_card_data(Generation.objects.order_by("pk")))[:count]
    pages = [cards[i : i + PAGE] for i in range(0, len(cards), PAGE)]
    client = Client()
    client.force_login(designer)

    def query(page: list[Generation]) -> str:
        return ",".join(f"{card.pk}.{selectors.card_token(card)}" for card in page)

    unchanged, one_changed, per_card = [], [], []
    for page in pages:  # warm-up: sessions, templates, plans
        client.get("/cards/live/", {"c": query(page)})
    stale = query(pages[0]).split(",")
    stale[0] = stale[0].split(".")[0] + ".000000000000"
    queries = [
        _queries(client, "/cards/live/", {"c": query(pages[0])}),
        _queries(client, "/cards/live/", {"c": ",".join(stale)}),
        _queries(client, f"/g/{cards[0].pk}/card/", {}, headers={"HX-Request": "true"}),
    ]
    for page in pages:
        started = time.perf_counter()
        response = client.get("/cards/live/", {"c": query(page)})
        unchanged.append(time.perf_counter() - started)
        assert response.status_code == 304, response.status_code
    for page in pages:
        stale = query(page).split(",")
        stale[0] = stale[0].split(".")[0] + ".000000000000"
        started = time.perf_counter()
        response = client.get("/cards/live/", {"c": ",".join(stale)})
        one_changed.append(time.perf_counter() - started)
        assert response.status_code == 200 and response.content.count(b"<article") == 1
    for card in cards:
        started = time.perf_counter()
        response = client.get(f"/g/{card.pk}/card/", headers={"HX-Request": "true"})
        per_card.append(time.perf_counter() - started)
        assert response.status_code == 200

    print(f"Live cards, {len(cards)} open cards in {len(pages)} pages of {PAGE} ({vendor})")
    rows = [
        ("one poll per page, nothing changed (304)", unchanged),
        ("one poll per page, one card changed (200, that card only)", one_changed),
        ("baseline: one request per card (200, the card)", per_card),
    ]
    table = [
        "| request | p50 ms | p95 ms | requests/s (one process) | queries |",
        "|---|---:|---:|---:|---:|",
    ]
    for (label, times), count in zip(rows, queries, strict=True):
        p50, p95 = _ms(times)
        rate = 1 / statistics.mean(times)
        print(f"  {label:58} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  {rate:6.0f} req/s  "
              f"{count} queries")  # fmt: skip
        table.append(f"| {label} | {p50:.1f} | {p95:.1f} | {rate:.0f} | {count} |")
    new_interval = sum(unchanged)
    old_interval = sum(per_card)
    summary = (
        f"One interval for {len(cards):,} open cards: {len(pages)} requests and "
        f"{new_interval * 1000:,.0f} ms of server time when nothing changed, against "
        f"{len(cards):,} requests and {old_interval * 1000:,.0f} ms one request per card: "
        f"{len(cards) / len(pages):.0f}× fewer requests, {old_interval / new_interval:.1f}× "
        "less server time."
    )
    print(f"  {summary}")
    return report(table, summary, vendor=vendor, cards=len(cards), pages=len(pages))


def _queries(client: Client, url: str, data: dict[str, str], **extra: Any) -> int:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url, data, **extra)
    return len(captured.captured_queries)


def report(table: list[str], summary: str, *, vendor: str, cards: int, pages: int) -> str:
    database = (
        f"PostgreSQL {connection.pg_version // 10000}"
        if vendor == "PostgreSQL"
        else f"SQLite {connection.Database.sqlite_version}"
    )
    command = (
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio "
        if vendor == "PostgreSQL"
        else ""
    )
    return "\n".join(
        [
            SECTION,
            "",
            f"{cards:,} open cards ({pages} pages of {PAGE}, every card rendering) on {database}, "
            f"measured {timezone.localdate():%Y-%m-%d} through Django's test client (middleware, "
            "session, permissions, selectors, templates), one request at a time. Host: "
            f"{os.cpu_count()} vCPU, Python {sys.version.split()[0]}, load average "
            f"{os.getloadavg()[0]:.1f} while measuring (shared with other test runs).",
            "",
            "```",
            f"{command}.venv/bin/python bench/live.py --cards {cards} --write",
            "```",
            "",
            *table,
            "",
            summary,
            "",
            "A page polls `/cards/live/?c=<id>.<token>,…` once per interval for all its cards "
            "(views/live.py, static/js/live.js): the token is a digest of everything a card "
            "shows that can change (selectors.card_token), so the answer is a 304 with no body "
            "when none changed, or only the changed cards' HTML. The tokens are compared from "
            "two narrow queries (the cards' changing columns, their images') and only the "
            "changed cards are loaded whole, so the common answer, the 304, costs the same "
            "few queries whatever the page holds. The baseline is the per-card hx polling "
            "it replaced, timed in the same run.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
