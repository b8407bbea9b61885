"""The economy lane: approved finals sent in provider batch jobs (Gemini's Batch API, half
price, 24 h target), by ONE beat-driven poller (`economy_poll`, on the control queue like
the sweeper), never a task per item.

Each run of the poller:
1. reconciles jobs a crash left *recorded* (our row written, the provider's job not known
   to exist): the provider's jobs are searched for our key (the job's displayName); found,
   it is adopted; not found, it is created now. Never two jobs for one final;
2. sends the due economy finals: per model, in jobs of at most STUDIO_ECONOMY_MAX_ITEMS
   items whose inlined requests stay under the model's request limit. For each job, in
   one transaction, the job row (status recorded, our key, a lease) and its items are
   written — each final moved final_queued → final_rendering under a long lease
   (STUDIO_ECONOMY_LEASE_SECONDS) with its Attempt (lane batch, the job, its key = the
   attempt's lease token) — and only then is the job created at the provider;
3. polls the open jobs (each at most every STUDIO_ECONOMY_JOB_POLL_SECONDS); a job that
   has ended is marked so, then each item's outcome is recorded through the render
   worker's own code (rendering.jobs: store, move, charge in one transaction under the
   item's lease token) — an image, or the item's own error (retried in a later job,
   fallen back or failed by the attempt policy); a failed, cancelled or expired job fails
   every item it still holds. The job is *stored* once every item is recorded; a crash
   before that re-reads the results and records only the items not yet recorded (each
   attempt is finished once: a compare-and-set), so every result is stored once.

Money: the approval reserved the final at the economy lane's price (budgets.final_unit);
the charge uses that reservation (ledger, lane "batch"). An item cancelled while in a
job is discarded on arrival: an image that arrives is charged as waste (the provider
billed it; the cancel kept the reservation for it), an error is charged per the ledger's
rules (unbilled: the reservation is released).

A job is held by one poller at a time (a lease on its row, taken by a conditional
update), so two pollers that overlap (a slow run, two beats by mistake) never create,
poll or store the same job twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from generations import catalog, dispatch, flow, references
from generations.chaos import pause_at
from generations.lanes import Lane
from generations.models import Attempt, EconomyJob, Generation, Phase
from generations.providers import batch_provider_for
from generations.providers.base import (
    MalformedResponse,
    ProviderError,
    RenderRequest,
    ServerError,
    Timeout,
)
from generations.providers.batch import BatchItem, BatchProvider, JobState, JobStatus
from generations.rendering import escalation, jobs
from generations.rendering.policy import policy_for
from generations.spend import pricing
from generations.states import Actor, State, TransitionConflict
from generations.strategies import Strategy

logger = logging.getLogger(__name__)

# Base64 makes an input image 4/3 of its bytes; the JSON around a request is small.
_REQUEST_OVERHEAD: Final = 4096
_ANSWER_BYTES_PER_PIXEL: Final = 2  # a PNG's ~1.5 bytes per pixel, as base64
_DUE_SCAN: Final = 5000  # due finals looked at per run (the rest wait for the next run)
_OPEN: Final = (EconomyJob.Status.PENDING, EconomyJob.Status.RUNNING)
_ENDED: Final = (
    EconomyJob.Status.SUCCEEDED,
    EconomyJob.Status.FAILED,
    EconomyJob.Status.CANCELLED,
    EconomyJob.Status.EXPIRED,
)

ProviderFor = Callable[[catalog.ModelEntry], BatchProvider]


@dataclass
class PollReport:
    reconciled: int = 0  # recorded jobs adopted (found) or created after a crash
    created: int = 0  # jobs created at the provider
    sent: int = 0  # finals sent in them
    polled: int = 0  # status requests
    ended: int = 0  # jobs found ended
    stored: int = 0  # items whose outcome was recorded
    errors: list[str] = field(default_factory=list)


def economy_poll(*, provider_for: ProviderFor = batch_provider_for) -> PollReport:
    """One run of the economy lane's poller (beat: `tasks.economy_poll`)."""
    report = PollReport()
    _reconcile_recorded(report, provider_for)
    _send_due(report, provider_for)
    _poll_open(report, provider_for)
    return report


# --- 1. jobs recorded but not known to be created ----------------------------------------


