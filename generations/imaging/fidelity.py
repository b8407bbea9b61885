"""How faithful a final is to the preview that was approved: measured, never assumed.

Both pictures are brought to one small size (COMPARE_EDGE on the long edge, the final's
aspect ratio) as luminance, then compared two ways:

- SSIM (scikit-image's `structural_similarity`, Gaussian 11-tap window, σ 1.5, as Wang et
  al. 2004) on the luma: 1 for the same picture; it follows structure — where edges and
  shapes are — and shrugs off a uniform shift of brightness. At this size the detail a
  4K adds is averaged away, so a faithful final scores high and a recomposed one low.
- the Hamming distance of the two 64-bit perceptual hashes (ImageHash's `phash`: the
  sign of the low DCT frequencies of a 32×32 luma): 0–64, robust to detail and
  compression, moved only by the layout. A second, independent opinion that is stored
  with the final and shown beside the SSIM.

Why these and not others: a learned metric (LPIPS, DISTS) would bring torch and model
weights to every worker for a yes/no that a structural measure already answers; PSNR
punishes exactly the added detail a final should have; CLIP-style embeddings judge the
subject, not the composition. scikit-image and ImageHash are small, well kept (numpy,
scipy, PyWavelets) and deterministic.

Cost: the final's sample is taken from the pixels `codec.ingest` already decoded, so a
4K final costs a reduce and a resize, plus the preview's thumbnail decode; bench/fidelity.py.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

import imagehash
import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

COMPARE_EDGE: Final = 256
_REDUCIBLE: Final = frozenset({"L", "RGB", "RGBA", "LA", "RGBX"})


@dataclass(frozen=True)
class Fidelity:
    ssim: float  # 0–1 (clipped; SSIM can dip below 0 for anti-correlated pictures)
    hash_distance: int  # 0–64

    def below(self, threshold: float) -> bool:
        return self.ssim < threshold


def common_size(width: int, height: int) -> tuple[int, int]:
    """The comparison size for a picture of this shape: COMPARE_EDGE on the long edge."""
    scale = COMPARE_EDGE / max(width, height)
    return max(8, round(width * scale)), max(8, round(height * scale))


def sample(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` as luminance at exactly `size`: an integer box reduce to no less than twice
    the size (cheap on a decoded 4K), then a Lanczos resize for the rest. The last step
    must filter properly: a box reduce straight to about the size leaves detail near the
    limit aliased differently for a 2K and a 4K of one picture (an upscale scored 0.85
    against its own preview that way, 0.999 this way)."""
    factor = max(1, min(image.width // (2 * size[0]), image.height // (2 * size[1])))
    if image.mode not in _REDUCIBLE:
        image = image.convert("RGB")
    reduced = image.reduce(factor) if factor > 1 else image
    luma = reduced.convert("L") if reduced.mode != "L" else reduced
    return luma.resize(size, Image.Resampling.LANCZOS) if luma.size != size else luma


def sample_of_bytes(data: bytes, size: tuple[int, int]) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        opened.draft("L", (size[0] * 2, size[1] * 2))  # JPEG decodes small; others ignore it
        return sample(opened, size)


def compare(preview: Image.Image, final: Image.Image) -> Fidelity:
    """Fidelity of two luma samples of one size (see `sample`)."""
    if preview.size != final.size:
        raise ValueError(f"Samples differ in size: {preview.size} and {final.size}.")
    a = np.asarray(preview, dtype=np.uint8)
    b = np.asarray(final, dtype=np.uint8)
    ssim = float(
        structural_similarity(
            a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )
    distance = int(imagehash.phash(preview) - imagehash.phash(final))
    return Fidelity(ssim=round(min(1.0, max(0.0, ssim)), 4), hash_distance=distance)


def measure(preview: bytes, final: bytes) -> Fidelity:
    """Fidelity of two encoded pictures (both decoded here), at the final's shape."""
    with Image.open(io.BytesIO(final)) as opened:
        size = common_size(*opened.size)
    return compare(sample_of_bytes(preview, size), sample_of_bytes(final, size))
