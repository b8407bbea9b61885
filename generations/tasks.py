"""Celery tasks: thin interfaces that load ids and call the services."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from generations.batches.services import batch_drafts_prune as drafts_prune
from generations.batches.services import batch_kick
from generations.imaging.renditions import image_renditions_make
from generations.quality.drift import drift_alerts_send
from generations.rendering.economy import economy_poll as economy_lane_poll
from generations.rendering.jobs import generation_render
from generations.rendering.sweeper import generations_sweep
from generations.webhooks.delivery import webhook_deliver
from generations.webhooks.delivery import webhooks_sweep as deliveries_sweep

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, ignore_result=True)
def render_generation(self: Task, generation_id: int) -> str:
    outcome = generation_render(generation_id=generation_id, worker=self.request.hostname or "")
    logger.info("generation %s: %s", generation_id, outcome)
    return outcome


@shared_task(acks_late=True, ignore_result=True)
def make_renditions(image_id: int) -> str:
    """CPU work, on its own queue (settings.STUDIO_IMAGE_QUEUE); idempotent."""
    outcome = image_renditions_make(image_id=image_id)
    logger.info("renditions of image %s: %s", image_id, outcome)
    return outcome


@shared_task(ignore_result=True)
def sweep() -> None:
    report = generations_sweep()
    if report.reaped or report.kicked or report.renditions:
        logger.info(
            "sweep: %s leases reaped, %s jobs re-kicked, %s renditions re-kicked",
            report.reaped,
            report.kicked,
            report.renditions,
        )
    if report.released:
        logger.warning("sweep: released %s stray reservations", report.released)


@shared_task(ignore_result=True)
def drift_alerts() -> None:
    told = drift_alerts_send()
    if told:
        logger.warning("quality drift: %s new drops, site admins notified", told)


@shared_task(acks_late=True, ignore_result=True)
def kick_batch(batch_id: int) -> None:
    """Send the render kicks of a queued batch (one message from the request, thousands
    from here); lost or late, the sweeper kicks the jobs instead."""
    sent = batch_kick(batch_id=batch_id)
    logger.info("batch %s: kicked %s generations", batch_id, sent)


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt at a webhook delivery if it is due; idempotent (the row decides)."""
    outcome = webhook_deliver(delivery_id=delivery_id)
    logger.info("webhook delivery %s: %s", delivery_id, outcome)
    return outcome


@shared_task(ignore_result=True)
def webhooks_sweep() -> None:
    report = deliveries_sweep()
    if report.reaped or report.kicked:
        logger.info(
            "webhook sweep: %s leases returned, %s deliveries kicked", report.reaped, report.kicked
        )


@shared_task(ignore_result=True)
def batch_drafts_prune() -> None:
    deleted = drafts_prune()
    if deleted:
        logger.info("deleted %s batch plans nobody queued", deleted)


@shared_task(ignore_result=True)
def economy_poll() -> None:
    """The economy lane's one poller (beat, control queue): reconcile, send, poll, store."""
    report = economy_lane_poll()
    if report.created or report.reconciled or report.ended or report.stored:
        logger.info(
            "economy lane: %s jobs created (%s finals), %s reconciled, %s polls, %s ended, "
            "%s results recorded",
            report.created,
            report.sent,
            report.reconciled,
            report.polled,
            report.ended,
            report.stored,
        )
    for error in report.errors:
        logger.warning("economy lane: %s", error)
