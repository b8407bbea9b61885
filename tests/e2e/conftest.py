"""A real Celery worker process (with embedded beat) against the real broker and the test
database, for end-to-end tests. Messages go to a queue of the test's own, so nothing else
listening on the broker takes them and nothing left over reaches this worker."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

BASE_DIR = Path(django_settings.BASE_DIR)
# Short enough that a killed worker's lease expires within seconds.
E2E_ATTEMPT_POLICY = {
    "1K": {"timeout": 6, "tries": 2, "base_delay": 1},
    "2K": {"timeout": 6, "tries": 2, "base_delay": 1},
    "4K": {"timeout": 15, "tries": 2, "base_delay": 1},
}


# Node names unique across the xdist processes that run e2e tests side by side: on
# RabbitMQ a node's remote-control mailbox is an exclusive queue, so a second worker
# named e2e1@host could not start while the first lived.
_XDIST_SUFFIX = f"-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def database_url() -> str:
    """The URL of the database this test runs on, for a process of its own."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class WorkerProcess:
    """One `celery worker` process group: its main process, its pool and, with `beat`,
    an embedded beat. Each start writes a log of its own in `log_dir`."""

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        queue: str,
        *,
        name: str = "e2e",
        beat: bool = True,
        pool: str = "prefork",
        concurrency: int = 1,
    ) -> None:
        # `queue` may name several, comma-separated: renders, images and control.
        self.env, self.log_dir, self.queue = env, log_dir, queue
        self.name, self.beat, self.pool, self.concurrency = name, beat, pool, concurrency
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(
        self,
        *,
        profile: str = "fixed:latency=1,fail=0",
        extra_env: dict[str, str] | None = None,
        wait: bool = True,
    ) -> None:
        self.starts += 1
        self.log = self.log_dir / f"{self.name}-{self.starts}.log"
        env = {**self.env, "STUDIO_LOCAL_PROFILE": profile, **(extra_env or {})}
        beat = (
            ["--beat", "--schedule-filename", str(self.log_dir / f"{self.name}-beat-{self.starts}")]
            if self.beat
            else []
        )
        command = [
            sys.executable, "-m", "celery", "-A", "studio", "worker", *beat,
            "--queues", self.queue, "--concurrency", str(self.concurrency), "--pool", self.pool,
            "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--hostname", f"{self.name}{self.starts}{_XDIST_SUFFIX}@%h",
        ]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        wait_for(lambda: b" ready." in self.log.read_bytes(), timeout=60, what=f"{self.name} ready")

    def kill(self) -> None:
        """SIGKILL the whole worker: main process, pool child and beat, like a lost machine."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.log_dir.glob(f"{self.name}-*.log"))
        )


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass(frozen=True)
class Queues:
    """Queues of the test's own, so nothing else listening on the broker takes its messages
    and nothing left over reaches its workers."""

    render: str
    images: str
    control: str

    def all(self) -> list[str]:
        return [self.render, self.images, self.control]


def broker_queues_delete(names: list[str]) -> None:
    """Remove a test's queues from the session's broker (RabbitMQ keeps durable queues)."""
    from studio.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.default_channel
            for name in names:
                with contextlib.suppress(Exception):
                    channel.queue_purge(name)  # the filesystem broker only drops messages so
                with contextlib.suppress(Exception):
                    channel.queue_delete(name)
    except Exception:  # noqa: BLE001 - tidying up; a broker that is gone has nothing to tidy
        return


@pytest.fixture
def e2e_queues(settings) -> Iterator[Queues]:
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    queues = Queues(render=name, images=f"{name}-images", control=f"{name}-control")
    settings.STUDIO_RENDER_QUEUE = queues.render
    settings.STUDIO_IMAGE_QUEUE = queues.images
    settings.STUDIO_CONTROL_QUEUE = queues.control
    yield queues
    broker_queues_delete(queues.all())


@pytest.fixture
def worker_env(transactional_db, settings, e2e_queues) -> dict[str, str]:
    """The environment of a worker process on the test's database, media and queues."""
    settings.STUDIO_ATTEMPT_POLICY = E2E_ATTEMPT_POLICY
    settings.STUDIO_LEASE_GRACE_SECONDS = 1
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "STUDIO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "STUDIO_RENDITION_SPOOL_DIR": str(settings.STUDIO_RENDITION_SPOOL_DIR),
        "STUDIO_RENDER_QUEUE": e2e_queues.render,
        "STUDIO_IMAGE_QUEUE": e2e_queues.images,
        "STUDIO_CONTROL_QUEUE": e2e_queues.control,
        # The filesystem broker hands a worker about one message per poll (1 s): beat's two
        # sweeps every second would outrun it, so every sweep would expire in the queue.
        # Every 3 s there (make run sweeps every 10 s); every second on a real broker.
        "STUDIO_SWEEP_INTERVAL_SECONDS": "3" if FILESYSTEM_BROKER else "1",
        "STUDIO_KICK_STALE_SECONDS": "5",
        "STUDIO_LEASE_GRACE_SECONDS": "1",
        "STUDIO_ATTEMPT_POLICY": json.dumps(E2E_ATTEMPT_POLICY),
        "DJANGO_SETTINGS_MODULE": "studio.settings",
    }


@pytest.fixture
def celery_worker(worker_env, e2e_queues, tmp_path) -> Iterator[WorkerProcess]:
    # One worker serves all three queues (and runs beat), as `make run` serves them with
    # four processes: browser tests see thumbnails arrive after the preview entered review.
    worker = WorkerProcess(worker_env, tmp_path, ",".join(e2e_queues.all()))
    try:
        yield worker
    finally:
        worker.stop()
        if os.environ.get("E2E_SHOW_WORKER_LOGS"):
            print(worker.logs())


FILESYSTEM_BROKER = os.environ.get("CELERY_BROKER_URL", "filesystem://").startswith("filesystem")
CHROMIUM = os.environ.get("STUDIO_E2E_CHROMIUM", "/usr/bin/chromium")
# Headless as root, and no calls home: this machine's network is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = BASE_DIR / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser build)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        # CI installs it (.ci/run): a missing browser there is a failure, not a quiet skip.
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM} (CI=true)")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    """Save a test artifact: CI keeps test-artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
