"""A separate worker process for the limiter tests: `python -m tests.support.limits_probe
'<json>'`. It builds the limiter the JSON names, with its own database and Redis
connections, and runs one command:

- ``hammer``: after "go" on stdin, take and release a slot `rounds` times, holding each for
  `hold_s`; prints the (start, end) of every hold in CLOCK_MONOTONIC ns, which every
  process on the machine shares, so the parent can overlay them;
- ``grab``: after "go", try to take `rounds` slots without releasing; prints how many it got;
- ``hold``: take one slot, print "held" and sleep until killed;
- ``try``: try once and print the decision.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

import django


def main(raw: str) -> None:
    django.setup()
    from generations.rendering import limits

    spec: dict[str, Any] = json.loads(raw)
    limiter: limits.Limiter
    if spec["backend"] == "redis":
        limiter = limits.RedisLimiter(spec["url"], prefix=spec["prefix"])
    else:
        limiter = limits.DatabaseLimiter()
    model_limits = limits.ModelLimits(concurrency=spec.get("concurrency"), rpm=spec.get("rpm"))

    def acquire() -> tuple[str, limits.Decision]:
        holder = uuid.uuid4().hex
        decision = limiter.acquire(
            spec["model"], holder=holder, limits=model_limits, ttl_s=spec.get("ttl", 30)
        )
        return holder, decision

    command = spec["command"]
    if command in ("hammer", "grab"):
        print("ready", flush=True)
        sys.stdin.readline()  # the parent starts every process at once
    if command == "hammer":
        holds = []
        for _ in range(spec["rounds"]):
            holder, decision = acquire()
            while not decision.granted:
                time.sleep(0.002)
                holder, decision = acquire()
            start = time.monotonic_ns()  # after the grant...
            time.sleep(spec["hold_s"])
            holds.append((start, time.monotonic_ns()))  # ...and before the release
            limiter.release(spec["model"], holder=holder)
        print(json.dumps({"holds": holds}), flush=True)
    elif command == "grab":
        granted = sum(acquire()[1].granted for _ in range(spec["rounds"]))
        print(json.dumps({"granted": granted}), flush=True)
    elif command == "hold":
        _, decision = acquire()
        print("held" if decision.granted else "refused", flush=True)
        time.sleep(3600)
    elif command == "try":
        _, decision = acquire()
        reason = decision.reason.value if decision.reason else None
        print(json.dumps({"granted": decision.granted, "reason": reason}), flush=True)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1])
