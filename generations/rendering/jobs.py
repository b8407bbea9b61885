"""The worker's side of the state machine: claim a due job under a lease, render it,
store the result, and record the outcome — retry with backoff, fall back, or fail.

Only the lease holder can write a result: every completing transition is guarded by the
lease token, so a worker whose lease expired (or whose job was cancelled) changes nothing
and its files are removed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from generations import catalog, flow, notifications, references
from generations.chaos import pause_at
from generations.imaging import codec, fidelity, renditions, workload
from generations.lanes import Lane
from generations.models import (
    Attempt,
    FallbackPolicy,
    Generation,
    Image,
    Phase,
    Reference,
    ReferenceRole,
    Submission,
)
from generations.providers import provider_for
from generations.providers.base import (
    EDIT_INSTRUCTION,
    DailyQuotaExhausted,
    InputRole,
    MalformedResponse,
    Provider,
    ProviderError,
    RateLimited,
    RenderRequest,
    RenderResult,
)
from generations.rendering import escalation, limits
from generations.rendering.policy import AttemptPolicy, backoff_seconds, lease_seconds, policy_for
from generations.review import decisions
from generations.sizes import pixel_size
from generations.spend import budgets, ledger, pricing
from generations.spend.rollups import SavingsCohort
from generations.states import QUEUED, RENDERING, Actor, State, TransitionConflict, phase_of
from generations.strategies import Strategy

# Image.note is a CharField(200).
_NOTE_CHARS = 200

logger = logging.getLogger(__name__)

_NEXT = {
    Phase.PREVIEW: (State.PREVIEW_RENDERING, State.IN_REVIEW, State.PREVIEW_QUEUED),
    Phase.FINAL: (State.FINAL_RENDERING, State.DELIVERED, State.FINAL_QUEUED),
}


class InternalError(ProviderError):
    """Our own failure while handling a result; retrying may help, nothing is billed."""

    retryable = True
    kind = "internal_error"


@dataclass
class Claim:
    generation: Generation
    attempt: Attempt
    phase: Phase
    policy: AttemptPolicy
    request: RenderRequest
    model: catalog.ModelEntry
    # A final's escalation strategy (as the model allows) and its approved preview.
    strategy: str = ""
    preview: Image | None = None
    # The submission's input images (references, an edit's source), in order.
    references: list[Reference] = dataclasses.field(default_factory=list)


def generation_render(
    *, generation_id: int, worker: str = "", provider: Provider | None = None
) -> str:
    """Make one attempt at a generation if it is due. Returns what happened, for logs."""
    claim = _claim(generation_id, worker=worker)
    if claim is None:
        return "skipped"
    _close_idle_db_connections()
    pause_at("provider", f"generation {generation_id}")
    started = time.monotonic()
    try:
        claim_inputs_add(claim)
        if claim.strategy == Strategy.UPSCALE and claim.preview is not None:
            result = escalation.Upscaler(claim.preview).render(claim.request)
        else:
            result = (provider or provider_for(claim.model)).render(claim.request)
    except ProviderError as error:
        return _record_failure(claim, error, latency_s=time.monotonic() - started)
    except Exception as exc:
        logger.exception(
            "provider %s crashed on generation %s", claim.model.provider, generation_id
        )
        crash = InternalError(f"Unexpected {type(exc).__name__} from the provider client.")
        return _record_failure(claim, crash, latency_s=time.monotonic() - started)
    finally:
        # Every outcome frees the model's slot: a success right after the call (the image
        # work that follows is not a provider call), a failure once it is recorded (so a
        # 429 has cooled the model down before a waiter is woken).
        limits.call_finished(model_key=claim.model.key, holder=str(claim.attempt.lease_token))
    return claim_result_record(claim, result, latency_s=time.monotonic() - started)


def claim_result_record(claim: Claim, result: RenderResult, *, latency_s: float) -> str:
    """Store a claimed call's image and record the success (or, for an image that fails
    the checks, the failure). The render worker's path, and the economy poller's for
    each image a batch job returns (generations.rendering.economy)."""
    meta = result.meta
    try:
        with workload.image_work():  # a few at a time per process: ~90 MiB each at 4K
            image = _store_result(claim, result)
    except codec.ImageRejected as exc:
        # Nothing was stored: every check runs before the original is written.
        failure = MalformedResponse(exc.message, meta=meta)
        return _record_failure(claim, failure, latency_s=latency_s)
    finally:
        del result  # the image bytes: not held through the outcome's transaction
    pause_at("stored", f"generation {claim.generation.pk}")
    return _record_success(claim, image, latency_s=latency_s, provider_meta=meta)


def claim_failure_record(claim: Claim, error: ProviderError, *, latency_s: float) -> str:
    """Record a claimed call's failure: retry with backoff, fall back or fail (the
    economy poller's path for a batch item's own error, or a job that ended without it)."""
    return _record_failure(claim, error, latency_s=latency_s)


def claim_inputs_add(claim: Claim) -> None:
    """The request's input images: a final's approved preview (by strategy) and the
    submission's references, as many as the model takes (the attempt counted them).
    The economy poller builds its items' requests with it too."""
    sent, gone = references.input_images(claim.references)
    if claim.references and claim.references[0].role == ReferenceRole.SOURCE and sent:
        sent = (replace(sent[0], role=InputRole.SOURCE), *sent[1:])
    limit = claim.model.max_input_images
    if claim.preview is not None:  # a final: its request (or upscale) by strategy
        claim.request = escalation.final_request(
            claim.request,
            strategy=Strategy(claim.strategy),
            preview=claim.preview,
            references=sent,
            limit=limit,
        )
    elif sent:
        edit = claim.references[0].role == ReferenceRole.SOURCE
        claim.request = replace(
            claim.request,
            input_images=sent[:limit],
            instruction=EDIT_INSTRUCTION if edit else "",
        )
    if gone:
        logger.warning("generation %s: %s", claim.generation.pk, "; ".join(gone))


