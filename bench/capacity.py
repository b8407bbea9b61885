"""Capacity: how many slow 4K renders one worker host can hold in flight, per Celery pool.

A 4K call holds its connection for minutes (DESIGN.md: 180–600 s+). This starts a fake
Gemini server on loopback (bench/fake_gemini.py) that answers every call after `--delay`
seconds with a ~8 MB Gemini-shaped JSON body — a real 4096×4096 PNG of ~6 MB, base64 —
then, for each pool, a real Celery worker (`celery -A studio worker --pool …`) that runs
`--in-flight` calls at once through the real provider path (GeminiProvider: the shared
httpx client, the streamed body, take_json, base64 decode). While they are held and
when they all answer at once, it samples the worker's whole process tree:

* max in flight — requests the server held at once (the honest count);
* RSS — VmRSS summed over the tree (what the task asks for; for prefork it counts the
  pages children share with the parent once per child), and PSS (shared pages split
  between sharers: the real footprint);
* per response — in a fresh process, the peak memory of one call, against the image size.

    .venv/bin/python bench/capacity.py                      # 200 in flight, 60 s, all pools
    .venv/bin/python bench/capacity.py --delay 5 --pools threads   # a quick look

Bounded: one loopback server, `in-flight` × 8 MB of traffic per pool, each pool stopped
after delay + 180 s at most. Needs Redis (the broker; `--broker`). gevent is optional: the
gevent pool is skipped when it is not installed.
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from celery import shared_task

BASE_DIR = Path(__file__).resolve().parent.parent
KEY_ENV = "BENCH_GEMINI_KEY"
TASK = "bench.capacity.gemini_call"
MiB = 2**20


def _raise_broker_connections() -> None:
    """kombu's Redis channel keeps at most 10 connections for acks and publishes; a
    gevent pool finishing many tasks at once runs out ("Couldn't ack … Too many
    connections"). `--broker-max-connections` lifts it in the bench worker only."""
    wanted = os.environ.get("BENCH_BROKER_MAX_CONNECTIONS")
    if wanted:
        from celery import current_app

        options = dict(current_app.conf.broker_transport_options or {})
        current_app.conf.broker_transport_options = {**options, "max_connections": int(wanted)}


_raise_broker_connections()  # when the worker imports this module (--include)


# --- the worker's side ---------------------------------------------------------------


@shared_task(name=TASK, ignore_result=True, acks_late=True)
def gemini_call(run: str, base_url: str, delay_s: float, image_work: bool = False) -> None:
    """One 4K call through the real Gemini provider; optionally the image checks and
    renditions that rendering does next. Counts its outcome in Redis for the driver."""
    from generations.providers.base import ProviderError

    outcome = "done"
    try:
        result = _provider(base_url).render(_request(delay_s))
        if image_work:
            _image_work(result.data)
    except ProviderError:
        outcome = "failed"
    counter = f"bench:capacity:{run}:{outcome}"
    _redis().incr(counter)
    _redis().expire(counter, 24 * 3600)  # nothing of a run outlives the day


def _provider(base_url: str) -> Any:
    from generations.catalog import ModelEntry
    from generations.providers import provider_for

    entry = ModelEntry(
        key="bench",
        label="Capacity bench",
        provider="gemini",
        model_id="bench",
        configured_provider="gemini",
        base_url=base_url,
        api_key_env=KEY_ENV,
    )
    return provider_for(entry)  # the shared httpx client of this process


def _request(delay_s: float) -> Any:
    from generations.providers.base import RenderRequest

    # The fake server reads its delay from the model id.
    return RenderRequest(
        prompt="capacity benchmark",
        model_id=f"bench-{delay_s:g}s",
        aspect_ratio="1:1",
        size="4K",
        width=4096,
        height=4096,
        seed=1,
        timeout_s=660,  # the 4K attempt policy's timeout
    )


def _image_work(data: bytes) -> None:
    """What rendering does with a result, minus the writes: behind the same gate."""
    from generations.imaging import codec, workload

    with workload.image_work():
        codec.inspect_image(data)
        codec.make_rendition(data, long_edge=codec.THUMBNAIL_EDGE)
        codec.make_rendition(data, long_edge=codec.SCREEN_EDGE)


@functools.cache
def _redis() -> Any:
    import redis
    from celery import current_app

    # Blocking: 200 greenlets finishing together must queue for a connection, not fail.
    pool = redis.BlockingConnectionPool.from_url(current_app.conf.broker_url, max_connections=32)
    return redis.Redis(connection_pool=pool)


# --- memory of a process tree ---------------------------------------------------------


def _tree(root: int) -> list[int]:
    """`root` and every descendant, from /proc (no psutil needed)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it ended while we looked
            # The command name may hold spaces and parentheses; fields follow the last ")".
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _kib(path: Path, field: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root: int) -> tuple[int, int, int]:
    """(RSS, PSS, processes) of the tree in bytes."""
    pids = _tree(root)
    rss = sum(_kib(Path(f"/proc/{pid}/status"), "VmRSS") for pid in pids)
    pss = sum(_kib(Path(f"/proc/{pid}/smaps_rollup"), "Pss") for pid in pids)
    return rss * 1024, pss * 1024, len(pids)


# --- the payload and the fake server --------------------------------------------------


def bench_png(target_bytes: int, cache_dir: Path) -> Path:
    """A real 4096×4096 PNG of about `target_bytes`: the local provider's 4K picture with
    a band of random noise (incompressible) as deep as it takes to reach the size."""
    path = cache_dir / f"capacity-4k-{target_bytes // 1000}k.png"
    if path.exists():
        return path
    from PIL import Image

    from generations.providers.local import render_png

    base = render_png(
        prompt="capacity benchmark", seed=7, aspect_ratio="1:1", width=4096, height=4096
    )
    image = Image.open(io.BytesIO(base)).convert("RGB")
    # A row of noise costs ~3 bytes per pixel in the PNG, less the ~0.5 the picture it
    # covers cost: close enough to land within a few percent of the target.
    rows = max(0, (target_bytes - len(base)) // (4096 * 3 - 4096 // 2))
    noise = Image.frombytes("RGB", (4096, rows), random.Random(7).randbytes(4096 * 3 * rows))
    image.paste(noise, (0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


@contextmanager
def fake_server(payload: Path, args: argparse.Namespace) -> Iterator[str]:
    log = (args.log_dir / "fake_gemini.log").open("w")
    command = [sys.executable, "-m", "bench.fake_gemini", "--payload", str(payload)]
    command += ["--delay", str(args.delay), "--spread", str(args.spread)]
    server = subprocess.Popen(command, cwd=BASE_DIR, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def server_stats(base_url: str, action: str = "stats") -> dict[str, int]:
    import httpx

    return dict(httpx.get(f"{base_url}/{action}", timeout=5).json())


# --- one pool -------------------------------------------------------------------------


@dataclass
class PoolResult:
    pool: str
    concurrency: int
    sent: int
    max_in_flight: int
    done: int
    failed: int
    processes: int
    idle_rss_mib: float
    held_rss_mib: float  # the most while every call was held, before any answer started
    held_pss_mib: float
    peak_rss_mib: float  # the most at any time, answers arriving included
    peak_pss_mib: float
    after_rss_mib: float  # a few seconds after the last call: what the allocator kept
    rss_per_call_kib: float  # (held - idle RSS of the main process) / in flight
    answer_burst_s: float  # first answer started to last call done


@dataclass
class Sampler:
    """What the driver sees of one run, sample by sample."""

    pid: int
    run: str
    base_url: str
    held_rss: int = 0
    held_pss: int = 0
    peak_rss: int = 0
    peak_pss: int = 0
    max_in_flight: int = 0
    done: int = 0
    failed: int = 0
    first_answer: float = 0.0

    def sample(self) -> None:
        rss, pss, _ = tree_memory(self.pid)
        stats = server_stats(self.base_url)
        counters = _redis_for_driver()
        self.done = int(counters.get(f"bench:capacity:{self.run}:done") or 0)
        self.failed = int(counters.get(f"bench:capacity:{self.run}:failed") or 0)
        self.max_in_flight = max(self.max_in_flight, stats["max_holding"])
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
        if stats["answering"] == 0:  # every call still held: nothing downloading yet
            self.held_rss, self.held_pss = max(self.held_rss, rss), max(self.held_pss, pss)
        elif not self.first_answer:
            self.first_answer = time.monotonic()


def run_pool(pool: str, *, concurrency: int, base_url: str, args: argparse.Namespace) -> PoolResult:
    from studio.celery import app

    run, queue = uuid.uuid4().hex[:10], f"bench-capacity-{uuid.uuid4().hex[:8]}"
    log = args.log_dir / f"worker-{pool}.log"
    command = [
        sys.executable, "-m", "celery", "-A", "studio", "worker", "--pool", pool,
        "--concurrency", str(concurrency), "--queues", queue, "--include", "bench.capacity",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
        "--hostname", f"bench-{pool}-{run}@%h",
    ]  # fmt: skip
    with log.open("wb") as out:
        worker = subprocess.Popen(
            command, cwd=BASE_DIR, env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait(lambda: b" ready." in log.read_bytes(), timeout=180, what=f"{pool} worker")
        time.sleep(2)  # let the pool settle (prefork children finish importing)
        idle_rss, _, processes = tree_memory(worker.pid)
        main_idle_rss = _kib(Path(f"/proc/{worker.pid}/status"), "VmRSS") * 1024
        server_stats(base_url, "reset")
        for _ in range(concurrency):
            app.send_task(TASK, args=(run, base_url, args.delay, args.image_work), queue=queue)
        sampler = Sampler(pid=worker.pid, run=run, base_url=base_url)
        deadline = time.monotonic() + args.delay + args.spread + 180
        while time.monotonic() < deadline and sampler.done + sampler.failed < concurrency:
            sampler.sample()
            time.sleep(0.25)
        last_done = time.monotonic()
        time.sleep(3)
        after_rss, _, _ = tree_memory(worker.pid)
    finally:
        _stop(worker)
    finished = sampler.done + sampler.failed >= concurrency
    return PoolResult(
        pool=pool,
        concurrency=concurrency,
        sent=concurrency,
        max_in_flight=sampler.max_in_flight,
        done=sampler.done,
        failed=sampler.failed,
        processes=processes,
        idle_rss_mib=idle_rss / MiB,
        held_rss_mib=sampler.held_rss / MiB,
        held_pss_mib=sampler.held_pss / MiB,
        peak_rss_mib=sampler.peak_rss / MiB,
        peak_pss_mib=sampler.peak_pss / MiB,
        after_rss_mib=after_rss / MiB,
        rss_per_call_kib=(sampler.held_rss - main_idle_rss) / max(sampler.max_in_flight, 1) / 1024,
        answer_burst_s=last_done - sampler.first_answer
        if finished and sampler.first_answer
        else -1,
    )


@functools.cache
def _redis_for_driver() -> Any:
    import redis

    return redis.Redis.from_url(os.environ["CELERY_BROKER_URL"], decode_responses=True)


def _wait(check: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def _stop(worker: subprocess.Popen[bytes]) -> None:
    """Only the worker this run started: its own process group."""
    if worker.poll() is not None:
        return
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


# --- one response, alone --------------------------------------------------------------


def probe_one(base_url: str, image_work: bool) -> dict[str, float]:
    """Peak memory of one call (and optionally its image work) in this fresh process.

    tracemalloc sees Python's allocations (the body buffer, the JSON text and document,
    the decoded image); the VmHWM delta is the process's real peak, Pillow included.
    """
    provider, request = _provider(base_url), _request(0)
    provider.render(request)  # warm: imports, the connection, first-call caches
    clear_refs = Path("/proc/self/clear_refs")
    clear_refs.write_text("5")  # reset VmHWM (peak RSS) to the current RSS
    before = _kib(Path("/proc/self/status"), "VmRSS") * 1024
    tracemalloc.start()
    started = time.perf_counter()
    result = provider.render(request)
    call_s = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    call_hwm = _kib(Path("/proc/self/status"), "VmHWM") * 1024 - before
    figures = {
        "image_mib": len(result.data) / MiB,
        "body_mib": len(base64.b64encode(result.data)) / MiB,
        "call_s": call_s,
        "call_traced_peak_mib": traced_peak / MiB,
        "call_rss_peak_mib": call_hwm / MiB,
    }
    if image_work:
        clear_refs.write_text("5")
        before = _kib(Path("/proc/self/status"), "VmRSS") * 1024
        started = time.perf_counter()
        _image_work(result.data)
        figures["image_work_s"] = time.perf_counter() - started
        figures["image_work_rss_peak_mib"] = (
            _kib(Path("/proc/self/status"), "VmHWM") * 1024 - before
        ) / MiB
    return figures


# --- the driver -----------------------------------------------------------------------


def _setup_environment(args: argparse.Namespace) -> None:
    """Settings for this driver and the workers it starts: a var dir of its own (no
    shared SQLite or broker folders), the bench broker, and a dummy key."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "studio.settings",
            "STUDIO_VAR_DIR": str(args.log_dir / "var"),
            "CELERY_BROKER_URL": args.broker,
            "STUDIO_LOG_LEVEL": "WARNING",
            KEY_ENV: "bench-not-a-real-key",
        }
    )
    if args.broker_max_connections:
        os.environ["BENCH_BROKER_MAX_CONNECTIONS"] = str(args.broker_max_connections)
    import django

    django.setup()


