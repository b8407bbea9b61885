"""The sweeper behind a backlog: 500 render kicks are queued, the render worker is killed
mid-render, and the lease it held is still reaped within two sweep intervals — the sweep
travels on the control queue, which no render backlog can hold up.

Real processes on the real broker: a render worker (one process, as if every slot were
busy) and a control worker running beat, as `make run` and production run them.
"""

from __future__ import annotations

import time

import pytest

from generations import services
from generations.models import Attempt, Generation, Transition
from tests.e2e.conftest import WorkerProcess, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.django_db(transaction=True)]

SWEEP_S = 2
BACKLOG = 500
RENDER_S = 3  # each render; the lease is the 1K timeout (6 s) plus 1 s of grace


def queue_previews(project, designer, count: int) -> list[Generation]:
    """`count` queued previews, each kicked once at commit, in order of creation."""
    made: list[Generation] = []
    while len(made) < count:
        submission = services.submission_create(
            project=project,
            user=designer,
            prompt=f"harbour at dawn, study {len(made)}",
            model_key="nano-banana-pro",
            aspect_ratio="16:9",
            preview_size="1K",
            variants=min(4, count - len(made)),
        )
        made.extend(submission.generations.order_by("variant"))
    return made


def test_a_killed_workers_lease_is_reaped_within_two_sweeps_behind_500_queued_kicks(
    worker_env, e2e_queues, tmp_path, project, designer
):
    env = {
        **worker_env,
        "STUDIO_SWEEP_INTERVAL_SECONDS": str(SWEEP_S),
        # Only the reaping is measured: no re-kicks of the backlog while the test runs.
        "STUDIO_KICK_STALE_SECONDS": "600",
    }
    render = WorkerProcess(env, tmp_path, e2e_queues.render, name="render", beat=False)
    control = WorkerProcess(env, tmp_path, e2e_queues.control, name="control", pool="solo")
    profile = f"fixed:latency={RENDER_S},fail=0"
    try:
        control.start()
        started = time.monotonic()
        victim, *_ = queue_previews(project, designer, BACKLOG)
        queued_s = time.monotonic() - started
        render.start(profile=profile)  # takes the first kick: the victim's
        wait_for(
            lambda: Generation.objects.filter(pk=victim.pk, state="preview_rendering").exists(),
            timeout=60,
            what="the first render",
        )
        lease_expires_at = Generation.objects.get(pk=victim.pk).lease_expires_at

        render.kill()
        render.start(profile=profile)  # back on the backlog, which it works through slowly
        reaped = wait_for(
            lambda: Transition.objects.filter(generation=victim, actor_kind="reaper").first(),
            timeout=60,
            what="the reaper",
        )
        untouched = Generation.objects.filter(state="preview_queued", attempt_count=0).count()
    finally:
        render.stop()
        control.stop()

    lag_s = (reaped.created_at - lease_expires_at).total_seconds()
    print(
        f"\n{BACKLOG} previews queued and kicked in {queued_s:.1f} s; lease reaped "
        f"{lag_s:.2f} s after it expired (sweep every {SWEEP_S} s) with {untouched} kicks "
        "still waiting"
    )
    assert (reaped.from_state, reaped.to_state) == ("preview_rendering", "preview_queued")
    assert 0 <= lag_s <= 2 * SWEEP_S, f"reaped {lag_s:.1f} s after the lease expired"
    assert untouched >= BACKLOG - 25, "the backlog must still be there when the reap happens"
    attempt = Attempt.objects.get(generation=victim, number=1)
    assert (attempt.outcome, attempt.error_kind) == ("abandoned", "lease_expired")