def _close_idle_db_connections() -> None:
    """Hold no database connection through a call that may last minutes: a threads worker
    runs hundreds of calls at once, more than PostgreSQL's max_connections. The thread
    reconnects when it records the outcome. (Inside a transaction — tests — keep it.)"""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def _claim(generation_id: int, *, worker: str) -> Claim | None:
    # The designer comes in the same query: the preview's notes to reviewers name them.
    now = timezone.now()
    # And the end of a pause of its model (a used-up daily quota), in the same query.
    generation: Generation | None = (
        Generation.objects.select_related("submission__created_by", "project")
        .annotate(phase_model_key=limits.phase_model_key())
        .annotate(paused_until=limits.paused_until_subquery(now))
        # Most submissions send no input image: their references are not read at all.
        .annotate(has_references=references.any_of_submission())
        .filter(pk=generation_id)
        .first()
    )
    if generation is None or generation.state not in QUEUED:
        return None  # a duplicate or stale kick: someone else has it, or it moved on
    if generation.next_attempt_at and generation.next_attempt_at > now:
        return None  # still backing off; the sweeper kicks it when it is due
    if generation.not_before and generation.not_before > now:
        return None  # an off-peak final before its hours; the sweeper kicks it then
    paused_until = getattr(generation, "paused_until", None)
    if paused_until is not None:
        # The model's daily quota is used up: wait for the reset, using nothing.
        limits.generation_wait(
            generation=generation, decision=limits.pause_decision(paused_until, now=now)
        )
        return None
    phase = Phase(phase_of(generation.state))
    if phase is Phase.FINAL and generation.final_lane == Lane.BATCH:
        return None  # the economy lane: the economy poller sends it in a batch job
    submission = generation.submission
    size = _size_of(submission, phase)
    policy = policy_for(size)
    # The phase's model: a final may be rendered on another model than its previews.
    model = catalog.get_model(submission.model_of(phase))
    strategy, preview = "", None
    if phase is Phase.FINAL:
        strategy = escalation.plan(generation).strategy
        preview = escalation.approved_preview(generation)
        if preview is None:
            strategy = Strategy.FROM_PROMPT  # nothing to send or upscale: prompt + seed
    upscale = strategy == Strategy.UPSCALE
    token = uuid.uuid4()
    # The model's slot comes before the claim: a job that has to wait stays queued and
    # uses no attempt, no try and no audit row.
    slot = limits.acquire(model_key=model.key, holder=str(token), ttl_s=lease_seconds(size))
    if not slot.granted:
        limits.generation_wait(generation=generation, decision=slot)
        return None
    number = generation.attempt_count + 1
    try:
        # The input images it will send (references, an edit's source): counted on the
        # attempt, which the ledger charges at the input_image price.
        # (has_references: annotated by the claim's query; none, none to read.)
        has_any = getattr(generation, "has_references", True)
        inputs = references.references_of(submission) if has_any else []
        live = sum(reference.picture is not None for reference in inputs)
        if phase is Phase.FINAL:
            sent = pricing.final_inputs(model_key=model.key, strategy=strategy, references=live)
        else:
            sent = min(live, model.max_input_images)
        with transaction.atomic():
            generation = flow.apply(
                generation,
                _NEXT[phase][0],
                actor=Actor.WORKER,
                reason=f"attempt {number} claimed by {worker or 'a worker'}",
                attempt=number,
                changes={
                    "lease_token": token,
                    "lease_expires_at": now + dt.timedelta(seconds=lease_seconds(size)),
                    "attempt_count": number,
                    # Only moves write tries_used, and the move is guarded by the version
                    # read above: a plain value, so nothing is read back.
                    "tries_used": generation.tries_used + 1,
                    "waiting_reason": "",
                    "kicked_at": None,
                },
                savepoint=False,  # the attempt below is the rest of this transaction
            )
            attempt = Attempt.objects.create(
                generation=generation,
                number=number,
                phase=phase,
                size=size,
                provider=escalation.UPSCALE_PROVIDER if upscale else model.provider,
                model_id=escalation.UPSCALE_PROVIDER if upscale else model.model_id,
                model_key=model.key,
                lease_token=token,
                worker=worker[:200],
                started_at=now,
                strategy=strategy,
                input_images=sent,
            )
    except BaseException as exc:
        # No call will follow: give back the slot and its unit of the RPM budget.
        limits.release(model_key=model.key, holder=str(token), refund=True)
        if isinstance(exc, TransitionConflict):
            return None  # another worker claimed it first
        raise
    request = render_request(generation, model=model, size=size, policy=policy)
    return Claim(
        generation, attempt, phase, policy, request, model, strategy, preview, references=inputs
    )


