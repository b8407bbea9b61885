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
