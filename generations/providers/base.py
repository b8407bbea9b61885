"""The provider interface and its error taxonomy.

Every provider turns a RenderRequest into a RenderResult or raises a ProviderError
subclass. Each error says whether retrying may help and whether the call is billed,
so the state machine never has to know which provider it is talking to.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ClassVar, Final, Protocol

from PIL import Image, UnidentifiedImageError

# What every provider takes as an input image (Gemini also takes HEIC; OpenAI does not).
INPUT_MIME_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/webp"})

# The one wording of "make the final from the approved preview", for every provider: the
# preview is the first input image, and the prompt it was rendered from follows.
ESCALATION_INSTRUCTION: Final = (
    "Reproduce the first attached image, the approved preview, at a higher resolution "
    "with more fine detail. Keep its composition, framing, subjects, colours and lighting "
    "exactly as they are; change nothing else. It was made from this prompt:"
)

# An edit ("make the sky stormy, keep the boat"): the image to change goes first.
EDIT_INSTRUCTION: Final = (
    "Edit the first attached image as asked below. Keep everything the request does not "
    "mention exactly as it is: composition, subjects, colours, light and style."
)


class InputRole(StrEnum):
    """What an input image is to the model."""

    APPROVED_PREVIEW = "approved preview"  # to be reproduced: composition and colour kept
    REFERENCE = "reference"  # to steer style, subjects or palette
    SOURCE = "image to edit"  # an edit's starting point: changed only as the prompt asks


@dataclass(frozen=True)
class InputImage:
    """An image sent with the prompt: encoded bytes and what they are."""

    data: bytes = field(repr=False)
    mime_type: str  # "image/png", "image/jpeg", "image/webp"
    width: int
    height: int
    role: InputRole = InputRole.REFERENCE

    @classmethod
    def from_bytes(cls, data: bytes, *, role: InputRole = InputRole.REFERENCE) -> InputImage:
        """An input image whose mime type and size are read from its own header."""
        try:
            with Image.open(io.BytesIO(data)) as image:  # lazy: no pixel is decoded
                mime_type = Image.MIME.get(image.format or "", "")
                width, height = image.size
        except (UnidentifiedImageError, OSError):
            raise InvalidRequest(f"The {role} is not an image that can be read.") from None
        if mime_type not in INPUT_MIME_TYPES:
            raise InvalidRequest(
                f"The {role} is {mime_type or 'in an unknown format'}; "
                "providers take PNG, JPEG or WebP."
            )
        return cls(data=data, mime_type=mime_type, width=width, height=height, role=role)

    def __repr__(self) -> str:  # the bytes stay out of logs and tracebacks
        return (
            f"InputImage({self.role}, {self.mime_type}, {self.width}×{self.height}, "
            f"{len(self.data)} bytes)"
        )


@dataclass(frozen=True)
class RenderRequest:
    prompt: str  # the designer's prompt
    model_id: str
    aspect_ratio: str
    size: str  # "1K" / "2K" / "4K"
    width: int  # the pixel size the published table promises
    height: int
    seed: int  # sent to every provider that takes one (the same for preview and final)
    timeout_s: float
    input_images: tuple[InputImage, ...] = ()  # sent before the text, in this order
    instruction: str = ""  # put before the prompt, e.g. ESCALATION_INSTRUCTION

    @property
    def text(self) -> str:
        """What the model is told in words: the instruction, if any, then the prompt."""
        return compose_prompt(self.instruction, self.prompt)

    def from_preview(
        self, preview: InputImage, *, references: tuple[InputImage, ...] = ()
    ) -> RenderRequest:
        """This request (same prompt, seed and size) as "reproduce this approved preview".

        The preview goes first, then any references; the instruction says what to do.
        Whether the model takes that many input images is the catalogue's to say
        (ModelEntry.max_input_images); a provider refuses more with InvalidRequest.
        """
        return replace(
            self,
            input_images=(replace(preview, role=InputRole.APPROVED_PREVIEW), *references),
            instruction=ESCALATION_INSTRUCTION,
        )


def compose_prompt(instruction: str, prompt: str) -> str:
    return f"{instruction}\n\n{prompt}" if instruction else prompt


def escalation_prompt(prompt: str) -> str:
    """The text of a final made from the approved preview: the instruction, then the prompt."""
    return compose_prompt(ESCALATION_INSTRUCTION, prompt)


@dataclass(frozen=True)
class RenderResult:
    data: bytes
    mime_type: str
    width: int
    height: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def notes(self) -> list[str]:
        """What the provider changed on the way (e.g. an input image downscaled to fit)."""
        return list(self.meta.get("notes", []))


class ProviderError(Exception):
    """A failed render. Subclasses fix `retryable` and `billed`; messages are safe to show."""

    retryable: ClassVar[bool] = False
    billed: ClassVar[bool] = False
    kind: ClassVar[str] = "error"

    def __init__(
        self,
        message: str = "",
        *,
        retry_after: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message or self.kind.replace("_", " "))
        self.message = str(self.args[0])
        self.retry_after = retry_after
        # What the provider said about the failed call (ids, usage), kept on the Attempt.
        self.meta: dict[str, Any] = meta or {}


class RateLimited(ProviderError):
    retryable = True
    kind = "rate_limited"


class QuotaExhausted(ProviderError):
    """No quota left (an account without credit): retrying will not help."""

    kind = "quota_exhausted"


class DailyQuotaExhausted(QuotaExhausted):
    """A per-day quota used up: nothing helps until it resets, when everything does. The
    worker pauses the model for every job until then (generations.rendering.limits)."""


class Overloaded(ProviderError):
    retryable = True
    kind = "overloaded"


class Timeout(ProviderError):
    retryable = True
    kind = "timeout"


class ServerError(ProviderError):
    retryable = True
    kind = "server_error"


class ContentBlocked(ProviderError):
    kind = "content_blocked"


class NoImage(ContentBlocked):
    """The model answered without an image (text only, NO_IMAGE, IMAGE_OTHER).

    A ContentBlocked, because the same prompt will almost always get the same answer:
    the designer has to rephrase, not wait.
    """

    kind = "no_image"


class InvalidRequest(ProviderError):
    kind = "invalid_request"


class AuthFailed(ProviderError):
    kind = "auth_failed"


class MalformedResponse(ProviderError):
    retryable = True
    kind = "malformed_response"


class Provider(Protocol):
    name: str

    def render(self, request: RenderRequest) -> RenderResult: ...
