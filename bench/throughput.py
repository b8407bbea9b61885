"""Throughput: N previews through the real hosted path at zero provider latency, against a
bare Celery no-op baseline on the same broker, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/proofstudio \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/throughput.py
    .venv/bin/python bench/throughput.py --n 200        # SQLite + the file broker (make run)
    … bench/throughput.py --size 2K --n 300             # 2K previews

What runs (all on this machine, loopback only):
* bench/fake_gemini.py answers every `:generateContent` at once (`--delay 0`) with one
  prebuilt Gemini body around a real PNG at the preview's size (the local renderer plus
  sensor-like grain, zlib level 6, as bench/ingest.py makes them: ~1.2 bytes per pixel);
* the deployment's worker pools (docs/deployment.md): a render worker on the render queue
  (`--pool threads --concurrency 200 --prefetch-multiplier 1` with Redis; the `make run`
  worker of Procfile.dev, prefork × 3, with the file broker, whose SQLite file one writer
  at a time holds) and an images worker (`--pool prefork --concurrency <cores>`);
* this process submits N one-variant previews as a designer through
  `services.submission_create` (the kicks go out on commit, as from the web), then waits
  until every preview is in review with both renditions stored.

Before that, the baseline: N no-op tasks sent to the same render worker on the same
broker (the task appends one line to a file), for Celery's own tasks/s and round trip.

Printed: previews/s end to end (first submit → last rendition) and its ratio to the
no-op tasks/s; CPU ms per preview by stage, measured inside the workers with the thread's
own CPU clock (bench.throughput's hooks wrap the stages when the worker imports this
module with `--include`): claim, provider call (httpx + JSON + base64), ingest (checks,
decode, metrics, sha256), store (the original, the spool), record (transition + ledger +
roll-ups + notifications + webhooks, `_record_success`), the rest of the task, renditions;
orchestration = everything but provider, ingest and renditions; SQL queries per render
and per submitted variant; submit → claim p50/p95 (Attempt.started_at − created_at);
the CPU seconds of each process tree per preview.

It builds its own database (`<name>_bench_tp`, or a SQLite file in var/) and drops it
after (`--keep` keeps it); media, spool and logs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from celery import shared_task
from celery.signals import task_prerun

BASE_DIR = Path(__file__).resolve().parent.parent
MODEL_KEY = "bench-banana"
KEY_ENV = "BENCH_GEMINI_KEY"
NOOP_TASK = "bench.throughput.noop"
LOG_ENV = "BENCH_TP_LOG"  # the workers' per-task records (JSON lines)
STAGES = ("claim", "provider", "ingest", "store", "record", "task", "renditions")
ORCHESTRATION = ("claim", "store", "record", "task")


# --- the worker's side (imported with `celery worker --include bench.throughput`) -------


@shared_task(name=NOOP_TASK, ignore_result=True)
def noop(sent_at: float, kind: str = "noop") -> None:
    """The baseline: nothing but one appended line (the round trip is measured from it)."""
    _log({"kind": kind, "sent": sent_at, "done": time.time()})


_local = threading.local()
_fd: int | None = None
_installed = threading.Lock()
_hooks_on = False


def _log(record: dict[str, Any]) -> None:
    global _fd
    if _fd is None:
        _fd = os.open(os.environ[LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_fd, (json.dumps(record) + "\n").encode())


class _Meter:
    """Exclusive thread CPU and SQL queries per stage of one task (nested stages are
    subtracted from the stage around them)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.queries: dict[str, int] = defaultdict(int)
        self.stack: list[list[Any]] = []  # [name, started, nested seconds]

    def enter(self, name: str) -> None:
        self.stack.append([name, time.thread_time(), 0.0])

    def leave(self) -> None:
        name, started, nested = self.stack.pop()
        spent = time.thread_time() - started
        self.cpu[name] += spent - nested
        if self.stack:
            self.stack[-1][2] += spent

    def query(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any):
        if self.stack:
            self.queries[self.stack[-1][0]] += 1
        return execute(sql, params, many, ctx)