def render_request(
    generation: Generation, *, model: catalog.ModelEntry, size: str, policy: AttemptPolicy
) -> RenderRequest:
    """The call's request before its input images: prompt, seed, size and the attempt's
    timeout (the render worker's claims and the economy poller's items alike)."""
    submission = generation.submission
    width, height = model.pixel_size(aspect_ratio=submission.aspect_ratio, size=size)
    return RenderRequest(
        prompt=submission.prompt,
        model_id=model.model_id,
        aspect_ratio=submission.aspect_ratio,
        size=size,
        width=width,
        height=height,
        seed=generation.seed,
        timeout_s=policy.timeout_s,
    )


def _size_of(submission: Submission, phase: Phase) -> str:
    return submission.preview_size if phase is Phase.PREVIEW else submission.final_size


def clauses(*parts: str) -> str:
    """Reasons joined as one sentence: "overloaded; no tries left", never "overloaded.; no
    tries left" when a provider's message ends with a full stop."""
    return "; ".join(part.rstrip(" .;") for part in parts if part.strip(" .;"))


def _store_result(claim: Claim, result: RenderResult) -> Image:
    upscale = claim.strategy == Strategy.UPSCALE
    width, height = claim.request.width, claim.request.height
    info = codec.ingest(
        result.data,
        # An upscale to the final's size is ours, not a provider's: its own pixel limit.
        max_pixels=max(settings.STUDIO_IMAGE_MAX_PIXELS, width * height)
        if upscale
        else settings.STUDIO_IMAGE_MAX_PIXELS,
        keep_screen=bool(settings.STUDIO_RENDITION_SPOOL_DIR),
        # A final is compared with its approved preview from the pixels decoded here.
        sample=escalation.sampler(width, height) if claim.preview is not None else None,
    )
    pause_at("ingest", f"generation {claim.generation.pk}")
    notes = []
    if (info.width, info.height) != (claim.request.width, claim.request.height):
        notes.append(
            f"asked for {claim.request.width}×{claim.request.height}, "
            f"got {info.width}×{info.height}"
        )
    if result.mime_type and result.mime_type != info.mime_type:
        # The bytes decide what is stored; the provider's claim is kept for the record.
        notes.append(f"provider said {result.mime_type[:40]}, got {info.mime_type}")
    notes.extend(result.notes)
    note = clauses(*notes)[:_NOTE_CHARS]
    image = _store_image(
        claim.generation,
        claim.phase,
        result.data,
        info,
        attempt=claim.attempt,
        native=not upscale,
        note=note,
        model_key=claim.model.key,
        size=claim.request.size,
    )
    if claim.preview is not None and info.sample is not None:
        measured = fidelity.compare(
            escalation.preview_sample(claim.preview, info.sample.size), info.sample
        )
        image.fidelity_ssim = measured.ssim
        image.fidelity_hash_distance = measured.hash_distance
    renditions.spool_put(info.sha256, info.screen)
    return image


