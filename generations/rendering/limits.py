"""Per-model limits shared by every worker process on every machine.

Before a worker calls a provider it takes a *slot* for the model (catalog key):

* **concurrency** — at most N calls to the model in flight at once. A slot expires on its
  own after the attempt's lease (timeout + grace), so a worker killed mid-call frees it
  without anyone's help;
* **requests per minute** — at most R calls *started* in any rolling 60 s (a sliding
  window log, exact, unlike a token bucket that can burst to 2R in a minute);
* **cooldown** — a 429 from the provider stops every worker from starting a call to that
  model until `max(retry_after, growing backoff)` has passed, and lowers the effective RPM
  (halved per 429, recovering one halving per minute without one).

Two backends with the same semantics: Redis (atomic Lua scripts) when a Redis URL is
configured, the database otherwise (a row lock per model; SQLite serialises with its
IMMEDIATE transactions). Limits are configuration (`STUDIO_MODEL_LIMITS`); a model with
neither cap is not limited at all and costs no I/O.

A job that cannot get a slot is not claimed: it stays queued with `next_attempt_at` at
the time a slot may be free and a `waiting_reason` the UI shows — no attempt, no try and
no audit row are used by waiting. When a call ends, its slot is released and the oldest
job waiting for a slot of that model is woken at once.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
import math
import random
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, When
from django.utils import timezone

from generations import catalog, dispatch
from generations.models import Generation, ModelPause, Notification, RateLimitCall, RateLimitState
from generations.notifications import notify_people
from generations.states import State

logger = logging.getLogger(__name__)

WINDOW_S = 60.0  # the "minute" of requests per minute
# Cooldown after a 429: BASE × 2^(penalty-1), i.e. 5, 10, 20, 40, 80 s, but never
# shorter than the provider's own retry-after (capped like any backoff, at 15 min).
BASE_COOLDOWN_S = 5.0
MAX_COOLDOWN_S = 15 * 60.0
# Each 429 halves the effective RPM, down to 1/32; one halving is restored per minute
# without a 429, so a model recovers gradually instead of bouncing back into 429s.
MAX_PENALTY = 5.0
RECOVERY_S_PER_HALVING = 60.0

WAITING_FOR_RATE_LIMIT = "Waiting for rate limit"


class Reason(enum.StrEnum):
    COOLDOWN = "cooldown"
    CONCURRENCY = "concurrency"
    RPM = "rpm"
    QUOTA = "quota"  # a daily quota used up: paused until it resets (ModelPause)


# What a waiting job's card says (the UI adds "next try in …"). Fixed strings: waking the
# next job when a slot frees looks for the CONCURRENCY one.
WAITING_MESSAGES = {
    Reason.COOLDOWN: f"{WAITING_FOR_RATE_LIMIT}: the provider asked us to slow down",
    Reason.CONCURRENCY: f"{WAITING_FOR_RATE_LIMIT}: every slot for this model is busy",
    Reason.RPM: f"{WAITING_FOR_RATE_LIMIT}: this model's requests per minute are used up",
    Reason.QUOTA: "Paused: this model's daily quota is used up until it resets",
}


@dataclass(frozen=True)
class ModelLimits:
    concurrency: int | None = None  # calls in flight at once; None: no cap
    rpm: int | None = None  # calls started per rolling minute; None: no cap

    @property
    def unlimited(self) -> bool:
        return self.concurrency is None and self.rpm is None


@dataclass(frozen=True)
class Decision:
    granted: bool
    reason: Reason | None = None
    wait_s: float = 0.0  # when the blocking limit may let a call through

    @property
    def message(self) -> str:
        return WAITING_MESSAGES[self.reason] if self.reason else ""


GRANTED = Decision(granted=True)


@dataclass(frozen=True)
class Usage:
    """A model's limiter state at one moment: for tests, logs and the admin."""

    in_flight: int
    started_in_window: int
    cooldown_s: float
    penalty: float


class Limiter(Protocol):
    def acquire(self, key: str, *, holder: str, limits: ModelLimits, ttl_s: float) -> Decision:
        """Take a slot (and an RPM unit) for `holder`, or say why not and for how long."""
        ...

    def release(self, key: str, *, holder: str, refund: bool = False) -> None:
        """Free the slot. `refund` also returns the RPM unit: no call was made."""
        ...

    def penalize(self, key: str, *, retry_after: float | None, call_started: float) -> float:
        """A 429: cool the model down for everyone. Returns the cooldown in seconds."""
        ...

    def usage(self, key: str) -> Usage: ...