def _staged(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        meter: _Meter | None = getattr(_local, "meter", None)
        if meter is None:
            return function(*args, **kwargs)
        meter.enter(name)
        try:
            return function(*args, **kwargs)
        finally:
            meter.leave()

    return wrapper


def _task(kind: str, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A whole task: a fresh meter, the database's queries counted, one record logged."""

    def wrapper(**kwargs: Any) -> Any:
        from django.db import connection

        meter = _local.meter = _Meter()
        started = time.time()
        meter.enter(name)
        outcome = "crashed"
        try:
            with connection.execute_wrapper(meter.query):
                outcome = function(**kwargs)
            return outcome
        finally:
            meter.leave()
            _local.meter = None
            _log({
                "kind": kind, "id": next(iter(kwargs.values())), "outcome": outcome,
                "cpu": meter.cpu, "queries": meter.queries, "started": started,
                "done": time.time(),
            })  # fmt: skip

    return wrapper


@task_prerun.connect
def _install_hooks(**_: Any) -> None:
    """Wrap the stages once Django is set up (the first task of each process)."""
    global _hooks_on
    if _hooks_on or LOG_ENV not in os.environ:
        return
    with _installed:
        if _hooks_on:
            return
        from generations import tasks
        from generations.imaging import codec
        from generations.providers import gemini
        from generations.rendering import jobs

        jobs._claim = _staged("claim", jobs._claim)
        jobs._store_result = _staged("store", jobs._store_result)
        jobs._record_success = _staged("record", jobs._record_success)
        codec.ingest = _staged("ingest", codec.ingest)
        gemini.GeminiProvider.render = _staged("provider", gemini.GeminiProvider.render)
        tasks.generation_render = _task("render", "task", tasks.generation_render)
        tasks.image_renditions_make = _task("renditions", "renditions", tasks.image_renditions_make)
        _hooks_on = True


# --- the driver ------------------------------------------------------------------------


def bench_png(size: str, cache: Path) -> Path:
    """A real PNG at the preview's 1:1 size, as hard to compress as a render (cached)."""
    path = cache / f"throughput-{size}.png"
    if path.exists():
        return path
    import io

    from PIL import Image

    from generations.providers.local import render_image
    from generations.sizes import pixel_size

    width, height = pixel_size(aspect_ratio="1:1", size=size)
    picture = render_image(
        prompt="a lighthouse on a basalt cliff at dusk, storm light, fine rain",
        seed=11,
        aspect_ratio="1:1",
        width=width,
        height=height,
    )
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 16) for _ in range(3)])
    buffer = io.BytesIO()
    Image.blend(picture, noise, 0.08).save(buffer, format="PNG", compress_level=6)
    path.write_bytes(buffer.getvalue())
    return path


def _cpu_seconds(root: int) -> float:
    """utime + stime of a process and its live descendants (children reaped are in the
    parent's cutime, counted too). This process alone for itself: the workers and the
    fake server it starts are its children, each counted on its own line."""
    if root == os.getpid():
        return time.process_time()
    from bench.capacity import _tree

    total = 0
    for pid in _tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def _host_cpu() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(v) for v in fields) - int(fields[3]) - int(fields[4])  # less idle, iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _records(path: Path, kind: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def _wait(done: Callable[[], int], want: int, *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while (got := done()) < want:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {got} of {want} {what}")
        time.sleep(0.05)


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=BASE_DIR,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _bench_database_url(vendor_url: str, work: Path, var_dir: Path) -> str:
    if vendor_url.startswith("postgres"):
        base, _, name = vendor_url.rpartition("/")
        return f"{base}/{name.split('?')[0] or 'postgres'}_bench_tp"
    return f"sqlite:///{var_dir / 'bench-throughput.sqlite3'}"


