"""Gemini REST (`:generateContent`) over httpx: Nano Banana Pro, Nano Banana 2, Nano Banana.

Wire facts this module is built on (DESIGN.md, "Providers"):
- the key goes in the `x-goog-api-key` header, never in the URL;
- blocks come back as HTTP 200: `promptFeedback.blockReason`, or a candidate whose
  `finishReason` says why there is no image;
- parts marked `"thought": true` are interim images of a thinking model, not the answer;
- a 429 carries no Retry-After header: the wait is `google.rpc.RetryInfo.retryDelay`
  in the error details, and a `QuotaFailure` whose quota id says `PerDay` will not
  recover by retrying today;
- the seed goes in `generationConfig.seed` (an integer); input images (the approved
  preview, references) are `inlineData` parts, base64, before the text part, and are
  billed as input tokens (`usageMetadata.promptTokenCount`, kept on the attempt);
- a request with inline data may weigh 20 MB at most: larger inputs are downscaled to fit
  the entry's `max_request_bytes`, and the result's notes say so.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import replace
from typing import Any, Final
from urllib.parse import quote

import httpx

from generations.catalog import ModelEntry
from generations.providers import http, inputs
from generations.providers.base import (
    AuthFailed,
    ContentBlocked,
    DailyQuotaExhausted,
    InputImage,
    InvalidRequest,
    MalformedResponse,
    NoImage,
    Overloaded,
    ProviderError,
    RateLimited,
    RenderRequest,
    RenderResult,
    ServerError,
)

SERVICE: Final = "Gemini"
_RETRY_INFO: Final = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE: Final = "type.googleapis.com/google.rpc.QuotaFailure"
_ERROR_INFO: Final = "type.googleapis.com/google.rpc.ErrorInfo"
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
# usageMetadata.promptTokenCount includes the input images' tokens (promptTokensDetails
# splits them by modality): what an escalation from the preview costs on top of the image.
_META_FIELDS: Final = ("usageMetadata", "modelVersion", "responseId")
_INLINE_PART_BYTES: Final = len('{"inlineData":{"mimeType":"","data":""}},')

# finishReason -> what the designer reads. Blocks say what tripped; the rest say that
# the model gave up, which rephrasing (not retrying) is what helps.
_BLOCKS: Final = {
    "SAFETY": "the prompt or the image tripped Gemini's safety filters",
    "IMAGE_SAFETY": "Gemini's image safety filter withheld the picture",
    "PROHIBITED_CONTENT": "Gemini found prohibited content in the request",
    "IMAGE_PROHIBITED_CONTENT": "Gemini found prohibited content in the picture",
    "BLOCKLIST": "the prompt contains a blocked term",
    "SPII": "the request touched sensitive personal information",
    "RECITATION": "the result was too close to existing material",
    "IMAGE_RECITATION": "the picture was too close to existing material",
}
_NO_IMAGE: Final = {
    "NO_IMAGE": "Gemini produced no image for this prompt",
    "IMAGE_OTHER": "Gemini stopped without an image (no reason given)",
    "OTHER": "Gemini stopped without an image (no reason given)",
    "MAX_TOKENS": "Gemini ran out of output tokens before the image",
    "MALFORMED_FUNCTION_CALL": "Gemini produced no image",
}
_PROMPT_BLOCKS: Final = {
    "SAFETY": "it tripped Gemini's safety filters",
    "BLOCKLIST": "it contains a blocked term",
    "PROHIBITED_CONTENT": "Gemini found prohibited content in it",
    "IMAGE_SAFETY": "it asks for an image Gemini's safety filter refuses",
    "OTHER": "Gemini gave no reason",
}


class GeminiProvider:
    name = "gemini"

    def __init__(
        self,
        model: ModelEntry,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.model = model
        self.client = client or http.new_client(transport=transport)

    def render(self, request: RenderRequest) -> RenderResult:
        http.require_size(self.model, request)
        inputs.require_inputs(
            request, max_images=self.model.max_input_images, label=self.model.label
        )
        key = http.api_key(self.model)
        sent: dict[str, Any] = {}
        try:
            request, sent = self._fit(request)
            raw = http.post_json(
                self.client,
                self.url(request.model_id),
                payload=request_body(request, send_image_size=self.model.sends_image_size),
                headers={"x-goog-api-key": key or ""},
                timeout_s=request.timeout_s,
                service=SERVICE,
            )
            if raw.status != httpx.codes.OK:
                raise error_for(raw, model=self.model, key=key)
            result = result_from(http.take_json(raw.body, service=SERVICE), key=key)
            result.meta.update(sent)
            return result
        except ProviderError as error:
            # Belt and braces: whatever a server echoed, the key never leaves this call.
            error.message = http.redact(error.message, key)
            error.args = (error.message,)
            error.meta = {**error.meta, **sent}
            raise

    def fit(self, request: RenderRequest) -> tuple[RenderRequest, dict[str, Any]]:
        """`_fit` for the Batch API (generations.providers.gemini_batch): each inlined
        request is the same request as the standard lane's, inputs fitted the same way."""
        return self._fit(request)

    def _fit(self, request: RenderRequest) -> tuple[RenderRequest, dict[str, Any]]:
        """The request with its input images made to fit the request limit, and what was
        sent (for the attempt's metadata; nothing when there are no input images)."""
        if not request.input_images:
            return request, {}
        bare = request_body(
            replace(request, input_images=()), send_image_size=self.model.sends_image_size
        )
        fitted = inputs.fit_request(
            request.input_images,
            limit_bytes=self.model.max_request_bytes,
            # Measured as httpx sends JSON: compact, UTF-8.
            fixed_bytes=len(json.dumps(bare, ensure_ascii=False, separators=(",", ":")).encode()),
            wire_bytes=inline_bytes,
            service=SERVICE,
        )
        sent: dict[str, Any] = {"inputs": inputs.summary(fitted.images)}
        if fitted.notes:
            sent["notes"] = list(fitted.notes)
        return replace(request, input_images=fitted.images), sent

    def url(self, model_id: str) -> str:
        return f"{self.model.base_url}/v1beta/models/{quote(model_id, safe='')}:generateContent"


