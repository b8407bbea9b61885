"""Fault injection for the chaos suite (tests/e2e/test_chaos.py). Does nothing unless the
environment variable STUDIO_CHAOS_PAUSE_AT is set; never set it in production.

With STUDIO_CHAOS_PAUSE_AT=provider,stored (stage names, comma-separated) a worker logs
"chaos: pid <pid> paused at <stage>" and sleeps STUDIO_CHAOS_PAUSE_SECONDS (default 1) each
time it reaches one of those stages, so the test can SIGKILL it, or cut its database
connection, at exactly that point. Stages: provider (the job is claimed and the call is
about to start), ingest (the answer is decoded and checked, nothing stored), stored (the
original is in storage, no row records it yet), ledger (inside the transaction that
records the success, after the charge), renditions (both WebPs stored, the row not
filled yet).
"""

from __future__ import annotations

import logging
import os
import time

logger = logging.getLogger(__name__)


def pause_at(stage: str, what: str = "") -> None:
    stages = os.environ.get("STUDIO_CHAOS_PAUSE_AT")
    if not stages or stage not in stages.split(","):
        return
    logger.warning("chaos: pid %s paused at %s (%s)", os.getpid(), stage, what)
    time.sleep(float(os.environ.get("STUDIO_CHAOS_PAUSE_SECONDS") or 1))