def _create_postgres(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def _drop_postgres(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="previews (and no-op tasks)")
    parser.add_argument("--size", choices=("1K", "2K"), default="1K")
    parser.add_argument("--render-pool", default=None, help="threads (Redis) | prefork")
    parser.add_argument("--render-concurrency", type=int, default=None)
    parser.add_argument("--images-concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per phase")
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    args = parser.parse_args()

    sys.path.insert(0, str(BASE_DIR))
    broker = os.environ.get("CELERY_BROKER_URL", "filesystem://")
    redis_broker = broker.startswith("redis")
    pool = args.render_pool or ("threads" if redis_broker else "prefork")
    concurrency = args.render_concurrency or (200 if pool == "threads" else 3)
    work = Path(tempfile.mkdtemp(prefix="proof-studio-tp-"))
    cache = Path(tempfile.gettempdir()) / "proof-studio-bench"
    cache.mkdir(exist_ok=True)
    var_dir = Path(os.environ.get("STUDIO_VAR_DIR") or BASE_DIR / "var")
    url = _bench_database_url(os.environ.get("DATABASE_URL", ""), work, var_dir)
    run = f"tp{os.getpid()}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "STUDIO_RENDER_QUEUE": f"bench-{run}-renders",
        "STUDIO_IMAGE_QUEUE": f"bench-{run}-images",
        "STUDIO_MEDIA_ROOT": str(work / "media"),
        "STUDIO_RENDITION_SPOOL_DIR": str(work / "spool"),
        "STUDIO_LIMITS_KEY_PREFIX": f"bench:{run}:limits",
        # The model's shared limits are not what is measured here (60 calls a minute
        # would be the whole result): unlimited, as the local models are.
        "STUDIO_MODEL_LIMITS": json.dumps({MODEL_KEY: {"concurrency": None, "rpm": None}}),
        KEY_ENV: "bench-key-not-secret",
        LOG_ENV: str(work / "tasks.jsonl"),
        "PYTHONPATH": str(BASE_DIR),
    }
    os.environ.update(env)
    if url.startswith("postgres"):
        _create_postgres(url)
    elif Path(url.removeprefix("sqlite:///")).exists():
        Path(url.removeprefix("sqlite:///")).unlink()
    try:
        _run(args, env, work, cache, pool=pool, concurrency=concurrency, broker=broker)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            if url.startswith("postgres"):
                _drop_postgres(url)
            else:
                Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept: {url} and {work}")


def _run(
    args: argparse.Namespace,
    env: dict[str, str],
    work: Path,
    cache: Path,
    *,
    pool: str,
    concurrency: int,
    broker: str,
) -> None:
    payload = bench_png(args.size, cache)  # before Django: the PIL renderer needs no setup
    fake_log = work / "fake-gemini.log"
    python = sys.executable
    with _process(
        [python, "-m", "bench.fake_gemini", "--payload", str(payload), "--delay", "0"],
        env,
        fake_log,
    ) as fake:
        port = _read_port(fake_log, fake)
        env["STUDIO_MODELS"] = os.environ["STUDIO_MODELS"] = json.dumps({
            MODEL_KEY: {
                "label": "Bench Banana (fake Gemini on loopback)", "provider": "gemini",
                "model_id": "gemini-3-pro-image", "base_url": f"http://127.0.0.1:{port}",
                "api_key_env": KEY_ENV, "sizes": ["1K", "2K", "4K"],
                "preview_sizes": ["1K", "2K"], "final_size": "4K",
            }
        })  # fmt: skip
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        celery = [python, "-m", "celery", "-A", "studio", "worker", "--include",
                  "bench.throughput", "--without-gossip", "--without-mingle",
                  "--loglevel=WARNING"]  # fmt: skip
        render_cmd = [
            *celery, "-Q", env["STUDIO_RENDER_QUEUE"], "-n", f"renders-{work.name}@%h",
            "--pool", pool, "--concurrency", str(concurrency), "--prefetch-multiplier", "1",
        ]  # fmt: skip
        images_cmd = [
            *celery, "-Q", env["STUDIO_IMAGE_QUEUE"], "-n", f"images-{work.name}@%h",
            "--pool", "prefork", "--concurrency", str(args.images_concurrency),
        ]  # fmt: skip
        with (
            _process(render_cmd, env, work / "renders.log") as renders,
            _process(images_cmd, env, work / "images.log") as images,
        ):
            _wait_ready(env, work, {renders: "STUDIO_RENDER_QUEUE", images: "STUDIO_IMAGE_QUEUE"})
            noop_rate, noop_rtt = _baseline(args.n, env, work, args.timeout)
            figures = _previews(args, env, work, procs={
                "render worker": renders.pid, "images worker": images.pid,
                "fake Gemini": fake.pid, "this process (submits)": os.getpid(),
            })  # fmt: skip
    _report(args, figures, noop_rate, noop_rtt, pool=pool, concurrency=concurrency, broker=broker)