def request_body(request: RenderRequest, *, send_image_size: bool) -> dict[str, Any]:
    image_config: dict[str, str] = {"aspectRatio": request.aspect_ratio}
    if send_image_size:
        image_config["imageSize"] = request.size  # "1K" / "2K" / "4K", uppercase K
    # Images first, in the caller's order (the approved preview leads), then the words.
    parts: list[dict[str, Any]] = [_inline(image) for image in request.input_images]
    parts.append({"text": request.text})
    return {
        "contents": [{"role": "user", "parts": parts}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "imageConfig": image_config,
            "seed": request.seed,
        },
    }


def _inline(image: InputImage) -> dict[str, Any]:
    data = base64.b64encode(image.data).decode("ascii")
    return {"inlineData": {"mimeType": image.mime_type, "data": data}}


def inline_bytes(image: InputImage) -> int:
    """What one input image adds to the JSON request: its base64 and the part around it."""
    return 4 * math.ceil(len(image.data) / 3) + len(image.mime_type) + _INLINE_PART_BYTES


# --- a 200 answer ----------------------------------------------------------------------


def result_from(payload: Any, *, key: str | None) -> RenderResult:
    """The first non-thought image, or the reason there is none.

    The base64 text is popped out of the document (the caller may still hold it), so
    only that text and the decoded bytes are alive together while decoding.
    """
    if not isinstance(payload, dict):
        raise MalformedResponse("Gemini's answer is not a JSON object.")
    meta = {name: payload[name] for name in _META_FIELDS if name in payload}
    inline = _final_image(payload)
    if inline is None:
        raise _why_no_image(payload, meta=meta, key=key)
    mime_type = str(inline.get("mimeType") or inline.get("mime_type") or "")
    data = inline.pop("data", None)
    del payload, inline
    image = http.decode_base64(data, service=SERVICE)
    del data
    # Gemini reports no pixel size: read it from the image header (rendering then
    # checks the whole file and compares both with what was asked).
    width, height = http.header_size(image)
    return RenderResult(data=image, mime_type=mime_type, width=width, height=height, meta=meta)