def _store_image(
    generation: Generation,
    phase: Phase,
    data: bytes,
    info: codec.Ingested,
    *,
    attempt: Attempt | None,
    native: bool = True,
    note: str = "",
    model_key: str = "",
    size: str = "",
) -> Image:
    """Write the original exactly as received; the row is saved by whoever completes.

    Renditions are not made here: the transition that saves the row enqueues them on
    the CPU queue (generations.imaging.renditions), so a provider call never waits behind them.
    """
    extension = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}[info.mime_type]
    image = Image(
        generation=generation,
        phase=phase,
        attempt=attempt,
        sha256=info.sha256,
        mime_type=info.mime_type,
        width=info.width,
        height=info.height,
        byte_size=info.byte_size,
        bytes_per_pixel=info.bytes_per_pixel,
        native=native,
        note=note,
        model_key=model_key,
        size=size,
        placeholder=info.placeholder,
        # Detail measures describe what the model made; an upscale has none of its own.
        luma_entropy=info.luma_entropy if native else None,
        detail_energy=info.detail_energy if native else None,
    )
    stem = renditions.stem(image)
    image.original.name = default_storage.save(f"{stem}.{extension}", ContentFile(data))
    return image


def _delete_files(image: Image) -> None:
    for field in (image.original, image.thumbnail, image.screen):
        if field.name:
            default_storage.delete(field.name)
    renditions.spool_discard(image.sha256)


