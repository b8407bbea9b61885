"""Per-resolution attempt policy and the backoff between attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.conf import settings

MAX_BACKOFF_SECONDS = 15 * 60


@dataclass(frozen=True)
class AttemptPolicy:
    timeout_s: float
    tries: int
    base_delay_s: float


def policy_for(size: str) -> AttemptPolicy:
    raw = settings.STUDIO_ATTEMPT_POLICY[size]
    return AttemptPolicy(
        timeout_s=float(raw["timeout"]),
        tries=int(raw["tries"]),
        base_delay_s=float(raw["base_delay"]),
    )


def lease_seconds(size: str) -> float:
    """How long a claim is valid: the attempt's timeout plus a grace for storing the result."""
    return policy_for(size).timeout_s + settings.STUDIO_LEASE_GRACE_SECONDS


def backoff_seconds(
    policy: AttemptPolicy,
    *,
    tries_used: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with equal jitter, never sooner than the provider asked.

    Half the exponential step is kept so waits still grow; the other half is random so
    workers that failed together do not come back together.
    """
    step = min(policy.base_delay_s * 2 ** max(tries_used - 1, 0), MAX_BACKOFF_SECONDS)
    delay = step / 2 + (rng or random).uniform(0, step / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_BACKOFF_SECONDS))
    return delay
