"""A scripted provider for tests: it plays back a queue of outcomes, one per render call,
and records every request it received.

An outcome is one of:
- ``OK`` — a real PNG at exactly the requested pixel size;
- a ``RenderResult`` — returned as it is (see ``png_result`` and ``garbage_result``);
- an exception instance (a ``ProviderError`` or anything else) — raised;
- a callable ``(request) -> outcome`` — called first, for side effects during a render
  (cancel the generation, expire the lease), and its return value played as an outcome.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable
from typing import Any

from PIL import Image

from generations.providers.base import RenderRequest, RenderResult

OK = "ok"

Outcome = Any  # OK | RenderResult | BaseException | Callable[[RenderRequest], "Outcome"]


def png_bytes(width: int, height: int, *, color: tuple[int, int, int] = (200, 90, 40)) -> bytes:
    """A real PNG with a little structure, so renditions and hashes are not trivial."""
    image = Image.new("RGB", (width, height), color)
    # A diagonal band makes two different sizes hash differently even at one colour.
    for offset in range(min(width, height) // 8):
        image.putpixel((offset, offset), (255 - color[0], 255 - color[1], 255 - color[2]))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_result(width: int, height: int, **kwargs: Any) -> RenderResult:
    return RenderResult(
        data=png_bytes(width, height, **kwargs), mime_type="image/png", width=width, height=height
    )


def garbage_result(width: int = 1024, height: int = 1024) -> RenderResult:
    """What a broken gateway sends: it claims to be a PNG but is not an image at all."""
    return RenderResult(
        data=b"<html>502 Bad Gateway</html>", mime_type="image/png", width=width, height=height
    )


class ScriptedProvider:
    name = "scripted"

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes: deque[Outcome] = deque(outcomes)
        self.requests: list[RenderRequest] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    def then(self, *outcomes: Outcome) -> ScriptedProvider:
        self.outcomes.extend(outcomes)
        return self

    def render(self, request: RenderRequest) -> RenderResult:
        self.requests.append(request)
        if not self.outcomes:
            raise AssertionError(f"ScriptedProvider was called more often than scripted: {request}")
        return self._play(self.outcomes.popleft(), request)

    def _play(self, outcome: Outcome, request: RenderRequest) -> RenderResult:
        if outcome == OK:
            return png_result(request.width, request.height)
        if isinstance(outcome, RenderResult):
            return outcome
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            hook: Callable[[RenderRequest], Outcome] = outcome
            return self._play(hook(request), request)
        raise TypeError(f"Cannot play {outcome!r} as a provider outcome.")


def drain_cpu_queue() -> list[str]:
    """What the CPU-queue worker does with its messages: make every pending rendition.

    For tests that run the render step in-process (no broker): the real task function,
    called for each image still without renditions.
    """
    from generations.imaging.renditions import image_renditions_make
    from generations.models import Image as ImageRow

    pending = ImageRow.objects.filter(thumbnail="", renditions_error="")
    return [image_renditions_make(image_id=pk) for pk in list(pending.values_list("pk", flat=True))]
