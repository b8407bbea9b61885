"""Sending kicks to the workers. A kick that fails to send is not lost work: the job is
queued in the database and the sweeper kicks it again."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def kick(generation_id: int) -> None:
    from django.conf import settings

    from generations.tasks import render_generation

    try:
        render_generation.apply_async(args=(generation_id,), queue=settings.STUDIO_RENDER_QUEUE)
    except Exception:  # the broker being down must not fail the web request
        logger.warning("could not kick generation %s; the sweeper will retry", generation_id)