def _record_success(
    claim: Claim, image: Image, *, latency_s: float, provider_meta: dict[str, Any]
) -> str:
    generation, attempt = claim.generation, claim.attempt
    target = _NEXT[claim.phase][1]
    reason = f"attempt {attempt.number} rendered {image.width}×{image.height} in {latency_s:.1f} s"
    if claim.strategy:
        reason += f" ({Strategy(claim.strategy).label.lower()})"
    threshold = generation.project.fidelity_threshold
    if claim.phase is Phase.FINAL and escalation.differs(
        image, strategy=claim.strategy, threshold=threshold
    ):
        # Not silently delivered: a reviewer accepts it, re-renders or takes the upscale.
        target = State.FINAL_DIFFERS
        reason += f"; {escalation.held_reason(image, threshold=threshold)}"
    # A preview's first charge puts the generation in the savings roll-up's work of the
    # day: the move writes previewed_at, the charge is dated the same (SavingsCohort).
    first_charge = claim.phase is Phase.PREVIEW and generation.previewed_at is None
    changes: dict[str, Any] = {"last_error": "", "next_attempt_at": None}
    if first_charge:
        changes["previewed_at"] = timezone.now()
    try:
        with transaction.atomic():
            # Who hears of it, read once here: the notes, the webhooks and the
            # auto-approval below all go by this one read of the review setting.
            audience = (
                notifications.audience_read(generation) if target == State.IN_REVIEW else None
            )
            flow.apply(
                generation,
                target,
                actor=Actor.WORKER,
                lease_token=attempt.lease_token,
                attempt=attempt.number,
                reason=reason,
                changes=changes,
                savepoint=False,  # any error below rolls the whole outcome back
                # The lease-guarded move proves its attempt runs: the charge below closes
                # the reservation.
                attempt_running=True,
                audience=audience,
            )
            image.save()
            if image.fidelity_ssim is not None:
                Attempt.objects.filter(pk=attempt.pk).update(
                    fidelity_ssim=image.fidelity_ssim,
                    fidelity_hash_distance=image.fidelity_hash_distance,
                )
            renditions.enqueue_on_commit(image)
            finished = _finish_attempt(
                attempt,
                Attempt.Outcome.SUCCEEDED,
                latency_s=latency_s,
                provider_meta=provider_meta,
            )
            # The charge and the move are one fact: both commit or neither does. The
            # attempt ended just now, in this transaction (the reaper, which abandons
            # it, moves the generation first and waits for our lock), so it was never
            # charged: no look-up.
            ledger.ledger_charge_attempt(
                attempt=attempt,
                generation=generation,
                finished_now=finished,
                cohort=SavingsCohort.of(generation, first_charge=first_charge),
            )
            pause_at("ledger", f"generation {generation.pk}")
            # A project without review: the system approves the preview in this same
            # transaction, so nothing can be lost between the preview and its final.
            if target == State.IN_REVIEW and decisions.generation_auto_approve(
                generation=generation,
                review_required_now=None if audience is None else audience.review_required,
            ):
                target = State.FINAL_QUEUED
    except TransitionConflict as conflict:
        _delete_files(image)
        with transaction.atomic():
            _lock(generation)
            if _finish_attempt(
                attempt,
                Attempt.Outcome.DISCARDED,
                latency_s=latency_s,
                error_kind="discarded",
                error_message=str(conflict),
                provider_meta=provider_meta,
            ):
                # The provider was paid even though nobody wants the image any more (a
                # cancel kept the reservation for this call: the charge uses it up).
                ledger.ledger_charge_attempt(attempt=attempt, generation=generation, waste=True)
        return "discarded"
    return target


def _record_failure(claim: Claim, error: ProviderError, *, latency_s: float) -> str:
    generation, attempt = claim.generation, claim.attempt
    billed = ledger.failure_billed(
        provider=attempt.provider, error_kind=error.kind, error_billed=error.billed
    )
    with transaction.atomic():
        _lock(generation)
        recorded = _finish_attempt(
            attempt,
            Attempt.Outcome.FAILED,
            latency_s=latency_s,
            error_kind=error.kind,
            error_message=error.message,
            retryable=error.retryable,
            provider_meta=error.meta,
        )
        if recorded and billed:
            # A failure the provider bills: charged once, as waste, whatever happens next
            # to the generation (cancelled meanwhile or not, the call was paid). It uses
            # up the reservation; a retry reserves again.
            ledger.ledger_charge_attempt(attempt=attempt, generation=generation, waste=True)
        elif recorded:
            # Not billed: a reservation held only for this call (cancelled) is released.
            budgets.reservations_settle(
                generation_id=generation.pk,
                phase=claim.phase,
                reason=f"attempt {attempt.number} failed unbilled ({error.kind})",
            )
    cause = f"attempt {attempt.number} failed ({error.kind}): {error.message}"
    try:
        if isinstance(error, RateLimited | DailyQuotaExhausted):
            return _requeue_uncounted(claim, error, cause=cause)
        if error.retryable and generation.tries_used < claim.policy.tries:
            return _requeue(
                generation,
                claim.phase,
                actor=Actor.WORKER,
                lease_token=attempt.lease_token,
                attempt=attempt.number,
                delay_s=backoff_seconds(
                    claim.policy, tries_used=generation.tries_used, retry_after=error.retry_after
                ),
                reason=cause,
                waiting=f"Retrying after {error.kind.replace('_', ' ')}",
                last_error=error.message,
            )
        return _exhaust(
            generation,
            claim.phase,
            actor=Actor.WORKER,
            lease_token=attempt.lease_token,
            attempt=attempt.number,
            reason=cause if not error.retryable else clauses(cause, "no tries left"),
            last_error=error.message,
        )
    except TransitionConflict:
        return "discarded"  # cancelled (or reaped) while it rendered


