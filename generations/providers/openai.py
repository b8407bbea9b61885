"""OpenAI-compatible `/v1/images/generations` over httpx: OpenAI itself, and the gateways
that put other models (Nano Banana among them) behind the same shape.

Gateways disagree on how they take the resolution ("size": "4096x4096", or
"size": "1024x1024" plus "quality" / "image_size"), so those fields come from the model's
registry entry (`openai_params`, `openai_params_by_size`), not from code here.
"""

from __future__ import annotations

from typing import Any, Final

import httpx

from generations.catalog import ModelEntry
from generations.providers import http
from generations.providers.base import (
    AuthFailed,
    ContentBlocked,
    InvalidRequest,
    MalformedResponse,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    RenderRequest,
    RenderResult,
    ServerError,
    Timeout,
)

# Error codes that mean "this prompt or image was refused": rephrase, do not retry.
_BLOCK_CODES: Final = frozenset(
    {"moderation_blocked", "content_policy_violation", "content_filter", "safety_violation"}
)
# No money (or a hard spend limit) on the account: retrying cannot help until an admin acts.
_QUOTA_CODES: Final = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
_META_FIELDS: Final = ("created", "usage", "output_format", "size", "quality", "model")


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        model: ModelEntry,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.model = model
        self.client = client or http.new_client(transport=transport)
        self.service = f"the {model.label} gateway"

    def render(self, request: RenderRequest) -> RenderResult:
        http.require_size(self.model, request)
        key = http.api_key(self.model)
        headers = {"authorization": f"Bearer {key}"} if key else {}
        try:
            raw = http.post_json(
                self.client,
                self.url(),
                payload=request_body(self.model, request),
                headers=headers,
                timeout_s=request.timeout_s,
                service=self.service,
            )
            request_id = raw.headers.get("x-request-id", "")
            if raw.status != httpx.codes.OK:
                error = error_for(
                    raw.status, raw.headers, http.error_json(raw.body), self.model, key
                )
                # What support asks for first when a call went wrong.
                error.meta = {"request_id": request_id} if request_id else {}
                raise error
            payload = http.take_json(raw.body, service=self.service)
            del raw
            return self._result(payload, request_id=request_id, key=key)
        except ProviderError as error:
            error.message = http.redact(error.message, key)
            error.args = (error.message,)
            raise

    def url(self) -> str:
        # The registry's base is the server root; tolerate one that already ends in /v1.
        base = self.model.base_url.removesuffix("/v1")
        return f"{base}/v1/images/generations"

    def _result(self, payload: Any, *, request_id: str, key: str | None) -> RenderResult:
        if not isinstance(payload, dict):
            raise MalformedResponse(f"The answer from {self.service} is not a JSON object.")
        if isinstance(payload.get("error"), dict):  # some gateways fail with a 200
            raise error_for(httpx.codes.OK, httpx.Headers(), payload["error"], self.model, key)
        meta: dict[str, Any] = {name: payload[name] for name in _META_FIELDS if name in payload}
        if request_id:
            meta["request_id"] = request_id
        items = payload.get("data")
        first = items[0] if isinstance(items, list) and items else None
        if not isinstance(first, dict):
            raise MalformedResponse(f"{self.service} answered without an image.", meta=meta)
        if first.get("revised_prompt"):
            meta["revised_prompt"] = http.safe_text(first["revised_prompt"], key, limit=500)
        if not first.get("b64_json") and first.get("url"):
            raise MalformedResponse(
                f"{self.service} sent a URL instead of base64: it ignores "
                "response_format=b64_json.",
                meta=meta,
            )
        data = first.pop("b64_json", None)
        del payload, items, first
        image = http.decode_base64(data, service=self.service)
        del data
        width, height = http.header_size(image)
        # The endpoint declares no mime type: the bytes say what they are.
        return RenderResult(
            data=image, mime_type=http.sniff_mime(image), width=width, height=height, meta=meta
        )


def request_body(model: ModelEntry, request: RenderRequest) -> dict[str, Any]:
    return {
        **size_params(model, request),
        "model": request.model_id,
        "prompt": request.prompt,
        "n": 1,
        "response_format": "b64_json",
    }


def size_params(model: ModelEntry, request: RenderRequest) -> dict[str, Any]:
    """The entry's resolution fields for this request, templates filled in."""
    values = {
        "width": request.width,
        "height": request.height,
        "size": request.size,
        "size_lower": request.size.lower(),
        "aspect_ratio": request.aspect_ratio,
    }
    template = {**model.openai_params, **model.openai_params_by_size.get(request.size, {})}
    return {
        name: value.format_map(values) if isinstance(value, str) else value
        for name, value in template.items()
    }


def error_for(
    status: int,
    headers: httpx.Headers,
    error: dict[str, Any],
    model: ModelEntry,
    key: str | None,
) -> ProviderError:
    code = str(error.get("code") or "")
    kind = str(error.get("type") or "")
    said = http.safe_text(error.get("message"), key)
    label = f"{status} {code or kind}".strip()
    where = f"{model.label} ({label})"
    retry_after = http.retry_after_header(headers)
    if code in _QUOTA_CODES or kind in _QUOTA_CODES:
        return QuotaExhausted(
            _sentence(
                f"The account behind {where} has no quota left; retrying will not help. "
                "An admin must add credit or raise the limit",
                said,
            )
        )
    if code in _BLOCK_CODES or kind in _BLOCK_CODES:
        return ContentBlocked(_sentence(f"Blocked by {where}. Rephrase the prompt", said))
    if status == httpx.codes.TOO_MANY_REQUESTS:
        return RateLimited(_sentence(f"Rate limited by {where}", said), retry_after=retry_after)
    if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
        return AuthFailed(
            _sentence(f"{where} refused the API key in {model.api_key_env or '(none)'}", said)
        )
    if status == httpx.codes.NOT_FOUND:
        return InvalidRequest(
            _sentence(
                f"{where}: no model {model.model_id!r} (or no images endpoint) there; check "
                f"STUDIO_MODELS[{model.key!r}]",
                said,
            )
        )
    if status == httpx.codes.REQUEST_TIMEOUT:
        return Timeout(_sentence(f"{where} timed out", said), retry_after=retry_after)
    if status in (httpx.codes.SERVICE_UNAVAILABLE, 529):
        return Overloaded(_sentence(f"{where} is overloaded", said), retry_after=retry_after)
    if status >= 500 or status == httpx.codes.CONFLICT:
        return ServerError(_sentence(f"{where} failed", said), retry_after=retry_after)
    return InvalidRequest(_sentence(f"{where} rejected the request", said))


def _sentence(message: str, detail: str) -> str:
    return f"{message}: {detail}" if detail else f"{message}."
