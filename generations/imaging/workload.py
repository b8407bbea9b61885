"""How much CPU-heavy image work one worker process does at once.

Checking a 4K result (a full decode) and making its renditions costs about a CPU second
and ~110 MiB at peak (bench/capacity.py). A threads worker holds hundreds of provider
calls in flight; if their answers arrive together, every thread would decode at once —
measured 3.4 GiB for 40 at a time. The gate lets `STUDIO_IMAGE_WORK_CONCURRENCY` of them
(default: the CPU count) work while the rest wait, holding only their image bytes.

A prefork child runs one task at a time, so the gate never makes it wait.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

_lock = threading.Lock()
_gates: dict[tuple[int, int], threading.BoundedSemaphore] = {}


def _gate() -> threading.BoundedSemaphore:
    # Per process (a gate made before a fork must not be shared) and per configured size.
    size = max(1, int(settings.STUDIO_IMAGE_WORK_CONCURRENCY or os.cpu_count() or 1))
    key = (os.getpid(), size)
    with _lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = threading.BoundedSemaphore(size)
        return gate


@contextmanager
def image_work() -> Iterator[None]:
    with _gate():
        yield