def _requeue_uncounted(claim: Claim, error: ProviderError, *, cause: str) -> str:
    """The provider refused to take the call (429), so it says nothing about the job: the
    try is given back and the job waits with every other job of the model — for the shared
    cooldown after a rate limit, for the reset after a used-up daily quota (the model is
    paused for every worker, and the admins told once)."""
    generation, attempt = claim.generation, claim.attempt
    key = claim.model.key
    if isinstance(error, DailyQuotaExhausted):
        until = limits.model_pause(model_key=key, reason=error.message)
        delay_s = max((until - timezone.now()).total_seconds(), 0.0)
        resets = timezone.localtime(until).strftime("%Y-%m-%d %H:%M %Z")
        why = clauses(cause, f"the model is paused until {resets}; the try is not counted")
        waiting = limits.WAITING_MESSAGES[limits.Reason.QUOTA]
    else:
        # Slow the whole model down for every worker, not just this job.
        cooldown = limits.report_rate_limited(
            model_key=key, retry_after=error.retry_after, call_started=attempt.started_at
        )
        if cooldown is None:
            # A model without shared limits: this job's own backoff, growing with its
            # attempts (its tries are not counted, so they cannot grow it).
            cooldown = backoff_seconds(
                claim.policy, tries_used=attempt.number, retry_after=error.retry_after
            )
        delay_s = cooldown
        why = clauses(cause, "the try is not counted")
        waiting = limits.WAITING_MESSAGES[limits.Reason.COOLDOWN]
    return _requeue(
        generation,
        claim.phase,
        actor=Actor.WORKER,
        lease_token=attempt.lease_token,
        attempt=attempt.number,
        delay_s=delay_s,
        reason=why,
        waiting=waiting,
        last_error=error.message,
        tries_used=max(generation.tries_used - 1, 0),
    )


def _requeue(
    generation: Generation,
    phase: Phase,
    *,
    actor: Actor,
    lease_token: uuid.UUID,
    attempt: int,
    delay_s: float,
    reason: str,
    waiting: str,
    last_error: str,
    tries_used: int | None = None,
) -> str:
    due = timezone.now() + dt.timedelta(seconds=delay_s)
    target = _NEXT[phase][2]
    changes: dict[str, Any] = {
        "next_attempt_at": due,
        "waiting_reason": waiting,
        "last_error": last_error,
        "kicked_at": None,
    }
    if tries_used is not None:  # a try given back (the provider never took the call)
        changes["tries_used"] = tries_used
    try:
        flow.apply(
            generation,
            target,
            actor=actor,
            lease_token=lease_token,
            attempt=attempt,
            reason=clauses(reason, f"next try in {delay_s:.0f} s") if delay_s >= 1 else reason,
            changes=changes,
        )
    except budgets.BudgetExceeded as refusal:
        # A billed attempt used up the reservation and the budget has no room for another
        # try: the job ends failed, saying why (a person may retry once the budget allows).
        failed = State.PREVIEW_FAILED if phase is Phase.PREVIEW else State.FINAL_FAILED
        flow.apply(
            generation,
            failed,
            actor=actor,
            lease_token=lease_token,
            attempt=attempt,
            reason=clauses(reason, f"retry refused: {refusal.short}"),
            changes={"last_error": refusal.message, "waiting_reason": "", "next_attempt_at": None},
        )
        return failed
    return target