# --- the arithmetic both backends share (the Lua scripts repeat it) -----------------------


def decayed_penalty(penalty: float, penalized_at: float, now: float) -> float:
    return max(0.0, penalty - max(0.0, now - penalized_at) / RECOVERY_S_PER_HALVING)


def effective_rpm(rpm: int, penalty: float) -> int:
    return max(1, math.floor(rpm * 0.5**penalty))


def escalated(penalty: float) -> tuple[float, float]:
    """The penalty after one more 429, and the cooldown it brings."""
    penalty = min(penalty + 1, MAX_PENALTY)
    return penalty, min(BASE_COOLDOWN_S * 2 ** (penalty - 1), MAX_COOLDOWN_S)


def _retry_after(value: float | None) -> float:
    return min(max(value or 0.0, 0.0), MAX_COOLDOWN_S)


# --- Redis ---------------------------------------------------------------------------------

# Keys per model: {p}:slots (zset holder -> expiry ms), {p}:calls (zset holder -> start ms),
# {p}:state (hash: until, penalty, at). Times are the callers' clocks in ms, like the leases.
_ACQUIRE_LUA = """
local now, holder, ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local concurrency, rpm = tonumber(ARGV[4]), tonumber(ARGV[5])
local window, recovery = tonumber(ARGV[6]), tonumber(ARGV[7])
local state = redis.call('HMGET', KEYS[3], 'until', 'penalty', 'at')
local cool_until = tonumber(state[1]) or 0
if cool_until > now then return {0, 'cooldown', cool_until - now} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if concurrency > 0 and redis.call('ZCARD', KEYS[1]) >= concurrency then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, 'concurrency', tonumber(first[2]) - now}
end
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  local penalty = tonumber(state[2]) or 0
  penalty = math.max(0, penalty - math.max(0, now - (tonumber(state[3]) or now)) / recovery)
  local allowed = math.max(1, math.floor(rpm * math.pow(0.5, penalty)))
  local used = redis.call('ZCARD', KEYS[2])
  if used >= allowed then
    local leaving = redis.call('ZRANGE', KEYS[2], used - allowed, used - allowed, 'WITHSCORES')
    return {0, 'rpm', tonumber(leaving[2]) + window - now}
  end
  redis.call('ZADD', KEYS[2], now, holder)
  redis.call('PEXPIRE', KEYS[2], window)
end
redis.call('ZADD', KEYS[1], now + ttl, holder)
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return {1, '', 0}
"""

_PENALIZE_LUA = """
local now, retry_after, started = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local base, max_cooldown, max_penalty = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local recovery, keep = tonumber(ARGV[7]), tonumber(ARGV[8])
local state = redis.call('HMGET', KEYS[1], 'until', 'penalty', 'at')
local cool_until, at = tonumber(state[1]) or 0, tonumber(state[3]) or 0
local cooldown = retry_after
if started >= at then
  local penalty = math.max(0, (tonumber(state[2]) or 0) - math.max(0, now - at) / recovery)
  penalty = math.min(penalty + 1, max_penalty)
  cooldown = math.max(cooldown, math.min(base * math.pow(2, penalty - 1), max_cooldown))
  redis.call('HSET', KEYS[1], 'penalty', tostring(penalty), 'at', now)
end
cool_until = math.max(cool_until, now + cooldown)
redis.call('HSET', KEYS[1], 'until', cool_until)
redis.call('PEXPIRE', KEYS[1], keep)
return cool_until - now
"""