def _print_table(per_response: dict[str, float], results: list[PoolResult]) -> None:
    ratio = per_response["call_traced_peak_mib"] / per_response["image_mib"]
    print(
        f"\nper response: image {per_response['image_mib']:.1f} MiB, body "
        f"{per_response['body_mib']:.1f} MiB; one call peaks at "
        f"{per_response['call_traced_peak_mib']:.1f} MiB traced ({ratio:.2f}× the image), "
        f"{per_response['call_rss_peak_mib']:.1f} MiB RSS"
    )
    if "image_work_s" in per_response:
        print(
            f"image work (inspect + 2 renditions): {per_response['image_work_s']:.2f} s, "
            f"peak +{per_response['image_work_rss_peak_mib']:.0f} MiB RSS"
        )
    header = (
        "pool", "conc", "in flight", "ok/failed/sent", "procs", "idle RSS", "held RSS", "held PSS",
        "peak RSS", "peak PSS", "after RSS", "KiB/call", "burst s",
    )  # fmt: skip
    print("\n" + " | ".join(header))
    for r in results:
        print(
            f"{r.pool} | {r.concurrency} | {r.max_in_flight} | {r.done}/{r.failed}/{r.sent} | "
            f"{r.processes} | {r.idle_rss_mib:.0f} MiB | {r.held_rss_mib:.0f} MiB | "
            f"{r.held_pss_mib:.0f} MiB | {r.peak_rss_mib:.0f} MiB | {r.peak_pss_mib:.0f} MiB | "
            f"{r.after_rss_mib:.0f} MiB | {r.rss_per_call_kib:.0f} | {r.answer_burst_s:.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", default="threads,gevent,prefork")
    parser.add_argument("--in-flight", type=int, default=200, help="calls sent at once")
    parser.add_argument("--delay", type=float, default=60.0, help="seconds each call is held")
    parser.add_argument(
        "--spread", type=float, default=0.0,
        help="answers come back over this many more seconds (0: all at once, the worst case)",
    )  # fmt: skip
    parser.add_argument(
        "--prefork-concurrency", type=int, default=32,
        help="prefork children (one call each); the per-child cost extrapolates",
    )  # fmt: skip
    parser.add_argument("--body-mb", type=float, default=8.0, help="base64 body size, MB")
    parser.add_argument("--image-work", action="store_true", help="also inspect + renditions")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13")
    parser.add_argument(
        "--broker-max-connections", type=int, default=0,
        help="lift kombu's 10 Redis connections per worker (gevent needs it)",
    )  # fmt: skip
    parser.add_argument(
        "--log-dir", type=Path, default=Path(tempfile.gettempdir()) / "proof-studio-bench"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--probe-one", metavar="BASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    _setup_environment(args)

    if args.probe_one:  # the fresh process measuring one response
        print(json.dumps(probe_one(args.probe_one, args.image_work)))
        return

    payload = bench_png(round(args.body_mb * 1e6 * 3 / 4), args.log_dir)
    print(f"payload: {payload} ({payload.stat().st_size / MiB:.1f} MiB PNG, 4096×4096)")
    with fake_server(payload, args) as base_url:
        probe = [sys.executable, __file__, "--probe-one", base_url, "--log-dir", str(args.log_dir)]
        probe += ["--broker", args.broker] + (["--image-work"] if args.image_work else [])
        per_response = json.loads(subprocess.check_output(probe, cwd=BASE_DIR, text=True))
        results = []
        for pool in args.pools.split(","):
            if pool == "gevent" and not _has_gevent():
                print("gevent is not installed: skipping the gevent pool")
                continue
            concurrency = (
                min(args.in_flight, args.prefork_concurrency)
                if pool == "prefork"
                else args.in_flight
            )
            held = f"{args.delay:g}" + (f"+0..{args.spread:g}" if args.spread else "")
            print(f"{pool}: {concurrency} at once, held {held} s …", flush=True)
            results.append(run_pool(pool, concurrency=concurrency, base_url=base_url, args=args))
    _print_table(per_response, results)
    if args.json:
        figures = {"per_response": per_response, "pools": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(figures, indent=2))


def _has_gevent() -> bool:
    try:
        import gevent  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))  # run as a script: `bench` and `studio` importable
    main()