def _read_port(log: Path, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines() if log.exists() else []:
            if line.startswith("port "):
                return int(line.split()[1])
        if process.poll() is not None:
            raise SystemExit(f"the fake server stopped: {log.read_text()}")
        time.sleep(0.05)
    raise SystemExit("the fake server did not start")


def _wait_ready(env: dict[str, str], work: Path, queues: dict[subprocess.Popen, str]) -> None:
    """One warm-up no-op through each worker (its imports, its first connections)."""
    from celery import current_app

    for process, queue in queues.items():
        for _ in range(4):
            current_app.send_task(NOOP_TASK, args=(time.time(), "ready"), queue=env[queue])
        deadline = time.monotonic() + 90
        while len(_records(work / "tasks.jsonl", "ready")) < 4:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"a worker did not start: see {work}")
            time.sleep(0.1)


def _baseline(n: int, env: dict[str, str], work: Path, timeout_s: float) -> tuple[float, float]:
    """N no-op tasks on the same broker and render worker: tasks/s and round trip p50."""
    from celery import current_app

    log = work / "tasks.jsonl"
    started = time.time()
    with current_app.producer_or_acquire() as producer:
        for _ in range(n):
            current_app.send_task(
                NOOP_TASK, args=(time.time(),), queue=env["STUDIO_RENDER_QUEUE"],
                producer=producer,
            )  # fmt: skip
    _wait(lambda: len(_records(log, "noop")), n, timeout_s=timeout_s, what="no-op tasks")
    records = _records(log, "noop")
    finished = max(r["done"] for r in records)
    rtt = statistics.median(r["done"] - r["sent"] for r in records)
    return n / (finished - started), rtt


def _previews(
    args: argparse.Namespace, env: dict[str, str], work: Path, procs: dict[str, int]
) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import Count

    from generations import services
    from generations.models import Attempt, Generation, Image, Membership, Project, Role
    from generations.states import State

    project = Project.objects.create(name="Throughput", slug="throughput")
    designer = get_user_model().objects.create_user("bench-designer", password="x")  # noqa: S106
    Membership.objects.create(project=project, user=designer, role=Role.DESIGNER)
    cpu_before = {name: _cpu_seconds(pid) for name, pid in procs.items()}
    host_before = _host_cpu()
    submit_queries = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal submit_queries
        submit_queries += 1
        return execute(sql, params, many, context)

    started = time.time()
    with connection.execute_wrapper(count):
        for index in range(args.n):
            services.submission_create(
                project=project, user=designer, prompt=f"throughput preview {index}",
                model_key=MODEL_KEY, aspect_ratio="1:1", preview_size=args.size, variants=1,
            )  # fmt: skip
    submitted = time.time()
    previews = Image.objects.filter(phase="preview").exclude(thumbnail="")
    _wait(previews.count, args.n, timeout_s=args.timeout, what="previews with renditions")
    finished = time.time()
    cpu = {name: _cpu_seconds(pid) - cpu_before[name] for name, pid in procs.items()}
    host = _host_cpu() - host_before
    states = dict(Generation.objects.values_list("state").annotate(n=Count("pk")))
    waits = [
        (a.started_at - a.generation.created_at).total_seconds()
        for a in Attempt.objects.select_related("generation").filter(number=1)
    ]
    renders = _records(work / "tasks.jsonl", "render")
    claimed = [r for r in renders if r["outcome"] != "skipped"]
    return {
        "elapsed": finished - started,
        "submit_s": submitted - started,
        "states": states,
        "in_review": states.get(State.IN_REVIEW, 0),
        "submit_queries": submit_queries / args.n,
        "waits": waits,
        "renders": claimed,
        "skipped": len(renders) - len(claimed),
        "renditions": _records(work / "tasks.jsonl", "renditions"),
        "cpu": cpu,
        "host_cpu": host,
    }