def _exhaust(
    generation: Generation,
    phase: Phase,
    *,
    actor: Actor,
    lease_token: uuid.UUID,
    attempt: int,
    reason: str,
    last_error: str,
) -> str:
    """No tries left: a preview fails; a final follows the project's fallback policy."""
    changes = {"last_error": last_error, "waiting_reason": "", "next_attempt_at": None}

    def move(target: State, why: str) -> None:
        flow.apply(
            generation,
            target,
            actor=actor,
            lease_token=lease_token,
            attempt=attempt,
            reason=why,
            changes=changes,
        )

    if phase is Phase.PREVIEW:
        move(State.PREVIEW_FAILED, reason)
        return State.PREVIEW_FAILED
    policy = generation.project.fallback_policy
    preview = generation.images.filter(phase=Phase.PREVIEW).first()
    if policy == FallbackPolicy.FAIL or preview is None:
        why = "fallback policy is to fail" if preview else "no preview to fall back on"
        move(State.FINAL_FAILED, clauses(reason, why))
        return State.FINAL_FAILED
    fallback = _fallback_image(generation, preview, upscale=policy == FallbackPolicy.UPSCALE)
    try:
        with transaction.atomic():
            move(State.DELIVERED_FALLBACK, clauses(reason, fallback.note))
            fallback.save()
            if not fallback.thumbnail.name:  # upscaled, or a preview still without them
                renditions.enqueue_on_commit(fallback)
    except TransitionConflict:
        if fallback.original.name != preview.original.name:
            _delete_files(fallback)
        raise
    return State.DELIVERED_FALLBACK


def _fallback_image(generation: Generation, preview: Image, *, upscale: bool) -> Image:
    if not upscale:
        # The preview's files are shared, not copied: same bytes, flagged in the note.
        return Image(
            generation=generation,
            phase=Phase.FINAL,
            original=preview.original.name,
            thumbnail=preview.thumbnail.name,
            screen=preview.screen.name,
            sha256=preview.sha256,
            mime_type=preview.mime_type,
            width=preview.width,
            height=preview.height,
            byte_size=preview.byte_size,
            bytes_per_pixel=preview.bytes_per_pixel,
            native=True,
            note=f"4K failed: the {preview.width}×{preview.height} preview delivered as final",
            model_key=preview.model_key,
            size=preview.size,
            placeholder=preview.placeholder,
            renditions_error=preview.renditions_error,
            luma_entropy=preview.luma_entropy,
            detail_energy=preview.detail_energy,
        )
    submission = generation.submission
    width, height = pixel_size(aspect_ratio=submission.aspect_ratio, size=submission.final_size)
    with preview.original.open("rb") as handle:
        data = codec.upscale(handle.read(), width=width, height=height)
    # Its own pixel limit: an upscale to the final's size is ours, not a provider's.
    info = codec.ingest(data, max_pixels=max(settings.STUDIO_IMAGE_MAX_PIXELS, width * height))
    return _store_image(
        generation,
        Phase.FINAL,
        data,
        info,
        attempt=None,
        native=False,
        note=f"4K failed: preview upscaled locally to {width}×{height} (upscaled, not native)",
        model_key=preview.model_key,
        size=submission.final_size,
    )


def _lock(generation: Generation) -> None:
    """Take the generation's row first, as every move does (flow.apply's UPDATE): the
    worker recording an outcome and the reaper then run one after the other, in one lock
    order (generation, attempt, reservation)."""
    list(Generation.objects.select_for_update().filter(pk=generation.pk).values_list("pk"))


def _finish_attempt(
    attempt: Attempt,
    outcome: Attempt.Outcome,
    *,
    latency_s: float | None = None,
    error_kind: str = "",
    error_message: str = "",
    retryable: bool | None = None,
    provider_meta: dict[str, Any] | None = None,
) -> bool:
    """Record how the call ended; False when the reaper got there first. An abandoned
    attempt stays abandoned (never charged, see generations.spend.ledger): its reservation
    went to the next attempt. The late result is noted on it and discarded."""
    now = timezone.now()
    if Attempt.objects.filter(pk=attempt.pk, outcome=Attempt.Outcome.RUNNING).update(
        outcome=outcome,
        finished_at=now,
        latency_ms=None if latency_s is None else round(latency_s * 1000),
        error_kind=error_kind,
        error_message=error_message,
        retryable=retryable,
        provider_meta=provider_meta or {},
    ):
        return True
    late = f"; a late result ({outcome}) came at {timezone.localtime(now):%H:%M:%S}, not charged"
    Attempt.objects.filter(pk=attempt.pk, outcome=Attempt.Outcome.ABANDONED).update(
        error_message=Concat(F("error_message"), Value(late)),
        provider_meta=provider_meta or {},
    )
    return False


