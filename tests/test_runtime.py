"""A web process moves its loaded app out of the cyclic GC's way at start (studio/wsgi.py,
studio/asgi.py); bench/api.py measures what that does to the API's tail latency."""

from __future__ import annotations

import gc
import importlib

from studio import runtime


def test_starting_a_web_process_freezes_the_loaded_app():
    gc.unfreeze()
    try:
        importlib.reload(importlib.import_module("studio.wsgi"))
        frozen = gc.get_freeze_count()
        # Django, the URLconf with every view and the API's schemas: over 100k objects.
        assert frozen > 50_000
        gc.unfreeze()
        assert runtime.freeze_loaded_app() == gc.get_freeze_count() > 50_000
    finally:
        gc.unfreeze()