class RedisLimiter:
    def __init__(
        self, url: str, *, prefix: str = "studio:limits", clock: Callable[[], float] = time.time
    ) -> None:
        import redis

        # A blocking pool: with hundreds of threads (or greenlets) a caller waits a moment
        # for a connection instead of failing (redis-py's default pool raises past 100).
        # Short timeouts: a dead Redis must not hang a worker before its call.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=5, socket_timeout=5, socket_connect_timeout=2
        )
        self._redis = redis.Redis(connection_pool=pool)
        self._prefix, self._clock = prefix, clock
        self._acquire = self._redis.register_script(_ACQUIRE_LUA)
        self._penalize = self._redis.register_script(_PENALIZE_LUA)

    def _keys(self, key: str) -> list[str]:
        return [f"{self._prefix}:{key}:{part}" for part in ("slots", "calls", "state")]

    def _now_ms(self) -> int:
        return round(self._clock() * 1000)

    def acquire(self, key: str, *, holder: str, limits: ModelLimits, ttl_s: float) -> Decision:
        granted, reason, wait_ms = self._acquire(
            keys=self._keys(key),
            args=[
                self._now_ms(),
                holder,
                max(1, round(ttl_s * 1000)),
                limits.concurrency or 0,
                limits.rpm or 0,
                round(WINDOW_S * 1000),
                round(RECOVERY_S_PER_HALVING * 1000),
            ],
        )
        if granted:
            return GRANTED
        return Decision(granted=False, reason=Reason(reason.decode()), wait_s=wait_ms / 1000)

    def release(self, key: str, *, holder: str, refund: bool = False) -> None:
        slots, calls, _ = self._keys(key)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(slots, holder)
            if refund:
                pipe.zrem(calls, holder)
            pipe.execute()

    def penalize(self, key: str, *, retry_after: float | None, call_started: float) -> float:
        # Keep the state long enough for the penalty to decay back to zero.
        keep_s = MAX_COOLDOWN_S + MAX_PENALTY * RECOVERY_S_PER_HALVING
        cooldown_ms = self._penalize(
            keys=self._keys(key)[2:],
            args=[
                self._now_ms(),
                round(_retry_after(retry_after) * 1000),
                round(call_started * 1000),
                round(BASE_COOLDOWN_S * 1000),
                round(MAX_COOLDOWN_S * 1000),
                MAX_PENALTY,
                round(RECOVERY_S_PER_HALVING * 1000),
                round(keep_s * 1000),
            ],
        )
        return float(cooldown_ms) / 1000

    def usage(self, key: str) -> Usage:
        slots, calls, state_key = self._keys(key)
        now = self._now_ms()
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.zcount(slots, f"({now}", "+inf")
            pipe.zcount(calls, f"({now - round(WINDOW_S * 1000)}", "+inf")
            pipe.hmget(state_key, ["until", "penalty", "at"])
            in_flight, started, (until, penalty, at) = pipe.execute()
        return Usage(
            in_flight=in_flight,
            started_in_window=started,
            cooldown_s=max(0.0, (float(until or 0) - now) / 1000),
            penalty=decayed_penalty(float(penalty or 0), float(at or 0) / 1000, now / 1000),
        )

    def flush(self) -> None:
        """Forget every model's state under this prefix (tests, benchmarks)."""
        keys = list(self._redis.scan_iter(match=f"{self._prefix}:*"))
        if keys:
            self._redis.delete(*keys)


# --- the database --------------------------------------------------------------------------


def _at(epoch_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)


