"""Compare the spend roll-ups with a recount from the ledger and the generations:

    manage.py spend_rollup_check            # report drift; exit status 1 if any
    manage.py spend_rollup_check --rebuild  # recount and replace them (repairs drift)

Run --rebuild after rows were written behind the app's back (raw SQL, an import), or
after changing TIME_ZONE (until then the reports read the ledger: correct, slower).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.spend.rollups import Drift, rollups_check, rollups_rebuild, zone


class Command(BaseCommand):
    help = "Check the spend roll-ups against the ledger; --rebuild recounts them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rebuild", action="store_true", help="Recount the roll-ups and replace them."
        )

    def handle(self, *args: Any, rebuild: bool, **options: Any) -> None:
        started = time.monotonic()
        drift = rollups_rebuild() if rebuild else rollups_check()
        took = time.monotonic() - started
        self.stdout.write(_describe(drift) + f" (local days of {zone()}, {took:.1f} s)")
        if rebuild:
            self.stdout.write(self.style.SUCCESS("Rebuilt: the roll-ups match the ledger."))
        elif not drift.clean:
            raise CommandError("The roll-ups differ from the ledger: run with --rebuild.")


def _describe(drift: Drift) -> str:
    if drift.clean:
        return "No drift"
    parts = [f"{n} {table} row(s)" for table, n in drift.rows.items() if n]
    if drift.previewed_at:
        parts.append(f"{drift.previewed_at} generation(s) with a wrong first preview time")
    return "Drift: " + ", ".join(parts)
