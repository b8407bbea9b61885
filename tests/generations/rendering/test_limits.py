"""Per-model limits shared by every worker: concurrency, requests per minute and the
cooldown after a 429 — on both backends, across real processes, and through the worker's
render path (a job that must wait stays queued and uses nothing)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone

from generations import services
from generations.models import Attempt, Generation, Transition
from generations.providers.base import RateLimited, ServerError
from generations.rendering import jobs, limits
from generations.rendering.limits import (
    DatabaseLimiter,
    Limiter,
    ModelLimits,
    Reason,
    RedisLimiter,
)
from generations.rendering.sweeper import generations_sweep
from generations.states import State, TransitionConflict
from tests.e2e.conftest import database_url
from tests.support.fakes import OK, ScriptedProvider

MODEL = "nano-banana-pro"
BASE_DIR = Path(django_settings.BASE_DIR)
DEFAULT_TEST_REDIS = "redis://127.0.0.1:6379/15"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def redis_url_or_skip() -> str:
    """The configured Redis (CI: the broker) must answer; without one, try a local one."""
    configured = django_settings.STUDIO_LIMITS_REDIS_URL
    url = configured or DEFAULT_TEST_REDIS
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if configured:
            pytest.fail(f"STUDIO_LIMITS_REDIS_URL is configured but unreachable: {exc}")
        pytest.skip("no Redis on 127.0.0.1:6379")
    return url


@pytest.fixture(params=["database", "redis"])
def backend(request, settings) -> Iterator[dict[str, str]]:
    """Point the app's limiter at one backend, with Redis keys of this test's own."""
    spec = {"backend": request.param, "url": "", "prefix": f"test-limits:{uuid.uuid4().hex}"}
    if request.param == "redis":
        spec["url"] = redis_url_or_skip()
    settings.STUDIO_LIMITS_BACKEND = spec["backend"]
    settings.STUDIO_LIMITS_REDIS_URL = spec["url"]
    settings.STUDIO_LIMITS_KEY_PREFIX = spec["prefix"]
    yield spec
    if spec["url"]:
        RedisLimiter(spec["url"], prefix=spec["prefix"]).flush()


@pytest.fixture
def make_limiter(backend, request) -> Callable[[FakeClock], Limiter]:
    if backend["backend"] == "database" and "transactional_db" not in request.fixturenames:
        request.getfixturevalue("db")

    def make(clock: FakeClock) -> Limiter:
        if backend["url"]:
            return RedisLimiter(backend["url"], prefix=backend["prefix"], clock=clock)
        return DatabaseLimiter(clock=clock)

    return make


def take(limiter: Limiter, *, holder: str = "", ttl_s: float = 30, **caps: int) -> Any:
    holder = holder or uuid.uuid4().hex
    return limiter.acquire(MODEL, holder=holder, limits=ModelLimits(**caps), ttl_s=ttl_s)


# --- the limiter on its own ---------------------------------------------------------------


def test_the_concurrency_cap_refuses_the_call_over_it_until_a_slot_is_released(make_limiter):
    clock = FakeClock()
    limiter = make_limiter(clock)

    assert take(limiter, holder="a", concurrency=2, ttl_s=100).granted
    clock.advance(10)
    assert take(limiter, holder="b", concurrency=2, ttl_s=100).granted
    refused = take(limiter, holder="c", concurrency=2)

    assert not refused.granted
    assert refused.reason is Reason.CONCURRENCY
    assert refused.wait_s == pytest.approx(90, abs=0.01)  # when "a" expires at the latest
    assert refused.message.startswith(limits.WAITING_FOR_RATE_LIMIT)
    assert limiter.usage(MODEL).in_flight == 2

    limiter.release(MODEL, holder="a")
    assert limiter.usage(MODEL).in_flight == 1
    assert take(limiter, holder="c", concurrency=2).granted


def test_a_slot_nobody_releases_frees_itself_when_its_lease_would_expire(make_limiter):
    clock = FakeClock()
    limiter = make_limiter(clock)
    assert take(limiter, holder="killed", concurrency=1, ttl_s=690).granted

    clock.advance(689)
    assert not take(limiter, concurrency=1).granted
    clock.advance(1.001)
    assert take(limiter, concurrency=1).granted


def test_the_rpm_budget_counts_calls_started_in_a_rolling_minute(make_limiter):
    clock = FakeClock()
    limiter = make_limiter(clock)
    for second in (0, 20, 40):
        clock.now = 1_800_000_000.0 + second
        holder = uuid.uuid4().hex
        assert take(limiter, holder=holder, rpm=3).granted
        limiter.release(MODEL, holder=holder)  # finished calls still count for the minute

    clock.now = 1_800_000_000.0 + 45
    refused = take(limiter, rpm=3)
    assert (refused.granted, refused.reason) == (False, Reason.RPM)
    assert refused.wait_s == pytest.approx(15, abs=0.01)  # the call at 0 s leaves at 60 s

    clock.now = 1_800_000_000.0 + 60
    assert take(limiter, rpm=3).granted
    assert not take(limiter, rpm=3).granted
    assert limiter.usage(MODEL).started_in_window == 3


def test_a_claim_that_made_no_call_gives_its_rpm_unit_back(make_limiter):
    limiter = make_limiter(FakeClock())
    assert take(limiter, holder="lost-the-race", rpm=1).granted
    limiter.release(MODEL, holder="lost-the-race", refund=True)

    assert take(limiter, rpm=1).granted
    assert limiter.usage(MODEL).started_in_window == 1


def test_a_429_cools_the_model_down_for_every_caller(make_limiter):
    clock = FakeClock()
    limiter, other_worker = make_limiter(clock), make_limiter(clock)

    cooldown = limiter.penalize(MODEL, retry_after=37, call_started=clock.now - 1)

    assert cooldown == pytest.approx(37)  # the provider's delay beats the first backoff (5 s)
    refused = take(other_worker, concurrency=8, rpm=60)
    assert (refused.granted, refused.reason) == (False, Reason.COOLDOWN)
    assert refused.wait_s == pytest.approx(37, abs=0.01)
    clock.advance(37.001)
    assert take(other_worker, concurrency=8, rpm=60).granted


def test_repeated_429s_back_off_further_but_calls_already_in_flight_do_not_escalate(make_limiter):
    clock = FakeClock()
    limiter = make_limiter(clock)
    first_call = clock.now - 2

    assert limiter.penalize(MODEL, retry_after=None, call_started=first_call) == pytest.approx(5)
    # A call that started before that 429 reports one too: same round trip, no escalation.
    assert limiter.penalize(MODEL, retry_after=None, call_started=first_call) == pytest.approx(5)
    assert limiter.usage(MODEL).penalty == pytest.approx(1)

    clock.advance(6)  # the penalty decays 1/60 per second: 0.9 is left of it
    backoff = limiter.penalize(MODEL, retry_after=None, call_started=clock.now - 1)
    assert backoff == pytest.approx(5 * 2**0.9, rel=1e-3)  # nearly 10 s
    assert limiter.usage(MODEL).penalty == pytest.approx(1.9, abs=1e-3)


def test_after_a_429_the_rpm_is_halved_and_recovers_gradually(make_limiter):
    clock = FakeClock()
    limiter = make_limiter(clock)
    limiter.penalize(MODEL, retry_after=None, call_started=clock.now)
    clock.advance(5.001)  # the cooldown is over; the penalty has hardly decayed

    granted = sum(take(limiter, rpm=8).granted for _ in range(8))
    assert granted == 4

    clock.advance(120)  # two quiet minutes: the window is empty and the penalty gone
    assert limiter.usage(MODEL).penalty == 0
    assert sum(take(limiter, rpm=8).granted for _ in range(9)) == 8


# --- across processes ----------------------------------------------------------------------


def _probe(backend: dict[str, str], **spec: Any) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "DATABASE_URL": database_url(),
    }
    payload = json.dumps({**backend, "model": MODEL, **spec})
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.limits_probe", payload],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _start_together(probes: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    for probe in probes:
        assert probe.stdout is not None and probe.stdout.readline().strip() == "ready"
    for probe in probes:
        assert probe.stdin is not None
        probe.stdin.write("go\n")
        probe.stdin.flush()
    results = []
    for probe in probes:
        out, _ = probe.communicate(timeout=120)
        assert probe.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _most_at_once(holds: list[tuple[int, int]]) -> int:
    # Ends sort before starts at the same instant: touching holds do not overlap.
    events = sorted([(start, 1) for start, _ in holds] + [(end, -1) for _, end in holds])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


@pytest.mark.django_db(transaction=True)
def test_the_concurrency_cap_holds_across_worker_processes(backend):
    probes = [
        _probe(backend, command="hammer", concurrency=2, rounds=12, hold_s=0.03) for _ in range(4)
    ]
    results = _start_together(probes)

    holds = [tuple(hold) for result in results for hold in result["holds"]]
    assert len(holds) == 4 * 12  # nobody starved
    assert _most_at_once(holds) == 2  # the cap was reached, and never passed


@pytest.mark.django_db(transaction=True)
def test_the_rpm_budget_holds_across_worker_processes(backend):
    probes = [_probe(backend, command="grab", rpm=10, rounds=8) for _ in range(4)]
    results = _start_together(probes)

    assert sum(result["granted"] for result in results) == 10


@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_slot_frees_itself_and_a_429_reaches_other_processes(backend):
    holder = _probe(backend, command="hold", concurrency=1, ttl=1.5)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    limiter = limits.get_limiter()

    refused = take(limiter, concurrency=1)
    assert (refused.granted, refused.reason) == (False, Reason.CONCURRENCY)
    assert 0 < refused.wait_s <= 1.5
    time.sleep(refused.wait_s + 0.05)
    survivor = take(limiter, concurrency=1)
    assert survivor.granted

    limiter.penalize(MODEL, retry_after=30, call_started=timezone.now().timestamp())
    out, _ = _probe(backend, command="try", concurrency=1).communicate(timeout=60)
    assert json.loads(out) == {"granted": False, "reason": "cooldown"}


# --- configuration -------------------------------------------------------------------------


def test_hosted_models_get_the_default_limits_and_local_ones_none(settings, monkeypatch):
    settings.STUDIO_MODELS = {
        "hosted": {
            "label": "Hosted",
            "provider": "gemini",
            "model_id": "gemini-3-pro-image",
            "base_url": "http://127.0.0.1:9",
            "api_key_env": "LIMITS_TEST_KEY",
        },
        "simulated": {
            "label": "Simulated",
            "provider": "gemini",
            "model_id": "gemini-3-pro-image",
            "base_url": "http://127.0.0.1:9",
            "api_key_env": "LIMITS_TEST_UNSET_KEY",
        },
        "local": {"label": "Local", "provider": "local", "model_id": "local-pillow"},
    }
    settings.STUDIO_LIMITS_DEFAULT = {"concurrency": 8, "rpm": 60}
    settings.STUDIO_MODEL_LIMITS = {"local": {"concurrency": 2}, "other": {"rpm": 0}}
    monkeypatch.setenv("LIMITS_TEST_KEY", "x")
    monkeypatch.delenv("LIMITS_TEST_UNSET_KEY", raising=False)

    assert limits.limits_for("hosted") == ModelLimits(concurrency=8, rpm=60)
    # No key: the catalog renders it locally, and nothing local is limited by default.
    assert limits.limits_for("simulated").unlimited
    assert limits.limits_for("local") == ModelLimits(concurrency=2, rpm=60)
    assert limits.limits_for("other") == ModelLimits(concurrency=8, rpm=None)  # 0: no cap


# --- through the worker's render path -----------------------------------------------------


@pytest.fixture
def render_setup(backend, settings, monkeypatch, db) -> list[int]:
    """A local model with a concurrency of 1; kicks are recorded, never sent."""
    quick = {"timeout": 5, "tries": 2, "base_delay": 10}
    settings.STUDIO_ATTEMPT_POLICY = {"1K": dict(quick), "2K": dict(quick), "4K": dict(quick)}
    settings.STUDIO_LEASE_GRACE_SECONDS = 30
    settings.STUDIO_MODELS = {
        MODEL: {"label": "Nano Banana Pro", "provider": "local", "model_id": "gemini-3-pro-image"}
    }
    settings.STUDIO_MODEL_LIMITS = {MODEL: {"concurrency": 1, "rpm": 100}}
    settings.STUDIO_LIMITS_POLL_SECONDS = 15
    kicks: list[int] = []
    monkeypatch.setattr("generations.dispatch.kick", kicks.append)
    monkeypatch.setattr("generations.rendering.sweeper.kick", kicks.append)
    return kicks


def _submit(project, designer) -> Generation:
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt="a lighthouse on a cliff at dusk",
        model_key=MODEL,
        aspect_ratio="1:1",
        preview_size="1K",
        variants=1,
    )
    return submission.generations.get()


def _render(generation: Generation, provider: ScriptedProvider) -> str:
    return jobs.generation_render(
        generation_id=generation.pk, worker="worker-1@test", provider=provider
    )


def _reload(generation: Generation) -> Generation:
    return Generation.objects.get(pk=generation.pk)


def _seconds_until_due(generation: Generation) -> float:
    assert generation.next_attempt_at is not None
    return (generation.next_attempt_at - timezone.now()).total_seconds()


def _make_due(generation: Generation) -> None:
    Generation.objects.filter(pk=generation.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def test_a_job_without_a_free_slot_stays_queued_and_uses_no_attempt(
    render_setup, project, designer
):
    generation = _submit(project, designer)
    limiter = limits.get_limiter()
    take(limiter, holder="another-worker", concurrency=1)
    provider = ScriptedProvider(OK)

    before = timezone.now()
    assert _render(generation, provider) == "skipped"

    waiting = _reload(generation)
    assert waiting.state == State.PREVIEW_QUEUED
    assert waiting.waiting_reason == limits.WAITING_MESSAGES[Reason.CONCURRENCY]
    assert waiting.waiting_reason.startswith("Waiting for rate limit")
    assert (waiting.attempt_count, waiting.tries_used, waiting.version) == (0, 0, 0)
    # Due 15-17 s after the render looked (not after this line: a loaded host takes a
    # moment between the two).
    assert (waiting.next_attempt_at - before).total_seconds() >= 15
    assert _seconds_until_due(waiting) <= 17.1
    assert waiting.kicked_at is None  # so the sweeper kicks it the moment it is due
    assert provider.calls == 0
    assert not Attempt.objects.filter(generation=generation).exists()
    assert Transition.objects.filter(generation=generation).count() == 1  # only "submitted"

    limiter.release(MODEL, holder="another-worker")
    _make_due(generation)
    assert generations_sweep().kicked == 1
    assert _render(generation, provider) == State.IN_REVIEW

    done = _reload(generation)
    assert (done.attempt_count, done.tries_used, done.waiting_reason) == (1, 1, "")
    assert limiter.usage(MODEL).in_flight == 0


def test_a_freed_slot_wakes_the_job_that_waited_for_it(
    render_setup, project, designer, django_capture_on_commit_callbacks
):
    first, second = _submit(project, designer), _submit(project, designer)
    outcomes: list[str] = []

    def second_worker_meanwhile(request):
        outcomes.append(_render(second, ScriptedProvider(OK)))  # the only slot is taken
        return OK

    with django_capture_on_commit_callbacks(execute=True):
        assert _render(first, ScriptedProvider(second_worker_meanwhile)) == State.IN_REVIEW

    assert outcomes == ["skipped"]
    woken = _reload(second)
    assert _seconds_until_due(woken) <= 0  # brought forward from ~15 s
    assert render_setup[-1] == second.pk  # and kicked
    assert _render(second, ScriptedProvider(OK)) == State.IN_REVIEW


@pytest.mark.parametrize(
    "outcome",
    [OK, ServerError("boom"), RuntimeError("client bug"), "cancelled mid-call"],
    ids=["success", "failure", "crash", "discarded"],
)
def test_every_ending_of_a_call_releases_its_slot(render_setup, project, designer, outcome):
    generation = _submit(project, designer)

    def cancel_meanwhile(request):
        services.generation_cancel(generation_id=generation.pk, user=designer)
        return OK

    script = cancel_meanwhile if outcome == "cancelled mid-call" else outcome
    _render(generation, ScriptedProvider(script))

    assert limits.get_limiter().usage(MODEL).in_flight == 0
    assert take(limits.get_limiter(), concurrency=1).granted


def test_a_429_makes_the_other_jobs_of_the_model_wait_for_the_cooldown(
    render_setup, project, designer
):
    first, second = _submit(project, designer), _submit(project, designer)

    assert _render(first, ScriptedProvider(RateLimited("slow down", retry_after=30))) == (
        State.PREVIEW_QUEUED
    )
    provider = ScriptedProvider(OK)
    before = timezone.now()
    assert _render(second, provider) == "skipped"

    waiting = _reload(second)
    assert waiting.waiting_reason == limits.WAITING_MESSAGES[Reason.COOLDOWN]
    assert (waiting.next_attempt_at - before).total_seconds() >= 29
    assert _seconds_until_due(waiting) <= 34
    assert (waiting.attempt_count, provider.calls) == (0, 0)
    assert limits.get_limiter().usage(MODEL).cooldown_s == pytest.approx(30, abs=1)


def test_a_claim_lost_to_another_worker_gives_the_slot_and_rpm_unit_back(
    render_setup, project, designer, monkeypatch
):
    from generations import flow

    generation = _submit(project, designer)

    def lose_the_race(*args: Any, **kwargs: Any) -> Generation:
        raise TransitionConflict("someone else claimed it")

    monkeypatch.setattr(flow, "apply", lose_the_race)
    assert _render(generation, ScriptedProvider()) == "skipped"

    usage = limits.get_limiter().usage(MODEL)
    assert (usage.in_flight, usage.started_in_window) == (0, 0)