class DatabaseLimiter:
    """One `RateLimitCall` row per call: in flight until `expires_at` (release sets it to
    the release time), counted against the RPM for a minute after `started_at`. Every
    decision runs under the model's `RateLimitState` row lock, so workers take turns."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def acquire(self, key: str, *, holder: str, limits: ModelLimits, ttl_s: float) -> Decision:
        now = self._clock()
        with transaction.atomic():
            state = _locked_state(key)
            calls = RateLimitCall.objects.filter(model_key=key)
            # Rows that neither hold a slot nor count for the RPM any more.
            calls.filter(started_at__lte=_at(now - WINDOW_S), expires_at__lte=_at(now)).delete()
            if state.cooldown_until and state.cooldown_until.timestamp() > now:
                return Decision(False, Reason.COOLDOWN, state.cooldown_until.timestamp() - now)
            if limits.concurrency:
                in_flight = calls.filter(expires_at__gt=_at(now)).order_by("expires_at")
                if in_flight.count() >= limits.concurrency:
                    first = in_flight.values_list("expires_at", flat=True)[0]
                    return Decision(False, Reason.CONCURRENCY, first.timestamp() - now)
            if limits.rpm:
                penalty = _state_penalty(state, now)
                allowed = effective_rpm(limits.rpm, penalty)
                recent = calls.filter(started_at__gt=_at(now - WINDOW_S)).order_by("started_at")
                used = recent.count()
                if used >= allowed:
                    leaving = recent.values_list("started_at", flat=True)[used - allowed]
                    return Decision(False, Reason.RPM, leaving.timestamp() + WINDOW_S - now)
            RateLimitCall.objects.create(
                model_key=key, holder=holder, started_at=_at(now), expires_at=_at(now + ttl_s)
            )
        return GRANTED

    def release(self, key: str, *, holder: str, refund: bool = False) -> None:
        mine = RateLimitCall.objects.filter(model_key=key, holder=holder)
        if refund:
            mine.delete()
        else:
            now = _at(self._clock())
            mine.filter(expires_at__gt=now).update(expires_at=now)

    def penalize(self, key: str, *, retry_after: float | None, call_started: float) -> float:
        now = self._clock()
        with transaction.atomic():
            state = _locked_state(key)
            cooldown = _retry_after(retry_after)
            at = state.penalized_at.timestamp() if state.penalized_at else 0.0
            # Calls that were already in flight when the model was last penalised answer
            # 429 too; they must not escalate again (one decrease per round trip).
            if call_started >= at:
                penalty, backoff = escalated(_state_penalty(state, now))
                state.penalty, state.penalized_at = penalty, _at(now)
                cooldown = max(cooldown, backoff)
            current = state.cooldown_until.timestamp() if state.cooldown_until else 0.0
            until = max(current, now + cooldown)
            state.cooldown_until = _at(until)
            state.save(update_fields=["penalty", "penalized_at", "cooldown_until"])
        return until - now

    def usage(self, key: str) -> Usage:
        now = self._clock()
        calls = RateLimitCall.objects.filter(model_key=key)
        state = RateLimitState.objects.filter(model_key=key).first()
        until = state.cooldown_until.timestamp() if state and state.cooldown_until else 0.0
        return Usage(
            in_flight=calls.filter(expires_at__gt=_at(now)).count(),
            started_in_window=calls.filter(started_at__gt=_at(now - WINDOW_S)).count(),
            cooldown_s=max(0.0, until - now),
            penalty=_state_penalty(state, now) if state else 0.0,
        )


def _locked_state(key: str) -> RateLimitState:
    """The model's state row, locked until the transaction ends; created on first use."""
    locked = RateLimitState.objects.select_for_update()
    state = locked.filter(model_key=key).first()
    if state is None:
        try:
            with transaction.atomic():  # a savepoint: losing the insert race is fine
                RateLimitState.objects.create(model_key=key)
        except IntegrityError:
            pass
        state = locked.get(model_key=key)
    return state


def _state_penalty(state: RateLimitState, now: float) -> float:
    at = state.penalized_at.timestamp() if state.penalized_at else now
    return decayed_penalty(state.penalty, at, now)


# --- configuration -------------------------------------------------------------------------


def limits_for(model_key: str) -> ModelLimits:
    """The configured limits of a model: its own entry, else the hosted default; a model
    on the local provider is unlimited unless it has an entry of its own."""
    own = settings.STUDIO_MODEL_LIMITS.get(model_key)
    if own is None:
        try:
            if catalog.get_model(model_key).provider == "local":
                return ModelLimits()
        except LookupError:
            pass
    raw: dict[str, Any] = {**settings.STUDIO_LIMITS_DEFAULT, **(own or {})}
    # 0 or null means "no cap": a cap of 0 would block the model forever.
    return ModelLimits(
        concurrency=int(raw["concurrency"]) if raw.get("concurrency") else None,
        rpm=int(raw["rpm"]) if raw.get("rpm") else None,
    )


def get_limiter() -> Limiter:
    backend = settings.STUDIO_LIMITS_BACKEND
    url = settings.STUDIO_LIMITS_REDIS_URL
    if backend == "auto":
        backend = "redis" if url else "database"
    return _limiter(backend, url, settings.STUDIO_LIMITS_KEY_PREFIX)


@functools.cache
def _limiter(backend: str, url: str, prefix: str) -> Limiter:
    # One per process and configuration: the Redis client's pool is thread-safe and
    # reconnects by itself after a fork.
    if backend == "redis":
        if not url:
            raise ValueError("STUDIO_LIMITS_BACKEND=redis needs STUDIO_LIMITS_REDIS_URL.")
        return RedisLimiter(url, prefix=prefix)
    if backend == "database":
        return DatabaseLimiter()
    raise ValueError(f"Unknown STUDIO_LIMITS_BACKEND {backend!r}: auto, redis or database.")


