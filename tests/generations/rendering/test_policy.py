"""Attempt policy per resolution and the backoff between attempts."""

from __future__ import annotations

import random

import pytest

from generations.rendering.policy import (
    MAX_BACKOFF_SECONDS,
    AttemptPolicy,
    backoff_seconds,
    lease_seconds,
    policy_for,
)


class _Extreme:
    """A stand-in for random.Random that always draws the lowest or highest value."""

    def __init__(self, *, high: bool) -> None:
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


LOW, HIGH = _Extreme(high=False), _Extreme(high=True)
POLICY = AttemptPolicy(timeout_s=660, tries=3, base_delay_s=60)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("1K", AttemptPolicy(timeout_s=60, tries=2, base_delay_s=15)),
        ("2K", AttemptPolicy(timeout_s=180, tries=2, base_delay_s=30)),
        ("4K", AttemptPolicy(timeout_s=660, tries=3, base_delay_s=60)),
    ],
)
def test_default_policy_matches_the_published_numbers(size, expected):
    assert policy_for(size) == expected


def test_policy_for_reads_settings_overrides(settings):
    settings.STUDIO_ATTEMPT_POLICY = {
        **settings.STUDIO_ATTEMPT_POLICY,
        "4K": {"timeout": 900, "tries": 4, "base_delay": 90},
    }

    assert policy_for("4K") == AttemptPolicy(timeout_s=900, tries=4, base_delay_s=90)
    assert policy_for("1K").tries == 2


def test_policy_for_an_unknown_size_is_an_error():
    with pytest.raises(KeyError):
        policy_for("8K")


def test_a_lease_lasts_the_timeout_plus_the_grace(settings):
    settings.STUDIO_LEASE_GRACE_SECONDS = 30

    assert lease_seconds("4K") == 690
    assert lease_seconds("1K") == 90


@pytest.mark.parametrize(
    ("tries_used", "step"),
    [(0, 60), (1, 60), (2, 120), (3, 240), (4, 480)],
)
def test_backoff_doubles_with_each_try_within_jitter_bounds(tries_used, step):
    assert backoff_seconds(POLICY, tries_used=tries_used, rng=LOW) == step / 2
    assert backoff_seconds(POLICY, tries_used=tries_used, rng=HIGH) == step


def test_backoff_jitter_stays_within_half_a_step_and_a_step():
    rng = random.Random(7)
    delays = [backoff_seconds(POLICY, tries_used=2, rng=rng) for _ in range(500)]

    assert all(60 <= delay <= 120 for delay in delays)
    assert max(delays) - min(delays) > 30, "jitter must spread workers that failed together"


def test_backoff_waits_grow_even_with_the_worst_jitter():
    # Below the cap (60 s × 2**3 = 480 s; the next step, 960 s, is capped at 900 s).
    later = [backoff_seconds(POLICY, tries_used=n, rng=LOW) for n in range(1, 5)]
    sooner = [backoff_seconds(POLICY, tries_used=n, rng=HIGH) for n in range(1, 4)]

    assert later == sorted(later)
    # The shortest wait after try n+1 is at least the longest after try n.
    assert all(b >= a for a, b in zip(sooner, later[1:], strict=True))


def test_backoff_is_capped():
    assert backoff_seconds(POLICY, tries_used=30, rng=HIGH) == MAX_BACKOFF_SECONDS
    assert backoff_seconds(POLICY, tries_used=30, rng=LOW) == MAX_BACKOFF_SECONDS / 2
    assert MAX_BACKOFF_SECONDS == 15 * 60


def test_backoff_honours_a_longer_retry_after():
    assert backoff_seconds(POLICY, tries_used=1, retry_after=200, rng=HIGH) == 200


def test_backoff_keeps_its_own_wait_when_retry_after_is_shorter():
    assert backoff_seconds(POLICY, tries_used=1, retry_after=5, rng=LOW) == 30


def test_a_huge_retry_after_is_capped():
    assert backoff_seconds(POLICY, tries_used=1, retry_after=86_400, rng=LOW) == MAX_BACKOFF_SECONDS


def test_backoff_uses_the_policy_base_delay():
    quick = AttemptPolicy(timeout_s=5, tries=2, base_delay_s=1)

    assert backoff_seconds(quick, tries_used=1, rng=HIGH) == 1
    assert backoff_seconds(quick, tries_used=3, rng=HIGH) == 4
