"""Sending messages to the workers, by task name (the names are wire format: queued
messages and beat refer to them), so that nothing here imports the tasks module and the
domains below it can send without an import cycle.

A message that fails to send is not lost work: the job is recorded in the database and
the sweeper sends it again."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)

RENDER_TASK = "generations.tasks.render_generation"
RENDITIONS_TASK = "generations.tasks.make_renditions"
WEBHOOK_TASK = "generations.tasks.deliver_webhook"
BATCH_KICK_TASK = "generations.tasks.kick_batch"


def send(task_name: str, *args: object, queue: str, expires: float | None = None) -> bool:
    """Send one message; False (and a warning) if the broker cannot take it now."""
    try:
        current_app.send_task(task_name, args=args, queue=queue, expires=expires)
    except Exception:  # the broker being down must not fail the web request or the render
        logger.warning("could not send %s%s; the sweeper will retry", task_name, args)
        return False
    return True


def kick(generation_id: int) -> None:
    send(RENDER_TASK, generation_id, queue=settings.STUDIO_RENDER_QUEUE)


def kick_batch(batch_id: int) -> None:
    """One message for a whole batch: a worker sends its jobs' kicks (kick_many), so the
    request that queued thousands of generations sends one message, not thousands."""
    send(BATCH_KICK_TASK, batch_id, queue=settings.STUDIO_RENDER_QUEUE)


def kick_many(generation_ids: list[int]) -> None:
    """Kick many jobs over one broker connection; a failed send is left to the sweeper
    like any other."""
    if not generation_ids:
        return
    queue = settings.STUDIO_RENDER_QUEUE
    try:
        with current_app.producer_or_acquire() as producer:
            for generation_id in generation_ids:
                current_app.send_task(
                    RENDER_TASK, args=(generation_id,), queue=queue, producer=producer
                )
    except Exception:
        logger.warning(
            "could not send %d kicks of a batch; the sweeper will retry", len(generation_ids)
        )


def kick_webhook(delivery_id: int) -> None:
    """Webhook deliveries go to STUDIO_WEBHOOK_QUEUE, by default the render queue."""
    queue = settings.STUDIO_WEBHOOK_QUEUE or settings.STUDIO_RENDER_QUEUE
    send(WEBHOOK_TASK, delivery_id, queue=queue)