def generation_reap(*, generation: Generation) -> str:
    """A rendering job whose lease expired: its worker died or hung. Requeue or exhaust."""
    now = timezone.now()
    token = generation.lease_token
    if token is None:  # only rendering generations hold a lease
        return "skipped"
    phase = Phase(phase_of(generation.state))
    submission = generation.submission
    size = _size_of(submission, phase)
    expired = timezone.localtime(generation.lease_expires_at).strftime("%H:%M:%S")
    cause = f"lease expired at {expired}: the worker stopped (killed or hung)"
    attempt = generation.attempt_count
    try:
        with transaction.atomic():
            if generation.tries_used < policy_for(size).tries:
                outcome = _requeue(
                    generation,
                    phase,
                    actor=Actor.REAPER,
                    lease_token=token,
                    attempt=attempt,
                    delay_s=0,
                    reason=clauses(cause, "returned to the queue"),
                    waiting="Requeued after a worker stopped",
                    last_error=cause,
                )
            else:
                outcome = _exhaust(
                    generation,
                    phase,
                    actor=Actor.REAPER,
                    lease_token=token,
                    attempt=attempt,
                    reason=clauses(cause, "no tries left"),
                    last_error=cause,
                )
            # Only once the move won, and in its transaction (generation row first, as the
            # worker locks them): a worker that finished just in time keeps its attempt.
            Attempt.objects.filter(
                generation=generation, lease_token=token, outcome=Attempt.Outcome.RUNNING
            ).update(
                outcome=Attempt.Outcome.ABANDONED,
                finished_at=now,
                error_kind="lease_expired",
                error_message=cause,
                retryable=True,
            )
            # Abandoned is not charged: a reservation held for it (the job ended) goes.
            budgets.reservations_settle(
                generation_id=generation.pk, phase=phase, reason=f"{cause}; not charged"
            )
            _delete_unrecorded_files(generation, phase)
    except TransitionConflict:
        return "skipped"
    return outcome


def attempts_reap_cancelled() -> int:
    """Attempts still running on a generation cancelled mid-call whose lease ran out (the
    generation no longer holds it, so the reaper's scan of rendering jobs misses them):
    abandoned, not charged, and the reservation the cancel kept for them is released."""
    now = timezone.now()
    running = Attempt.objects.filter(outcome=Attempt.Outcome.RUNNING).exclude(
        generation__state__in=RENDERING
    )
    reaped = 0
    for attempt in running.select_related("generation")[:500]:
        # An economy item waits in its batch job far longer than a call: its job's end
        # records it (billed or not); only a job lost for its whole lease is reaped here.
        lease = (
            settings.STUDIO_ECONOMY_LEASE_SECONDS
            if attempt.lane == Lane.BATCH
            else lease_seconds(attempt.size)
        )
        if attempt.started_at + dt.timedelta(seconds=lease) > now:
            continue
        with transaction.atomic():
            _lock(attempt.generation)
            cause = "lease expired after the job was cancelled: the worker stopped"
            if Attempt.objects.filter(pk=attempt.pk, outcome=Attempt.Outcome.RUNNING).update(
                outcome=Attempt.Outcome.ABANDONED,
                finished_at=now,
                error_kind="lease_expired",
                error_message=cause,
                retryable=False,
            ):
                budgets.reservations_settle(
                    generation_id=attempt.generation_id,
                    phase=attempt.phase,
                    reason=f"{cause}; not charged",
                )
                reaped += 1
    return reaped


def _delete_unrecorded_files(generation: Generation, phase: Phase) -> None:
    """A worker killed between storing its original and recording it left a file no row
    names; the reap removes it (nobody else can store for the phase until it commits)."""
    try:
        deleted = renditions.unrecorded_originals_delete(generation=generation, phase=phase)
    except Exception:  # storage trouble must not block the reap; the file only takes space
        logger.exception("could not tidy the files of generation %s", generation.pk)
        return
    if deleted:
        logger.info("generation %s: deleted %s unrecorded original(s)", generation.pk, deleted)
