"""Chaos: real render, images and control workers on PostgreSQL and a Redis of the test's
own, while the test SIGKILLs workers at chosen points of a render, restarts the broker and
cuts a worker's database connection. Afterwards nothing may be lost, doubled or left open:
every generation is settled (terminal or in review), every stored file belongs to an image
row and every row's files exist, the ledger charges exactly the billed attempts, the
roll-ups equal a recount, and every budget reservation is closed.

The points come from generations.chaos (STUDIO_CHAOS_PAUSE_AT): at each named stage a
worker logs "chaos: pid … paused at …" and sleeps a moment, and the test acts on the line.
The plan is drawn from a seeded random (STUDIO_CHAOS_SEED, default 16): a failure
reproduces with the seed it prints. Run it alone with `pytest -m chaos -s`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Sum

from generations import services
from generations.models import (
    Attempt,
    Budget,
    FallbackPolicy,
    Generation,
    Image,
    LedgerEntry,
    Membership,
    Reservation,
    Role,
    Transition,
)
from generations.review import decisions
from tests.e2e.conftest import WorkerProcess, wait_for
from tests.support.factories import ProjectFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.chaos,
    pytest.mark.skipif(
        not django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="chaos runs on PostgreSQL: it cuts a worker's connection with "
        "pg_terminate_backend, and SQLite's one writer would serialise the workers",
    ),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

SEED = int(os.environ.get("STUDIO_CHAOS_SEED") or 16)
KILLS = 20
PAUSE_S = 0.5  # how long a worker waits at a chaos point: the window the test acts in
RENDER_STAGES = ("provider", "ingest", "stored", "ledger")
IMAGE_STAGES = ("renditions",)
UNSETTLED = {"preview_queued", "preview_rendering", "final_queued", "final_rendering"}
SETTLED_OK = {"in_review", "delivered", "delivered_fallback", "preview_failed", "final_failed"}
CHAOS_POLICY = {
    "1K": {"timeout": 5, "tries": 3, "base_delay": 1},
    "2K": {"timeout": 6, "tries": 3, "base_delay": 1},
}
MARKER = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*chaos: pid (?P<pid>\d+) paused at "
    r"(?P<stage>\w+)"
)


# --- the plan ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    stage: str
    whole: bool  # the worker's whole process group (a lost machine), else the pool process

    @property
    def target(self) -> str:
        return "images" if self.stage in IMAGE_STAGES else "render"

    def __str__(self) -> str:
        return f"{self.stage}/{'worker' if self.whole else 'process'}"


@dataclass(frozen=True)
class BrokerRestart:
    def __str__(self) -> str:
        return "broker restart"


@dataclass(frozen=True)
class DatabaseCut:
    def __str__(self) -> str:
        return "database cut"


Event = Kill | BrokerRestart | DatabaseCut


def chaos_plan(rng: random.Random) -> list[Event]:
    """20 kills (every stage at least once), a broker restart and a connection cut."""
    stages = [*RENDER_STAGES, *IMAGE_STAGES]
    stages += [
        rng.choice(IMAGE_STAGES) if rng.random() < 0.25 else rng.choice(RENDER_STAGES)
        for _ in range(KILLS - len(stages))
    ]
    events: list[Event] = [Kill(stage, whole=rng.random() < 0.3) for stage in stages]
    rng.shuffle(events)
    events.insert(rng.randint(4, len(events) - 4), BrokerRestart())
    events.insert(rng.randint(2, len(events) - 2), DatabaseCut())
    return events


# --- the broker of the test's own -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """redis-server on a spare loopback port, without persistence: a restart loses every
    queued and unacknowledged message, as a crashed broker does."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.folder),
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(command, start_new_session=True)  # noqa: S603
        wait_for(self.ping, timeout=20, what="redis-server", every=0.05)

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path, monkeypatch):
    """The broker of the workers and of this test's own kicks (submissions, approvals)."""
    if not shutil.which("redis-server"):
        pytest.skip("the chaos suite restarts a redis-server of its own; none is installed")
    from studio.celery import app

    server = RedisServer(tmp_path)
    server.start()
    monkeypatch.setattr(app.conf, "broker_url", server.url)
    app._after_fork()  # drop the pooled connections to the session's broker
    try:
        yield server
    finally:
        server.kill()
        monkeypatch.undo()
        app._after_fork()


# --- reading the workers' chaos points --------------------------------------------------