def _redis_errors() -> tuple[type[Exception], ...]:
    try:
        import redis
    except ImportError:  # pragma: no cover - redis comes with celery[redis]
        return ()
    return (redis.RedisError,)


# --- what the worker calls ----------------------------------------------------------------


def acquire(*, model_key: str, holder: str, ttl_s: float) -> Decision:
    limits = limits_for(model_key)
    if limits.unlimited:
        return GRANTED
    try:
        return get_limiter().acquire(model_key, holder=holder, limits=limits, ttl_s=ttl_s)
    except _redis_errors():
        # Fail open: Redis is a coordinator, not the source of truth. Without it the
        # provider's own 429s still slow us down through the retry policy.
        logger.warning("rate limiter unavailable; calling %s unthrottled", model_key)
        return GRANTED


def release(*, model_key: str, holder: str, refund: bool = False) -> None:
    if limits_for(model_key).unlimited:
        return
    try:
        get_limiter().release(model_key, holder=holder, refund=refund)
    except _redis_errors():
        logger.warning("rate limiter unavailable; %s's slot expires on its own", model_key)


def call_finished(*, model_key: str, holder: str) -> None:
    """The provider call ended (any outcome): free the slot and wake the next waiter."""
    if limits_for(model_key).unlimited:
        return
    release(model_key=model_key, holder=holder)
    generation_wake_waiter(model_key=model_key)


def report_rate_limited(
    *, model_key: str, retry_after: float | None, call_started: dt.datetime
) -> float | None:
    """A 429: cool the model down for every worker. Returns the shared cooldown in
    seconds, or None when the model is not limited (or the limiter is down)."""
    if limits_for(model_key).unlimited:
        return None
    try:
        cooldown = get_limiter().penalize(
            model_key, retry_after=retry_after, call_started=call_started.timestamp()
        )
    except _redis_errors():
        logger.warning("rate limiter unavailable; %s's 429 is not shared", model_key)
        return None
    logger.info("%s answered 429: every worker holds off for %.0f s", model_key, cooldown)
    return cooldown


def generation_wait(*, generation: Generation, decision: Decision) -> bool:
    """Leave a queued job queued until the limit may let it through.

    Not a state change, so no transition and no audit row: a conditional UPDATE on the
    (pk, version, state) the worker read, which loses quietly to any real move.
    """
    wait_s = decision.wait_s
    if decision.reason is Reason.CONCURRENCY:
        # The earliest slot *expiry* is only the worst case: slots are usually released
        # far sooner (and wake a waiter), so poll again after a while anyway.
        wait_s = min(wait_s, settings.STUDIO_LIMITS_POLL_SECONDS)
    # A little jitter so the waiters of one window do not all come back in one instant
    # (at most a minute: a pause of hours must not turn into one of hours and more).
    wait_s = max(wait_s, 0.0) + random.uniform(0, min(0.1 * wait_s + 0.5, 60.0))
    moved = Generation.objects.filter(
        pk=generation.pk, version=generation.version, state=generation.state
    ).update(
        next_attempt_at=timezone.now() + dt.timedelta(seconds=wait_s),
        waiting_reason=decision.message,
        kicked_at=None,  # the sweeper kicks it again as soon as it is due
    )
    return moved == 1


def generation_wake_waiter(*, model_key: str) -> int | None:
    """A slot of `model_key` just freed: bring the job that has waited longest for one
    forward to now and kick it, instead of leaving the slot idle until its next poll."""
    now = timezone.now()
    # The phase's model: a final may be rendered on another model than its previews.
    waiting = Generation.objects.filter(
        _queued_on(model_key),
        waiting_reason=WAITING_MESSAGES[Reason.CONCURRENCY],
        next_attempt_at__gt=now,
    )
    pk = waiting.order_by("state_changed_at", "pk").values_list("pk", flat=True).first()
    # Conditional, so two workers releasing at once never both kick the same job.
    if pk is None or not waiting.filter(pk=pk).update(next_attempt_at=now, kicked_at=now):
        return None
    transaction.on_commit(lambda: dispatch.kick(pk))
    return pk


# --- daily quotas: a pause of the model for every worker ----------------------------------