def _parts(payload: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for candidate in payload.get("candidates") or []:
        content = candidate.get("content") if isinstance(candidate, dict) else None
        if isinstance(content, dict):
            parts += [p for p in content.get("parts") or [] if isinstance(p, dict)]
    return parts


def _final_image(payload: dict[str, Any]) -> dict[str, Any] | None:
    for part in _parts(payload):
        if part.get("thought"):
            # An interim image of the thinking process: skipped, and its data freed now.
            thought = part.get("inlineData") or part.get("inline_data")
            if isinstance(thought, dict):
                thought.pop("data", None)
            continue
        inline = part.get("inlineData") or part.get("inline_data")
        if isinstance(inline, dict) and inline.get("data"):
            return inline
    return None


def _why_no_image(
    payload: dict[str, Any], *, meta: dict[str, Any], key: str | None
) -> ProviderError:
    feedback = payload.get("promptFeedback") or {}
    block = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if block:
        why = _PROMPT_BLOCKS.get(str(block), "Gemini refused it")
        detail = http.safe_text(feedback.get("blockReasonMessage"), key)
        return ContentBlocked(
            _sentence(f"The prompt was blocked ({block}): {why}. Rephrase it", detail),
            meta=meta,
        )
    candidates = [c for c in payload.get("candidates") or [] if isinstance(c, dict)]
    if not candidates:
        return MalformedResponse("Gemini answered with neither an image nor a reason.", meta=meta)
    first = candidates[0]
    reason = str(first.get("finishReason") or "")
    detail = http.safe_text(first.get("finishMessage"), key)
    if reason in _BLOCKS:
        return ContentBlocked(
            _sentence(
                f"Blocked by Gemini ({reason}): {_BLOCKS[reason]}. Rephrase the prompt", detail
            ),
            meta=meta,
        )
    if reason in _NO_IMAGE:
        return NoImage(_sentence(f"No image ({reason}): {_NO_IMAGE[reason]}", detail), meta=meta)
    text = " ".join(str(p["text"]) for p in _parts(payload) if "text" in p and not p.get("thought"))
    if text:
        said = http.safe_text(text, key, limit=200)
        return NoImage(f"Gemini answered with text instead of an image: “{said}”", meta=meta)
    return MalformedResponse(
        f"Gemini's answer has no image (finishReason {reason or 'missing'}).", meta=meta
    )


def _sentence(message: str, detail: str) -> str:
    return f"{message}. {detail}" if detail else f"{message}."


# --- an error answer -------------------------------------------------------------------


def error_for(raw: http.RawResponse, *, model: ModelEntry, key: str | None) -> ProviderError:
    error = http.error_json(raw.body)
    status = str(error.get("status") or "")
    label = f"{raw.status} {status}".strip()
    said = http.safe_text(error.get("message"), key)
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    code = raw.status
    if code == httpx.codes.TOO_MANY_REQUESTS:
        daily = [q for q in _quota_ids(details) if _per_day(q)]
        if daily:
            return DailyQuotaExhausted(
                f"Gemini's daily quota {daily[0]} for {model.model_id} is used up; retrying "
                f"today will not help. An admin must raise the quota or wait for the reset."
            )
        return RateLimited(
            _sentence(f"Gemini rate limit for {model.model_id} ({label})", said),
            retry_after=_retry_delay(details) or http.retry_after_header(raw.headers),
        )
    if code in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN) or _invalid_key(details):
        return AuthFailed(
            _sentence(f"Gemini refused the API key in {model.api_key_env} ({label})", said)
        )
    if code == httpx.codes.NOT_FOUND:
        return InvalidRequest(
            _sentence(
                f"Gemini has no model {model.model_id!r} ({label}): the model id in "
                f"STUDIO_MODELS[{model.key!r}] is wrong or retired",
                said,
            )
        )
    if code == httpx.codes.SERVICE_UNAVAILABLE:
        return Overloaded(
            _sentence(f"Gemini is overloaded ({label})", said),
            retry_after=http.retry_after_header(raw.headers),
        )
    if code >= 500:
        return ServerError(_sentence(f"Gemini failed ({label})", said))
    return InvalidRequest(_sentence(f"Gemini rejected the request ({label})", said))


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    for detail in details:
        if detail.get("@type") == _RETRY_INFO:
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _quota_ids(details: list[dict[str, Any]]) -> list[str]:
    """Each violated quota's id, else its metric. A daily one reads e.g. quotaId
    "GenerateRequestsPerDayPerProjectPerModel" (or "…-FreeTier"), quotaMetric
    "generativelanguage.googleapis.com/generate_requests_per_model_per_day"."""
    ids: list[str] = []
    for detail in details:
        if detail.get("@type") == _QUOTA_FAILURE:
            for violation in detail.get("violations") or []:
                if isinstance(violation, dict):
                    quota_id, metric = violation.get("quotaId"), violation.get("quotaMetric")
                    if quota_id and not _per_day(str(quota_id)) and _per_day(str(metric or "")):
                        quota_id = metric  # the metric says per day where the id does not
                    ids.append(str(quota_id or metric or ""))
    return ids


def _per_day(quota: str) -> bool:
    lowered = quota.lower()
    return "perday" in lowered or "per_day" in lowered


def _invalid_key(details: list[dict[str, Any]]) -> bool:
    # An invalid key is a 400 INVALID_ARGUMENT whose ErrorInfo says API_KEY_INVALID.
    return any(
        d.get("@type") == _ERROR_INFO and d.get("reason") == "API_KEY_INVALID" for d in details
    )