def _reconcile_recorded(report: PollReport, provider_for: ProviderFor) -> None:
    for job in _free(EconomyJob.objects.filter(status=EconomyJob.Status.RECORDED)):
        token = _take(job)
        if token is None:
            continue
        try:
            provider = provider_for(catalog.get_model(job.model_key))
            found = provider.find(display_name=job.key)
        except ProviderError as error:
            _release(job, token, error=f"could not look the job up: {error.message}")
            report.errors.append(error.message)
            continue
        if found is not None:
            _created(job, token, found)
            report.reconciled += 1
            logger.warning("economy job %s: found %s at the provider, adopted", job.key, found.name)
            continue
        if _create(job, token, provider, report):
            report.reconciled += 1


# --- 2. due economy finals into new jobs -------------------------------------------------


def _send_due(report: PollReport, provider_for: ProviderFor) -> None:
    now = timezone.now()
    due = list(
        Generation.objects.filter(
            state=State.FINAL_QUEUED, final_lane=Lane.BATCH, next_attempt_at__lte=now
        )
        .select_related("submission", "project")
        .order_by("next_attempt_at", "pk")[:_DUE_SCAN]
    )
    by_model: dict[str, list[Generation]] = {}
    for generation in due:
        by_model.setdefault(generation.submission.final_model, []).append(generation)
    for model_key, generations in by_model.items():
        try:
            model = catalog.get_model(model_key)
        except LookupError:
            _to_standard(generations, why=f"{model_key} is no longer configured")
            continue
        refusal = catalog.economy_refusal(model_key=model_key, strategy="")
        if refusal:
            _to_standard(generations, why=refusal)
            continue
        provider = provider_for(model)
        for chunk in _chunks(generations, model):
            job, token = _record(chunk, model)
            if job is None or token is None:
                continue
            report.sent += job.items
            _create(job, token, provider, report)