def quota_reset_after(now: dt.datetime) -> dt.datetime:
    """When a daily quota used up at `now` resets: the next STUDIO_QUOTA_RESET ("HH:MM
    Area/City", Google's midnight Pacific by default), as an aware UTC time."""
    clock, _, zone_name = settings.STUDIO_QUOTA_RESET.strip().partition(" ")
    hours, _, minutes = clock.partition(":")
    zone = zoneinfo.ZoneInfo(zone_name.strip() or "America/Los_Angeles")
    local = now.astimezone(zone)
    reset = local.replace(hour=int(hours), minute=int(minutes or 0), second=0, microsecond=0)
    if reset <= local:
        # The wall clock of the next day (a daylight-saving day is 23 or 25 hours long).
        reset = (reset + dt.timedelta(days=1)).replace(tzinfo=zone)
    return reset.astimezone(dt.UTC)


def model_paused_until(model_key: str, *, now: dt.datetime | None = None) -> dt.datetime | None:
    now = now or timezone.now()
    return (
        ModelPause.objects.filter(model_key=model_key, until__gt=now)
        .order_by("-until")
        .values_list("until", flat=True)
        .first()
    )


def model_pause(*, model_key: str, reason: str, now: dt.datetime | None = None) -> dt.datetime:
    """The provider said the model's daily quota is used up: no worker calls it until the
    quota resets. The first worker to say so makes the pause and tells the site admins
    once; the others (racing, or later the same day) find it made. Returns its end."""
    now = now or timezone.now()
    until = quota_reset_after(now)
    try:
        with transaction.atomic():
            ModelPause.objects.create(
                model_key=model_key, until=until, reason=reason[:300], created_at=now
            )
            admins = (
                get_user_model()
                .objects.filter(Q(is_staff=True) | Q(is_superuser=True), is_active=True)
                .values_list("pk", flat=True)
            )
            resets = timezone.localtime(until).strftime("%Y-%m-%d %H:%M %Z")
            notify_people(
                recipients=admins,
                kind=Notification.Kind.MODEL_PAUSED,
                text=(
                    f"{model_key} is paused until {resets}: {reason} Its jobs wait and "
                    f"resume on their own when the quota resets."
                ),
            )
    except IntegrityError:
        pass  # another worker paused it for this window first (and told the admins)
    logger.warning("%s: daily quota used up; paused for every worker until %s", model_key, until)
    return until


def _queued_on(model_key: str) -> Q:
    """Generations queued for a call to `model_key`: previews of its submissions, and
    finals rendered on it (a final may render on another model than its previews)."""
    return Q(state=State.PREVIEW_QUEUED, submission__model_key=model_key) | Q(
        Q(submission__final_model_key=model_key)
        | Q(submission__final_model_key="", submission__model_key=model_key),
        state=State.FINAL_QUEUED,
    )


def phase_model_key() -> Case:
    """A queued generation's model for the phase it waits for: a final may render on
    another model than its previews (cross-model previews)."""
    return Case(
        When(
            Q(state=State.FINAL_QUEUED) & ~Q(submission__final_model_key=""),
            then=F("submission__final_model_key"),
        ),
        default=F("submission__model_key"),
    )


def paused_until_subquery(now: dt.datetime) -> Subquery:
    """The end of the pause of a generation's model, for the claim's own query (which
    annotates `phase_model_key`)."""
    return Subquery(
        ModelPause.objects.filter(model_key=OuterRef("phase_model_key"), until__gt=now)
        .order_by("-until")
        .values("until")[:1]
    )


def model_pause_lift(*, model_key: str) -> int:
    """An admin raised the quota: end the model's pause now and bring its waiting jobs
    forward (the sweeper kicks them). Returns how many jobs were waiting."""
    now = timezone.now()
    with transaction.atomic():
        ModelPause.objects.filter(model_key=model_key, until__gt=now).update(until=now)
        return Generation.objects.filter(
            _queued_on(model_key),
            waiting_reason=WAITING_MESSAGES[Reason.QUOTA],
            next_attempt_at__gt=now,
        ).update(next_attempt_at=now, kicked_at=None)


def pause_decision(paused_until: dt.datetime, *, now: dt.datetime) -> Decision:
    return Decision(False, Reason.QUOTA, (paused_until - now).total_seconds())
