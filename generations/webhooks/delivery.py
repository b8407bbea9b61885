"""Sending deliveries: claim under a lease, sign, send to a checked and pinned address,
record the attempt, then retry with backoff, give up, or disable an endpoint that keeps
failing — the same robustness rules as renders.

- The delivery row is the truth. A Celery message (tasks.deliver_webhook) only kicks it;
  a duplicate or stale kick finds it not pending (or not due) and does nothing.
- The claim is a compare-and-set (pending and due -> sending, with a lease token and an
  expiry of timeout + grace); the HTTP call runs outside any transaction; the outcome
  is written only by the lease holder.
- Backoff waits are `next_attempt_at` in the database. The sweep (beat, every
  STUDIO_SWEEP_INTERVAL_SECONDS) kicks due deliveries whose kick is stale — retries, and
  lost messages — and returns expired leases (a worker that died mid-send) to the queue,
  counting the attempt.
- Success is any 2xx. Anything else (status, timeout, connection error) is retried, up
  to STUDIO_WEBHOOK_MAX_ATTEMPTS; an address the network rules refuse is not.
- A delivery that ends failed counts against its endpoint; STUDIO_WEBHOOK_DISABLE_AFTER
  of them in a row disable it (its waiting deliveries fail with it) and the project's
  admins are told. A success resets the count.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from generations import dispatch
from generations.models import (
    Membership,
    Notification,
    Role,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from generations.notifications import notify_people
from generations.webhooks import network
from generations.webhooks.signing import signed_headers

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
MAX_WAIT_S = 6 * 3600.0
EXCERPT_BYTES = 500
SWEEP_BATCH = 500

_client_lock = threading.Lock()
_clients: dict[int, httpx.Client] = {}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    response_ms: int | None = None
    error: str = ""
    excerpt: str = ""
    address: str | None = None
    retryable: bool = True
    retry_after_s: float | None = None


def webhook_deliver(*, delivery_id: int, client: httpx.Client | None = None) -> str:
    """Make one attempt at a delivery if it is due. Returns what happened, for logs."""
    claimed = _claim(delivery_id)
    if claimed is None:
        return "skipped"
    delivery, token = claimed
    outcome = _send(delivery, client or _shared_client())
    return _record(delivery, token, outcome)


def _claim(delivery_id: int) -> tuple[WebhookDelivery, uuid.UUID] | None:
    now = timezone.now()
    token = uuid.uuid4()
    lease = settings.STUDIO_WEBHOOK_TIMEOUT_SECONDS + settings.STUDIO_LEASE_GRACE_SECONDS
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
    ).update(
        status=Status.SENDING,
        lease_token=token,
        lease_expires_at=now + dt.timedelta(seconds=lease),
        attempt_count=F("attempt_count") + 1,
        kicked_at=None,
    )
    if not claimed:
        return None  # duplicate or stale kick, still backing off, or the endpoint is off
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    return delivery, token


def _send(delivery: WebhookDelivery, client: httpx.Client) -> Outcome:
    endpoint = delivery.endpoint
    try:
        to = network.target(endpoint.url)
    except network.Refused as refused:
        return Outcome(ok=False, error=f"Refused: {refused}"[:300], retryable=False)
    headers = signed_headers(
        secret=endpoint.secret, msg_id=delivery.msg_id, at=timezone.now(), body=delivery.payload
    )
    headers["content-type"] = "application/json"
    timeout_s = float(settings.STUDIO_WEBHOOK_TIMEOUT_SECONDS)
    request = network.pinned_request(
        client, to, body=delivery.payload.encode(), headers=headers, timeout_s=timeout_s
    )
    started = time.monotonic()
    try:
        response = client.send(request, stream=True)
        try:
            excerpt = _read_some(response)
        finally:
            response.close()
    except httpx.TimeoutException:
        return Outcome(
            ok=False,
            response_ms=_ms_since(started),
            error=f"No answer within {timeout_s:g} s.",
            address=to.address,
        )
    except httpx.HTTPError as exc:
        return Outcome(
            ok=False,
            response_ms=_ms_since(started),
            error=f"Connection failed: {type(exc).__name__}: {exc}"[:300],
            address=to.address,
        )
    code = response.status_code
    ok = 200 <= code < 300
    return Outcome(
        ok=ok,
        status_code=code,
        response_ms=_ms_since(started),
        error="" if ok else f"HTTP {code} {response.reason_phrase}"[:300],
        excerpt=excerpt,
        address=to.address,
        retry_after_s=None if ok else _retry_after(response.headers.get("retry-after")),
    )


def _read_some(response: httpx.Response) -> str:
    """The first bytes of the answer, for the log; the rest is not read."""
    kept = b""
    for chunk in response.iter_raw():
        kept += chunk
        if len(kept) >= EXCERPT_BYTES:
            break
    return kept[:EXCERPT_BYTES].decode("utf-8", "replace")


def _retry_after(raw: str | None) -> float | None:
    if not raw:
        return None
    if raw.strip().isdecimal():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def backoff_s(attempt: int, *, retry_after_s: float | None = None) -> float:
    """The wait after failed attempt `attempt` (1-based): the base doubled per attempt,
    half of it jittered, at most MAX_WAIT_S, never shorter than a Retry-After."""
    step = min(settings.STUDIO_WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1), MAX_WAIT_S)
    wait = step / 2 + random.uniform(0, step / 2)
    if retry_after_s is not None:
        wait = max(wait, min(retry_after_s, MAX_WAIT_S))
    return wait


def _record(delivery: WebhookDelivery, token: uuid.UUID, outcome: Outcome) -> str:
    now = timezone.now()
    number = delivery.attempt_count
    values: dict[str, object] = {
        "lease_token": None,
        "lease_expires_at": None,
        "last_status_code": outcome.status_code,
        "last_response_ms": outcome.response_ms,
        "last_error": outcome.error[:300],
    }
    if outcome.ok:
        result = "delivered"
        values.update(status=Status.SUCCEEDED, finished_at=now, next_attempt_at=None)
    elif outcome.retryable and number < settings.STUDIO_WEBHOOK_MAX_ATTEMPTS:
        wait = backoff_s(number, retry_after_s=outcome.retry_after_s)
        result = f"retry in {wait:.0f} s"
        values.update(status=Status.PENDING, next_attempt_at=now + dt.timedelta(seconds=wait))
    else:
        result = "failed"
        values.update(status=Status.FAILED, finished_at=now, next_attempt_at=None)
    with transaction.atomic():
        guard = WebhookDelivery.objects.filter(
            pk=delivery.pk, status=Status.SENDING, lease_token=token
        )
        if guard.update(**values) != 1:
            # The sweep took the lease back (and logged the attempt): this answer is late.
            logger.warning("webhook delivery %s: late answer ignored", delivery.pk)
            return "late"
        WebhookAttempt.objects.create(
            delivery_id=delivery.pk,
            number=number,
            started_at=now - dt.timedelta(milliseconds=outcome.response_ms or 0),
            address=outcome.address,
            status_code=outcome.status_code,
            response_ms=outcome.response_ms,
            ok=outcome.ok,
            error=outcome.error[:300],
            response_excerpt=outcome.excerpt[:500],
        )
        if outcome.ok:
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, failures_in_row__gt=0).update(
                failures_in_row=0
            )
        elif result == "failed":
            _count_failure(delivery.endpoint_id, last_error=outcome.error)
    return result


def _count_failure(endpoint_id: int, *, last_error: str) -> None:
    """One more delivery of the endpoint failed for good; disable it at the limit."""
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(failures_in_row=F("failures_in_row") + 1)
    endpoint = WebhookEndpoint.objects.select_related("project").get(pk=endpoint_id)
    limit = settings.STUDIO_WEBHOOK_DISABLE_AFTER
    if not endpoint.enabled or endpoint.failures_in_row < limit:
        return
    reason = f"{endpoint.failures_in_row} deliveries in a row failed (last: {last_error})"[:300]
    now = timezone.now()
    turned_off = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
        enabled=False, disabled_at=now, disabled_reason=reason
    )
    if not turned_off:
        return  # someone else disabled it first, and told the admins
    WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=Status.PENDING).update(
        status=Status.FAILED,
        finished_at=now,
        next_attempt_at=None,
        last_error="Not sent: the endpoint was disabled.",
    )
    admins = Membership.objects.filter(project_id=endpoint.project_id, role=Role.ADMIN)
    notify_people(
        recipients=admins.values_list("user_id", flat=True),
        kind=Notification.Kind.WEBHOOK_DISABLED,
        text=(
            f"Webhook endpoint {endpoint.url} of {endpoint.project.name} was disabled: "
            f"{reason}. Fix it, then enable it again on the project's Webhooks page."
        ),
    )
    logger.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)


# --- the sweep ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookSweepReport:
    reaped: int
    kicked: int


def webhooks_sweep() -> WebhookSweepReport:
    """Return expired leases (a worker died mid-send: the attempt counts, as a failure),
    then kick due deliveries whose last kick is stale: retries whose wait is over, and
    lost messages. Safe to run from several beat instances at once."""
    return WebhookSweepReport(reaped=_reap_expired(), kicked=_rekick_due())


def _reap_expired() -> int:
    expired = WebhookDelivery.objects.filter(
        status=Status.SENDING, lease_expires_at__lt=timezone.now()
    ).select_related("endpoint")[:SWEEP_BATCH]
    reaped = 0
    for delivery in expired:
        lost = Outcome(ok=False, error="No outcome recorded: the worker was lost (lease expired).")
        if delivery.lease_token and _record(delivery, delivery.lease_token, lost) != "late":
            reaped += 1
    return reaped


def _rekick_due() -> int:
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.STUDIO_KICK_STALE_SECONDS)
    due = WebhookDelivery.objects.filter(
        Q(kicked_at__isnull=True) | Q(kicked_at__lte=stale),
        status=Status.PENDING,
        next_attempt_at__lte=now,
        endpoint__enabled=True,
    )
    kicked = 0
    for pk in list(due.values_list("pk", flat=True)[:SWEEP_BATCH]):
        if due.filter(pk=pk).update(kicked_at=now):  # two sweepers never both kick it
            dispatch.kick_webhook(pk)
            kicked += 1
    return kicked


def _shared_client() -> httpx.Client:
    """One client per process (a client made before a prefork fork is not shared)."""
    pid = os.getpid()
    with _client_lock:
        client = _clients.get(pid)
        if client is None:
            client = _clients[pid] = network.new_client()
        return client
