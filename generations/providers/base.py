"""The provider interface and its error taxonomy.

Every provider turns a RenderRequest into a RenderResult or raises a ProviderError
subclass. Each error says whether retrying may help and whether the call is billed,
so the state machine never has to know which provider it is talking to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class RenderRequest:
    prompt: str
    model_id: str
    aspect_ratio: str
    size: str  # "1K" / "2K" / "4K"
    width: int  # the pixel size the published table promises
    height: int
    seed: int
    timeout_s: float


@dataclass(frozen=True)
class RenderResult:
    data: bytes
    mime_type: str
    width: int
    height: int
    meta: dict[str, Any] = field(default_factory=dict)


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
    """A daily quota: retrying today will not help."""

    kind = "quota_exhausted"


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
