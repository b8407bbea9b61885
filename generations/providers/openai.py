"""OpenAI-compatible `/v1/images/generations` over httpx: OpenAI itself, and the gateways
that put other models (Nano Banana among them) behind the same shape.

Gateways disagree on how they take the resolution ("size": "4096x4096", or
"size": "1024x1024" plus "quality" / "image_size") and on whether they take a seed at all,
so those fields come from the model's registry entry (`openai_params`,
`openai_params_by_size`, e.g. {"seed": "{seed}"}), not from code here.

With input images (the approved preview, references) the request goes to
`/v1/images/edits` instead, as multipart/form-data: one `image[]` file part per image, in
order, beside the same fields. Only entries whose `max_input_images` says so get any.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final

import httpx

from generations.catalog import ModelEntry
from generations.providers import http, inputs
from generations.providers.base import (
    AuthFailed,
    ContentBlocked,
    InputImage,
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
_PLACEHOLDER: Final = re.compile(r"\{(\w+)\}")
_EXTENSIONS: Final = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
# What multipart framing adds per part: boundary line, Content-Disposition (with the
# file name) and Content-Type headers, blank lines. Generous, so the limit holds.
_PART_BYTES: Final = 256


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
        inputs.require_inputs(
            request, max_images=self.model.max_input_images, label=self.model.label
        )
        key = http.api_key(self.model)
        headers = {"authorization": f"Bearer {key}"} if key else {}
        sent: dict[str, Any] = {}
        try:
            raw, sent = self._send(request, headers=headers)
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
            result = self._result(payload, request_id=request_id, key=key)
            result.meta.update(sent)
            return result
        except ProviderError as error:
            error.message = http.redact(error.message, key)
            error.args = (error.message,)
            error.meta = {**error.meta, **sent}
            raise

    def _send(
        self, request: RenderRequest, *, headers: dict[str, str]
    ) -> tuple[http.RawResponse, dict[str, Any]]:
        """Generations as JSON, or, with input images, edits as multipart; and what was
        sent with it (for the attempt's metadata; nothing when there are no images)."""
        if not request.input_images:
            raw = http.post_json(
                self.client,
                self.url(),
                payload=request_body(self.model, request),
                headers=headers,
                timeout_s=request.timeout_s,
                service=self.service,
            )
            return raw, {}
        fields = edit_fields(self.model, request)
        fitted = inputs.fit_request(
            request.input_images,
            limit_bytes=self.model.max_request_bytes,
            fixed_bytes=sum(
                len(name) + len(value.encode()) + _PART_BYTES for name, value in fields.items()
            ),
            wire_bytes=lambda image: len(image.data) + _PART_BYTES,
            service=self.service,
        )
        raw = http.post_multipart(
            self.client,
            self.url("edits"),
            fields=fields,
            files=image_parts(fitted.images),
            headers=headers,
            timeout_s=request.timeout_s,
            service=self.service,
        )
        sent: dict[str, Any] = {"inputs": inputs.summary(fitted.images)}
        if fitted.notes:
            sent["notes"] = list(fitted.notes)
        return raw, sent

    def url(self, endpoint: str = "generations") -> str:
        # The registry's base is the server root; tolerate one that already ends in /v1.
        base = self.model.base_url.removesuffix("/v1")
        return f"{base}/v1/images/{endpoint}"

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
    """The JSON of `/v1/images/generations`."""
    return {
        **template_params(model, request),
        "model": request.model_id,
        "prompt": request.text,
        "n": 1,
        "response_format": "b64_json",
    }


def edit_fields(model: ModelEntry, request: RenderRequest) -> dict[str, str]:
    """The form fields of `/v1/images/edits`: the same as a generation's, as text."""
    return {name: _form_value(value) for name, value in request_body(model, request).items()}


def image_parts(images: Sequence[InputImage]) -> list[http.FilePart]:
    """One `image[]` file part per input image, in order, named for what it is."""
    parts: list[http.FilePart] = []
    for number, image in enumerate(images, start=1):
        extension = _EXTENSIONS.get(image.mime_type, "png")
        name = f"input-{number}-{str(image.role).replace(' ', '-')}.{extension}"
        parts.append(("image[]", (name, image.data, image.mime_type)))
    return parts


def template_params(model: ModelEntry, request: RenderRequest) -> dict[str, Any]:
    """The entry's extra fields for this request (resolution, seed…), templates filled in.

    A value that is exactly one placeholder is sent as that value ("{seed}" -> 7, an
    integer in JSON); any other text is formatted ("{width}x{height}" -> "1024x1024").
    """
    values: dict[str, Any] = {
        "width": request.width,
        "height": request.height,
        "size": request.size,
        "size_lower": request.size.lower(),
        "aspect_ratio": request.aspect_ratio,
        "seed": request.seed,
    }
    template = {**model.openai_params, **model.openai_params_by_size.get(request.size, {})}
    return {name: _fill(value, values) for name, value in template.items()}


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole and whole.group(1) in values:
        return values[whole.group(1)]
    return value.format_map(values)


def _form_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    # JSON spelling for the rest: true/false, null, numbers, nested objects.
    return json.dumps(value)


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