def _chunks(generations: list[Generation], model: catalog.ModelEntry) -> Iterable[list[Generation]]:
    """Jobs of at most STUDIO_ECONOMY_MAX_ITEMS items whose inlined requests stay under the
    model's request limit (Gemini: 20 MB), estimated from the approved previews' sizes
    (an input image larger than the limit is downscaled to fit by the provider), and whose
    inlined answer — every image, base64, in one JSON document — stays readable in one
    piece: under STUDIO_ECONOMY_MAX_RESPONSE_BYTES, at ~2 bytes per pixel (a PNG of ~1.5
    bytes per pixel, 4/3 of it as base64). A 4K final is ~33 MB of answer."""
    limit = model.max_request_bytes
    answer_limit = settings.STUDIO_ECONOMY_MAX_RESPONSE_BYTES
    answer = 0
    previews = dict(
        Generation.objects.filter(
            pk__in=[g.pk for g in generations], images__phase=Phase.PREVIEW
        ).values_list("pk", "images__byte_size")
    )
    chunk: list[Generation] = []
    weight = 0
    for generation in generations:
        strategy = escalation.plan(generation).strategy
        inline = (previews.get(generation.pk) or 0) if strategy == Strategy.FROM_PREVIEW else 0
        item = min(4 * -(-inline // 3) + _REQUEST_OVERHEAD, limit)
        width, height = model.pixel_size(
            aspect_ratio=generation.submission.aspect_ratio, size=generation.submission.final_size
        )
        out = width * height * _ANSWER_BYTES_PER_PIXEL
        if chunk and (
            len(chunk) >= settings.STUDIO_ECONOMY_MAX_ITEMS
            or weight + item > limit
            or answer + out > answer_limit
        ):
            yield chunk
            chunk, weight, answer = [], 0, 0
        chunk.append(generation)
        weight += item
        answer += out
    if chunk:
        yield chunk


def _record(
    generations: list[Generation], model: catalog.ModelEntry
) -> tuple[EconomyJob | None, uuid.UUID | None]:
    """Write the job and its items before the job exists anywhere else: the row (with our
    key and this poller's lease) and, for each final, its move to final_rendering and its
    attempt. A final that moved meanwhile (cancelled) is left out; no final, no job."""
    now = timezone.now()
    token = uuid.uuid4()
    lease = dt.timedelta(seconds=settings.STUDIO_ECONOMY_LEASE_SECONDS)
    with transaction.atomic():
        job = EconomyJob.objects.create(
            key=f"proofstudio-economy-{uuid.uuid4().hex}",
            model_key=model.key,
            provider=model.provider,
            recorded_at=now,
            lease_token=token,
            lease_expires_at=now + _job_lease(),
        )
        items = 0
        for generation in generations:
            resolved = escalation.plan(generation)
            strategy = resolved.strategy
            if strategy == Strategy.UPSCALE:
                continue  # no model call: never in a job (the approval refuses it)
            number = generation.attempt_count + 1
            attempt_token = uuid.uuid4()
            has_preview = escalation.approved_preview(generation) is not None
            if not has_preview:
                strategy = Strategy.FROM_PROMPT  # nothing to send: prompt + seed
            try:
                flow.apply(
                    generation,
                    State.FINAL_RENDERING,
                    actor=Actor.WORKER,
                    reason=f"attempt {number} sent in economy job {job.key} (Batch API)",
                    attempt=number,
                    changes={
                        "lease_token": attempt_token,
                        "lease_expires_at": now + lease,
                        "attempt_count": number,
                        "tries_used": generation.tries_used + 1,
                        "waiting_reason": "In the economy lane: waiting for the Batch API job",
                        "kicked_at": None,
                    },
                )
            except TransitionConflict:
                continue  # cancelled (or moved) since it was read: not in this job
            Attempt.objects.create(
                generation=generation,
                number=number,
                phase=Phase.FINAL,
                size=generation.submission.final_size,
                provider=model.provider,
                model_id=model.model_id,
                model_key=generation.submission.final_model,
                lease_token=attempt_token,
                worker=f"economy poller ({job.key})"[:200],
                started_at=now,
                strategy=strategy,
                # The approved preview (by strategy) and the references, as the worker
                # counts them: the ledger charges each at the input_image price.
                input_images=pricing.final_inputs(
                    model_key=model.key,
                    strategy=strategy,
                    references=sum(
                        reference.picture is not None
                        for reference in references.references_of(generation.submission)
                    ),
                ),
                lane=Lane.BATCH,
                economy_job=job,
            )
            items += 1
        if not items:
            job.delete()
            return None, None
        job.items = items
        job.save(update_fields=["items"])
    logger.info("economy job %s recorded with %s finals of %s", job.key, items, model.key)
    return job, token


def _create(job: EconomyJob, token: uuid.UUID, provider: BatchProvider, report: PollReport) -> bool:
    """Create the recorded job at the provider (under this poller's lease), then record
    that it was created. A crash in between leaves it recorded: the next run finds it."""
    claims = [_claim_of(attempt) for attempt in _running(job)]
    if not claims:
        _stored(job, token)
        return False
    items = [BatchItem(key=str(c.attempt.lease_token), request=c.request) for c in claims]
    request_bytes = sum(_request_bytes(item.request) for item in items)
    pause_at("economy_recorded", job.key)
    try:
        status = provider.create(display_name=job.key, items=items)
    except ProviderError as error:
        del items, claims
        report.errors.append(error.message)
        if error.retryable:
            # Perhaps created all the same (a timeout): the next run looks before it creates.
            _release(job, token, error=f"creating the job failed: {error.message}")
            return False
        # The provider refuses the job as such (a bad key, a bad request): every item
        # fails as its call would have, by the attempt policy; nothing was billed.
        _fail_items(job, error, report)
        _stored(job, token, error=error.message)
        return False
    del items, claims
    pause_at("economy_created", job.key)
    _created(job, token, status, request_bytes=request_bytes)
    report.created += 1
    logger.info("economy job %s created as %s", job.key, status.name)
    return True


# --- 3. open jobs: poll, and store what ended ----------------------------------------


def _poll_open(report: PollReport, provider_for: ProviderFor) -> None:
    now = timezone.now()
    waiting = EconomyJob.objects.filter(
        Q(status__in=_OPEN, next_poll_at__lte=now) | Q(status__in=_ENDED)
    ).order_by("next_poll_at", "pk")
    for job in _free(waiting):
        token = _take(job)
        if token is None:
            continue
        try:
            provider = provider_for(catalog.get_model(job.model_key))
            status = provider.get(job.provider_job)
        except (ProviderError, LookupError) as error:
            message = getattr(error, "message", str(error))
            _release(job, token, error=f"polling failed: {message}", polled=True)
            report.errors.append(message)
            continue
        report.polled += 1
        if not status.state.ended:
            _release(job, token, status=status, polled=True)
            continue
        if job.status in _OPEN:
            EconomyJob.objects.filter(pk=job.pk, lease_token=token).update(
                status=status.state.value,
                provider_state=status.raw_state[:40],
                responses_file=status.responses_file[:200],
                finished_at=timezone.now(),
                polls=job.polls + 1,
            )
            report.ended += 1
        pause_at("economy_succeeded", job.key)
        _store(job, token, provider, status, report)


def _store(
    job: EconomyJob,
    token: uuid.UUID,
    provider: BatchProvider,
    status: JobStatus,
    report: PollReport,
) -> None:
    """Record each item's outcome once; then the job is stored."""
    running = {str(a.lease_token): a for a in _running(job)}
    # The poller shares the control worker with the sweeper: a big job is stored over
    # several runs (each records what is still missing), not in one long run.
    deadline = time.monotonic() + settings.STUDIO_ECONOMY_STORE_SECONDS
    if status.state == JobState.SUCCEEDED:
        try:
            for key, outcome in provider.results(status):
                attempt = running.pop(key, None)
                if attempt is None:
                    continue  # recorded already (a run that stopped mid-way), or not ours
                _record_outcome(attempt, outcome)
                del outcome
                report.stored += 1
                pause_at("economy_item", job.key)
                if time.monotonic() > deadline and running:
                    _release(job, token)  # the next run goes on where this one stopped
                    return
        except ProviderError as error:
            # The results could not be read (a download cut short): the next run reads
            # them again and records what is still missing.
            _release(job, token, error=f"reading the results failed: {error.message}")
            report.errors.append(error.message)
            return
        missing: ProviderError = MalformedResponse(
            "The batch job ended without an answer for this final."
        )
    elif status.state == JobState.EXPIRED:
        missing = Timeout(
            "The economy job expired before the provider ran it (Batch API jobs expire "
            "after 48 h); nothing was billed."
        )
    elif status.state == JobState.CANCELLED:
        missing = ServerError("The batch job was cancelled at the provider; nothing was billed.")
    else:
        said = f": {status.error}" if status.error else ""
        missing = ServerError(f"The batch job failed at the provider{said}.")
    for attempt in running.values():
        _record_outcome(attempt, missing)
        report.stored += 1
    _stored(job, token)


def _record_outcome(attempt: Attempt, outcome: object) -> str:
    claim = _claim_of(attempt, with_request=False)
    waited = (timezone.now() - attempt.started_at).total_seconds()
    if isinstance(outcome, ProviderError):
        return jobs.claim_failure_record(claim, outcome, latency_s=waited)
    return jobs.claim_result_record(claim, outcome, latency_s=waited)  # type: ignore[arg-type]


def _fail_items(job: EconomyJob, error: ProviderError, report: PollReport) -> None:
    for attempt in _running(job):
        _record_outcome(attempt, error)
        report.stored += 1


# --- the items as the render worker's claims -------------------------------------------


def _running(job: EconomyJob) -> list[Attempt]:
    return list(
        Attempt.objects.filter(economy_job=job, outcome=Attempt.Outcome.RUNNING).order_by("pk")
    )


def _claim_of(attempt: Attempt, *, with_request: bool = True) -> jobs.Claim:
    """An item as the render worker's claim, so its outcome is recorded by the worker's
    own code. The generation is taken as it was when the item was sent (final rendering
    under the item's lease): a final cancelled since then makes the recording's
    compare-and-set lose, and the result is discarded (and charged as waste if billed)."""
    generation = Generation.objects.select_related("submission__created_by", "project").get(
        pk=attempt.generation_id
    )
    if generation.state != State.FINAL_RENDERING or generation.lease_token != attempt.lease_token:
        generation.state = State.FINAL_RENDERING  # what it was when sent: the guard decides
    submission = generation.submission
    model = catalog.get_model(submission.final_model)
    policy = policy_for(attempt.size)
    request = jobs.render_request(generation, model=model, size=attempt.size, policy=policy)
    preview = escalation.approved_preview(generation)
    strategy = attempt.strategy or Strategy.FROM_PROMPT
    claim = jobs.Claim(
        generation=generation,
        attempt=attempt,
        phase=Phase.FINAL,
        policy=policy,
        request=request,
        model=model,
        strategy=strategy,
        preview=preview,
        references=references.references_of(submission),
    )
    if with_request:
        # The same request as the standard lane's: the preview first, then the references.
        jobs.claim_inputs_add(claim)
    return claim


def _request_bytes(request: RenderRequest) -> int:
    return _REQUEST_OVERHEAD + sum(4 * -(-len(image.data) // 3) for image in request.input_images)


def _to_standard(generations: list[Generation], *, why: str) -> None:
    """Finals that cannot go by the economy lane any more (the model was reconfigured):
    sent now instead, at the price they were reserved at, saying why."""
    for generation in generations:
        moved = Generation.objects.filter(
            pk=generation.pk, state=State.FINAL_QUEUED, final_lane=Lane.BATCH
        ).update(final_lane=Lane.STANDARD, waiting_reason=f"Sent now: {why}"[:200])
        if moved:
            transaction.on_commit(_kicker(generation.pk))


def _kicker(generation_id: int) -> Callable[[], None]:
    return lambda: dispatch.kick(generation_id)


# --- one poller per job: the lease on its row -----------------------------------------


def _job_lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.STUDIO_ECONOMY_JOB_LEASE_SECONDS)


def _free(jobs_: QuerySet[EconomyJob]) -> list[EconomyJob]:
    """Jobs no poller holds (at most 200 a run; the rest wait for the next run)."""
    now = timezone.now()
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    return list(jobs_.filter(free)[:200])


def _take(job: EconomyJob) -> uuid.UUID | None:
    now = timezone.now()
    token = uuid.uuid4()
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    taken = (
        EconomyJob.objects.filter(free, pk=job.pk)
        .exclude(status=EconomyJob.Status.STORED)
        .update(lease_token=token, lease_expires_at=now + _job_lease())
    )
    return token if taken else None


def _release(
    job: EconomyJob,
    token: uuid.UUID,
    *,
    error: str = "",
    status: JobStatus | None = None,
    polled: bool = False,
) -> None:
    now = timezone.now()
    values: dict[str, object] = {
        "lease_token": None,
        "lease_expires_at": None,
        "next_poll_at": now + dt.timedelta(seconds=settings.STUDIO_ECONOMY_JOB_POLL_SECONDS),
        "last_error": error[:2000],
    }
    if polled:
        values["polls"] = job.polls + 1
    if status is not None:
        values["status"] = (
            EconomyJob.Status.RUNNING if status.state == JobState.RUNNING else job.status
        )
        values["provider_state"] = status.raw_state[:40]
    EconomyJob.objects.filter(pk=job.pk, lease_token=token).update(**values)


def _created(
    job: EconomyJob, token: uuid.UUID, status: JobStatus, *, request_bytes: int = 0
) -> None:
    now = timezone.now()
    state = {
        JobState.PENDING: EconomyJob.Status.PENDING,
        JobState.RUNNING: EconomyJob.Status.RUNNING,
    }.get(status.state, EconomyJob.Status(status.state.value))
    EconomyJob.objects.filter(pk=job.pk, lease_token=token).update(
        provider_job=status.name[:200],
        status=state,
        provider_state=status.raw_state[:40],
        created_at=now,
        request_bytes=request_bytes or job.request_bytes,
        next_poll_at=now + dt.timedelta(seconds=settings.STUDIO_ECONOMY_JOB_POLL_SECONDS),
        lease_token=None,
        lease_expires_at=None,
        last_error="",
    )


def _stored(job: EconomyJob, token: uuid.UUID, *, error: str = "") -> None:
    values: dict[str, object] = {
        "status": EconomyJob.Status.STORED,
        "stored_at": timezone.now(),
        "lease_token": None,
        "lease_expires_at": None,
    }
    if error:
        values["last_error"] = error[:2000]
    EconomyJob.objects.filter(pk=job.pk, lease_token=token).update(**values)