def _report(
    args: argparse.Namespace,
    f: dict[str, Any],
    noop_rate: float,
    noop_rtt: float,
    *,
    pool: str,
    concurrency: int,
    broker: str,
) -> None:
    from django.db import connection

    n = args.n
    vendor = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    kind = broker.split(":", 1)[0]
    load = os.getloadavg()
    rate = n / f["elapsed"]
    print(
        f"Throughput: {n} one-variant {args.size} previews, fake Gemini at zero latency, "
        f"{vendor} + {kind} broker, render worker {pool} × {concurrency}, images worker "
        f"prefork × {args.images_concurrency}; {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end"
    )
    print(f"  states at the end: {f['states']}; kicks that found nothing to do: {f['skipped']}")
    print(
        f"  end to end: {rate:.1f} previews/s ({f['elapsed']:.1f} s; submitting took "
        f"{f['submit_s']:.1f} s in this process)"
    )
    print(
        f"  baseline, bare Celery no-op on the same broker and worker: {noop_rate:.0f} tasks/s, "
        f"round trip p50 {noop_rtt * 1000:.1f} ms — previews/s are {rate / noop_rate:.3f}× "
        f"(1/{noop_rate / rate:.0f}) of it"
    )
    waits = f["waits"]
    print(
        f"  submit → claim: p50 {_percentile(waits, 0.5):.2f} s, "
        f"p95 {_percentile(waits, 0.95):.2f} s"
    )
    renders, renditions = f["renders"], f["renditions"]
    cpu: dict[str, list[float]] = defaultdict(list)
    for record in renders:
        for stage in STAGES[:-1]:
            cpu[stage].append(record["cpu"].get(stage, 0.0) * 1000)
    for record in renditions:
        cpu["renditions"].append(record["cpu"].get("renditions", 0.0) * 1000)
    print("  CPU ms per preview by stage (thread CPU inside the workers; mean, p50, p95):")
    names = {
        "claim": "claim (read, lease, transition, attempt)",
        "provider": "provider call (httpx, JSON, base64)",
        "ingest": "ingest (checks, decode, metrics, sha256)",
        "store": "store (original, spool)",
        "record": "transition + ledger + roll-ups + notifications",
        "task": "rest of the render task",
        "renditions": "renditions (images worker)",
    }
    for stage in STAGES:
        values = cpu[stage] or [0.0]
        print(
            f"    {names[stage]:48} {statistics.mean(values):7.2f} "
            f"{_percentile(values, 0.5):7.2f} {_percentile(values, 0.95):7.2f}"
        )
    orchestration = [
        sum(r["cpu"].get(stage, 0.0) for stage in ORCHESTRATION) * 1000 for r in renders
    ]
    print(
        f"    {'orchestration (all but provider, ingest, renditions)':48} "
        f"{statistics.mean(orchestration):7.2f} {_percentile(orchestration, 0.5):7.2f} "
        f"{_percentile(orchestration, 0.95):7.2f}"
    )
    queries = [sum(r["queries"].values()) for r in renders]
    by_stage = {
        stage: statistics.mean(r["queries"].get(stage, 0) for r in renders)
        for stage in ("claim", "record", "store", "task")
    }
    print(
        f"  SQL queries per render: mean {statistics.mean(queries):.1f}, max {max(queries)} "
        f"({', '.join(f'{k} {v:.1f}' for k, v in by_stage.items())}); per rendition task "
        f"{statistics.mean(sum(r['queries'].values()) for r in renditions):.1f}; "
        f"per submitted variant {f['submit_queries']:.1f}"
    )
    print("  process CPU per preview (whole process trees, Celery included):")
    for name, seconds in f["cpu"].items():
        print(f"    {name:28} {seconds / n * 1000:7.1f} ms")
    print(
        f"    {'host, all processes':28} {f['host_cpu'] / n * 1000:7.1f} ms "
        "(PostgreSQL, Redis and anything else running)"
    )


if __name__ == "__main__":
    main()
