"""Finals by escalation strategy (generations.strategies), on the worker's side: what a
final's request carries, the upscale that needs no model, and the fidelity check that
decides whether a final is delivered or waits for the reviewer.

- from the approved preview: the preview's original bytes go first as an input image
  (RenderRequest.from_preview: same prompt, size and seed, plus the instruction); the
  attempt counts one input image, which the ledger charges at the list's input_image
  figure.
- from the prompt: the request as it is (prompt + seed).
- upscale: no provider call. The preview resampled to the final's size under the CPU gate
  (imaging.workload), stored with native=False and flagged "not native 4K", charged at
  the list's "upscale" entry for the final's size.

Every final is then compared with its preview (imaging.fidelity); under the project's
threshold a rendered final is not delivered but held (state final_differs) for a reviewer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from PIL import Image as PILImage

from generations import catalog
from generations.imaging import codec, fidelity, workload
from generations.models import Generation, Image, Phase
from generations.providers.base import InputImage, InputRole, RenderRequest, RenderResult
from generations.strategies import NOT_NATIVE, Resolved, Strategy

UPSCALE_PROVIDER = "upscale"


def plan(generation: Generation) -> Resolved:
    """The strategy this generation's final will use: the approval's, else the project's,
    as the final's model allows (a final on another model than its previews is made from
    the approved preview)."""
    return catalog.escalation(
        asked=generation.escalation_strategy or generation.project.escalation_strategy,
        model_key=generation.submission.final_model,
        preview_key=generation.submission.model_key,
    )


def approved_preview(generation: Generation) -> Image | None:
    return generation.images.filter(phase=Phase.PREVIEW).first()


def final_request(
    request: RenderRequest,
    *,
    strategy: Strategy,
    preview: Image,
    references: tuple[InputImage, ...] = (),
    limit: int = 1,
) -> RenderRequest:
    """The final's request as the strategy has it: with the approved preview first, then
    the submission's references (as many as the model takes: `limit`); or the prompt and
    seed with the references, as the preview had them. An upscale makes no request; it
    keeps this one for its size."""
    if strategy == Strategy.UPSCALE:
        return request
    if strategy != Strategy.FROM_PREVIEW:
        return replace(request, input_images=references[:limit])
    with preview.original.open("rb") as handle:
        image = InputImage.from_bytes(handle.read(), role=InputRole.APPROVED_PREVIEW)
    return request.from_preview(image, references=references[: max(limit - 1, 0)])


@dataclass
class Upscaler:
    """The upscale strategy as a provider: the preview at the final's size, no model."""

    preview: Image
    name: str = UPSCALE_PROVIDER

    def render(self, request: RenderRequest) -> RenderResult:
        with self.preview.original.open("rb") as handle:
            data = handle.read()
        with workload.image_work():  # CPU work: a few at a time per process
            upscaled = codec.upscale(data, width=request.width, height=request.height)
        return RenderResult(
            data=upscaled,
            mime_type="image/png",
            width=request.width,
            height=request.height,
            meta={
                "provider": UPSCALE_PROVIDER,
                "notes": [f"upscaled from the {self.preview.width}×{self.preview.height} "
                          f"approved preview ({NOT_NATIVE})"],
            },
        )  # fmt: skip


def sampler(width: int, height: int) -> Callable[[PILImage.Image], PILImage.Image]:
    """What `codec.ingest` takes from the final's decoded pixels for the comparison."""
    size = fidelity.common_size(width, height)
    return lambda pixels: fidelity.sample(pixels, size)


def preview_sample(preview: Image, size: tuple[int, int]) -> PILImage.Image:
    """The preview's luma at the comparison size: from its thumbnail when it has one (a
    small WebP: ~2 ms to decode against ~40 ms for a 2K PNG), else its original."""
    field = preview.thumbnail if preview.thumbnail.name else preview.original
    with field.open("rb") as handle:
        return fidelity.sample_of_bytes(handle.read(), size)


def differs(image: Image, *, strategy: str, threshold: float) -> bool:
    """Whether a stored final is held for the reviewer: a rendered one (an upscale is the
    preview itself) whose SSIM to the approved preview is under the project's threshold."""
    return (
        strategy != Strategy.UPSCALE
        and image.fidelity_ssim is not None
        and image.fidelity_ssim < threshold
    )


def held_reason(image: Image, *, threshold: float) -> str:
    return (
        f"differs from the approved preview: similarity {image.fidelity_ssim:.2f} under the "
        f"project's {threshold:.2f} (hash distance {image.fidelity_hash_distance}); "
        "held for the reviewer"
    )