class Markers:
    """The chaos lines a worker wrote since the last look, following it across restarts."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker, self.path, self.offset = worker, None, 0

    def fresh(self) -> list[tuple[int, str]]:
        """(pid, stage) of the points a process is paused at right now."""
        if self.worker.log != self.path:
            self.path, self.offset = self.worker.log, 0
        with self.worker.log.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        complete = data.rfind(b"\n") + 1
        self.offset += complete
        now = dt.datetime.now(tz=dt.UTC)
        found = []
        for line in data[:complete].decode(errors="replace").splitlines():
            match = MARKER.search(line)
            if not match:
                continue
            # The log's clock is the local time of the worker, on this machine.
            at = dt.datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f").astimezone()
            if (now - at).total_seconds() < PAUSE_S - 0.15:  # still paused: act now
                found.append((int(match["pid"]), match["stage"]))
        return found

    def wait(self, stage: str, *, timeout: float = 40) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid, seen in self.fresh():
                if seen == stage:
                    return pid
            time.sleep(0.03)
        raise AssertionError(f"no {self.worker.name} worker reached {stage!r} in {timeout:.0f} s")


# --- the test ----------------------------------------------------------------------------


def make_people_and_work():
    """Two projects, 16 previews: one project reviews (the test approves three variants in
    four and leaves the fourth in review), the other approves automatically."""
    designer, reviewer = UserFactory(username="dana"), UserFactory(username="rui")
    reviewed = ProjectFactory(
        slug="reviewed", final_size="2K", fallback_policy=FallbackPolicy.DELIVER_PREVIEW
    )
    automatic = ProjectFactory(
        slug="automatic",
        final_size="2K",
        review_required=False,
        fallback_policy=FallbackPolicy.UPSCALE,
    )
    for project in (reviewed, automatic):
        Membership.objects.create(project=project, user=designer, role=Role.DESIGNER)
        Budget.objects.create(project=project, amount_usd=Decimal(500))
    Membership.objects.create(project=reviewed, user=reviewer, role=Role.REVIEWER)
    for n in range(4):
        services.submission_create(
            project=reviewed if n % 2 else automatic,
            user=designer,
            prompt=f"a glass greenhouse in a snowstorm, study {n}",
            model_key="nano-banana-pro",
            aspect_ratio="16:9",
            preview_size="1K",
            variants=4,
        )
    return reviewed, reviewer


def approve_ready(project, reviewer) -> None:
    for generation in Generation.objects.filter(project=project, state="in_review", variant__lt=4):
        decisions.generation_approve(generation_id=generation.pk, user=reviewer)


def settled(project, reviewer) -> bool:
    approve_ready(project, reviewer)
    return (
        not Generation.objects.filter(state__in=UNSETTLED).exists()
        and not Attempt.objects.filter(outcome="running").exists()
        and not Image.objects.filter(thumbnail="", renditions_error="").exists()
    )


def stored_files(media: Path) -> set[str]:
    return {str(path.relative_to(media)) for path in media.rglob("*") if path.is_file()}


def referenced_files() -> set[str]:
    names = set()
    for row in Image.objects.values("original", "thumbnail", "screen"):
        names |= {name for name in row.values() if name}
    return names


def test_nothing_is_lost_doubled_or_left_open_after_20_kills_a_broker_restart_and_a_cut(
    worker_env, e2e_queues, tmp_path, own_redis, settings
):
    began = time.monotonic()
    rng = random.Random(SEED)
    plan = chaos_plan(rng)
    print(f"\nchaos seed {SEED}: " + ", ".join(map(str, plan)))

    env = {
        **worker_env,
        "CELERY_BROKER_URL": own_redis.url,
        "STUDIO_ATTEMPT_POLICY": json.dumps(CHAOS_POLICY),
        "STUDIO_LEASE_GRACE_SECONDS": "2",
        "STUDIO_KICK_STALE_SECONDS": "10",
        "STUDIO_CHAOS_PAUSE_SECONDS": str(PAUSE_S),
    }
    render_chaos = {"STUDIO_CHAOS_PAUSE_AT": ",".join(RENDER_STAGES), "PGAPPNAME": "chaos-render"}
    images_chaos = {"STUDIO_CHAOS_PAUSE_AT": ",".join(IMAGE_STAGES), "PGAPPNAME": "chaos-images"}
    profile = "fixed:latency=0.2,fail=0"
    render = WorkerProcess(
        env, tmp_path, e2e_queues.render, name="render", beat=False, concurrency=2
    )
    images = WorkerProcess(env, tmp_path, e2e_queues.images, name="images", beat=False)
    control = WorkerProcess(env, tmp_path, e2e_queues.control, name="control", pool="solo")
    workers = {"render": (render, render_chaos), "images": (images, images_chaos)}
    markers = {"render": Markers(render), "images": Markers(images)}

    reviewed, reviewer = make_people_and_work()
    for worker, extra in workers.values():
        worker.start(profile=profile, extra_env=extra, wait=False)
    control.start(extra_env={"PGAPPNAME": "chaos-control"}, wait=False)
    for worker in (render, images, control):
        worker.wait_ready()

    done: Counter[str] = Counter()
    terminated = 0
    try:
        for event in plan:
            approve_ready(reviewed, reviewer)
            if isinstance(event, Kill):
                worker, extra = workers[event.target]
                pid = markers[event.target].wait(event.stage)
                if event.whole:
                    worker.kill()
                    # Not waited for: the next point of this worker comes once it is up.
                    worker.start(profile=profile, extra_env=extra, wait=False)
                else:
                    os.kill(pid, signal.SIGKILL)
            elif isinstance(event, BrokerRestart):
                own_redis.kill()
                time.sleep(1)
                own_redis.start()
            else:
                markers["render"].wait("ledger")
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'chaos-render' "
                        "AND state = 'idle in transaction'"
                    )
                    terminated = sum(1 for (ok,) in cursor.fetchall() if ok)
            done[str(event)] += 1
        chaos_s = time.monotonic() - began

        # No more pauses: the workers finish what is left, as after the incident.
        for worker, extra in workers.values():
            worker.stop()
            worker.start(profile=profile, extra_env={"PGAPPNAME": extra["PGAPPNAME"]}, wait=False)
        for worker, _ in workers.values():
            worker.wait_ready()
        wait_for(lambda: settled(reviewed, reviewer), timeout=150, what="everything settled")
    finally:
        for worker in (render, images, control):
            worker.stop()
        if os.environ.get("E2E_SHOW_WORKER_LOGS"):
            print(render.logs(), images.logs(), control.logs(), sep="\n")
    took_s = time.monotonic() - began

    states = Counter(Generation.objects.values_list("state", flat=True))
    outcomes = Counter(Attempt.objects.values_list("outcome", flat=True))
    charges = LedgerEntry.objects.filter(kind="charge")
    charged = list(charges.values_list("attempt_id", flat=True))
    billed = set(
        Attempt.objects.filter(outcome__in=["succeeded", "discarded"]).values_list("pk", flat=True)
    )
    for provider, kinds in django_settings.STUDIO_BILLED_FAILURES.items():
        billed |= set(
            Attempt.objects.filter(
                outcome="failed", provider=provider, error_kind__in=kinds
            ).values_list("pk", flat=True)
        )
    files, referenced = stored_files(Path(settings.MEDIA_ROOT)), referenced_files()
    reservations = Counter(Reservation.objects.values_list("status", flat=True))
    stray = control.logs().count("stray reservations")
    rollups = StringIO()
    call_command("spend_rollup_check", stdout=rollups)
    reaps = Transition.objects.filter(actor_kind="reaper").count()
    print(
        f"chaos seed {SEED}: {sum(done.values())} events in {chaos_s:.0f} s, all settled "
        f"after {took_s:.0f} s\n"
        f"  events: {dict(sorted(done.items()))}; backends cut: {terminated}\n"
        f"  generations: {dict(sorted(states.items()))}\n"
        f"  attempts: {dict(sorted(outcomes.items()))}; leases reaped: {reaps}\n"
        f"  images: {Image.objects.count()} rows, {len(referenced)} files named, "
        f"{len(files)} files stored\n"
        f"  ledger: {len(charged)} charges (${charges.aggregate(s=Sum('amount_usd'))['s']}, "
        f"{charges.filter(waste=True).count()} waste) for {len(billed)} billed attempts\n"
        f"  reservations: {dict(sorted(reservations.items()))}; released as strays: {stray}\n"
        f"  roll-ups: {rollups.getvalue().strip()}"
    )

    # The chaos happened.
    assert sum(n for key, n in done.items() if "/" in key) == KILLS
    assert {key.split("/")[0] for key in done if "/" in key} == {*RENDER_STAGES, *IMAGE_STAGES}
    assert done["broker restart"] == 1 and done["database cut"] == 1
    assert terminated >= 1, "the cut must have hit a worker inside its transaction"
    assert reaps >= 1 and outcomes["abandoned"] >= 1
    # Nothing is left in flight, and nothing ended in a state a person cannot act on.
    assert set(states) <= SETTLED_OK, states
    assert outcomes["running"] == 0
    # Images: one per generation and phase, each file belongs to a row and exists.
    doubled = Image.objects.values("generation", "phase").annotate(n=Count("id")).filter(n__gt=1)
    assert not doubled.exists(), list(doubled)
    assert files - referenced == set(), "orphaned files"
    assert referenced - files == set(), "rows whose files are missing"
    for generation in Generation.objects.filter(state__in=["in_review", "delivered"]):
        phase = "preview" if generation.state == "in_review" else "final"
        assert generation.images.filter(phase=phase).count() == 1, generation
    # Money: one charge per billed attempt and no other; roll-ups recount; nothing reserved.
    assert len(charged) == len(set(charged)), "an attempt charged twice"
    assert set(charged) == billed
    assert "No drift" in rollups.getvalue()
    assert reservations["open"] == 0
    assert stray == 0, "reservations must be closed by the moves, not by the sweeper"
