"""Gemini's Batch API (the economy lane): half the standard price, 24 h target turnaround.

Wire facts (ai.google.dev/api/batch-mode and the Batch API guide):
- create: `POST {base}/{version}/models/{model}:batchGenerateContent` with
  `{"batch": {"displayName", "inputConfig": {"requests": {"requests": [{"request":
  GenerateContentRequest, "metadata": {"key": …}}]}}}}`; the answer is a long-running
  operation `{"name": "batches/…", "metadata": {"state": "BATCH_STATE_PENDING", …}}`.
  Each request is the standard lane's request body (seed, input images, config:
  generations.providers.gemini.request_body), inputs fitted to the request limit the same way.
- poll: `GET {base}/{version}/batches/{id}`: the operation, `metadata.state` one of
  BATCH_STATE_PENDING / RUNNING / SUCCEEDED / FAILED / CANCELLED / EXPIRED (the Python
  SDK shows them as JOB_STATE_*; both spellings are read). When done, the output is in
  `response` (or `metadata.output`): `inlinedResponses.inlinedResponses[]`, in request
  order, each `{"metadata": {"key"}, "response": GenerateContentResponse}` or
  `{"metadata", "error": Status}`; or, for large jobs, `responsesFile` ("files/…"),
  downloaded from `{base}/download/{version}/{file}:download?alt=media` as JSONL, one
  line per request (`{"key", "response"}` or `{"key", "error"}`), read line by line.
- list: `GET {base}/{version}/batches` (`operations[]`, `nextPageToken`): how a job whose
  creation we lost in a crash is found again by its displayName.
- An item's image, block or error reads exactly as the standard lane's
  (gemini.result_from), so a blocked item is ContentBlocked with the same words.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Final
from urllib.parse import quote

import httpx
from django.conf import settings

from generations.catalog import ModelEntry
from generations.providers import gemini, http
from generations.providers.base import (
    AuthFailed,
    InvalidRequest,
    MalformedResponse,
    Overloaded,
    ProviderError,
    RenderResult,
    ServerError,
    Timeout,
)
from generations.providers.batch import BatchItem, JobState, JobStatus, Outcome

SERVICE: Final = "Gemini Batch API"
_STATES: Final = {
    "UNSPECIFIED": JobState.PENDING,
    "PENDING": JobState.PENDING,
    "QUEUED": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "CANCELLING": JobState.RUNNING,  # not over until it says cancelled
    "SUCCEEDED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "EXPIRED": JobState.EXPIRED,
}
# google.rpc.Code of an item's own error -> what it is to us (retryable or not).
_ITEM_ERRORS: Final[dict[int, type[ProviderError]]] = {
    3: InvalidRequest,  # INVALID_ARGUMENT
    4: Timeout,  # DEADLINE_EXCEEDED
    5: InvalidRequest,  # NOT_FOUND
    7: AuthFailed,  # PERMISSION_DENIED
    8: Overloaded,  # RESOURCE_EXHAUSTED
    9: InvalidRequest,  # FAILED_PRECONDITION
    11: InvalidRequest,  # OUT_OF_RANGE
    14: Overloaded,  # UNAVAILABLE
    16: AuthFailed,  # UNAUTHENTICATED
}
_LIST_PAGES: Final = 20  # pages of 100 jobs searched for a lost job (newest first)


class GeminiBatchProvider:
    name = "gemini"

    def __init__(
        self,
        model: ModelEntry,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        version: str | None = None,
    ) -> None:
        self.model = model
        self.client = client or http.new_client(transport=transport)
        self.version = version or settings.STUDIO_GEMINI_API_VERSION
        self.timeout_s = float(settings.STUDIO_ECONOMY_CALL_TIMEOUT_SECONDS)
        self._standard = gemini.GeminiProvider(model, client=self.client)

    # --- the calls ---------------------------------------------------------------------

    def create(self, *, display_name: str, items: list[BatchItem]) -> JobStatus:
        key = http.api_key(self.model)
        requests = []
        for item in items:
            http.require_size(self.model, item.request)
            request, _ = self._standard.fit(item.request)
            body = gemini.request_body(request, send_image_size=self.model.sends_image_size)
            requests.append({"request": body, "metadata": {"key": item.key}})
        payload = {
            "batch": {
                "displayName": display_name,
                "inputConfig": {"requests": {"requests": requests}},
            }
        }
        url = f"{self._root()}/models/{quote(self.model.model_id, safe='')}:batchGenerateContent"
        with _redacted(key):
            raw = http.post_json(
                self.client,
                url,
                payload=payload,
                headers=self._headers(key),
                timeout_s=self.timeout_s,
                service=SERVICE,
            )
        del payload, requests
        return self._status(self._ok(raw, key), key)

    def find(self, *, display_name: str) -> JobStatus | None:
        key = http.api_key(self.model)
        token = ""
        for _ in range(_LIST_PAGES):
            params = {"pageSize": "100", **({"pageToken": token} if token else {})}
            raw = self._get(f"{self._root()}/batches", key, params=params)
            page = _object(http.take_json(raw.body, service=SERVICE))
            for operation in page.get("operations") or page.get("batches") or []:
                if isinstance(operation, dict):
                    status = status_from(operation)
                    if status.display_name == display_name:
                        return status
            token = str(page.get("nextPageToken") or "")
            if not token:
                return None
        return None

    def get(self, name: str) -> JobStatus:
        key = http.api_key(self.model)
        if not name.startswith("batches/"):
            raise InvalidRequest(f"{name!r} is not a Gemini batch job name.")
        url = f"{self._root()}/{quote(name, safe='/')}"
        return self._status(self._get(url, key), key)

    def results(self, status: JobStatus) -> Iterator[Outcome]:
        """One outcome per request of a succeeded job: from the inlined responses (popped
        as they are read), or streamed line by line from the responses file."""
        key = http.api_key(self.model)
        if status.responses_file:
            yield from self._file_results(status.responses_file, key)
            return
        output = status.output
        inlined = output.get("inlinedResponses")
        if isinstance(inlined, dict):
            inlined = inlined.get("inlinedResponses")
        if not isinstance(inlined, list):
            raise MalformedResponse(
                "Gemini's finished batch has neither inlined responses nor a responses file."
            )
        while inlined:
            entry = inlined.pop(0)
            if isinstance(entry, dict):
                yield item_outcome(entry, key=key)

    # --- helpers -----------------------------------------------------------------------

    def _file_results(self, file_name: str, key: str | None) -> Iterator[Outcome]:
        url = f"{self.model.base_url}/download/{self.version}/{quote(file_name, safe='/')}:download"
        stream = self.client.stream(
            "GET",
            url,
            params={"alt": "media"},
            headers=self._headers(key),
            timeout=http.attempt_timeout(self.timeout_s),
        )
        with _redacted(key), http.transport_errors(SERVICE, self.timeout_s), stream as response:
            if response.status_code != httpx.codes.OK:
                body = bytearray(response.read()[: http.MAX_ERROR_BYTES])
                raise self._error(
                    http.RawResponse(response.status_code, response.headers, body), key
                )
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    raise MalformedResponse(
                        "A line of Gemini's batch responses file is not JSON."
                    ) from None
                del line
                if isinstance(entry, dict):
                    yield item_outcome(entry, key=key)

    def _root(self) -> str:
        return f"{self.model.base_url}/{self.version}"

    @staticmethod
    def _headers(key: str | None) -> dict[str, str]:
        return {"x-goog-api-key": key or ""}

    def _get(
        self, url: str, key: str | None, *, params: dict[str, str] | None = None
    ) -> http.RawResponse:
        with _redacted(key):
            raw = http.get(
                self.client,
                url,
                headers=self._headers(key),
                timeout_s=self.timeout_s,
                service=SERVICE,
                params=params,
            )
        return self._ok(raw, key)

    def _ok(self, raw: http.RawResponse, key: str | None) -> http.RawResponse:
        if raw.status != httpx.codes.OK:
            raise self._error(raw, key)
        return raw

    def _error(self, raw: http.RawResponse, key: str | None) -> ProviderError:
        error = gemini.error_for(raw, model=self.model, key=key)
        error.message = http.redact(error.message, key)
        error.args = (error.message,)
        return error

    @staticmethod
    def _status(raw: http.RawResponse, key: str | None) -> JobStatus:
        return status_from(_object(http.take_json(raw.body, service=SERVICE)), key=key)


@contextmanager
def _redacted(key: str | None) -> Iterator[None]:
    """Whatever a server echoed, the key never leaves a call."""
    try:
        yield
    except ProviderError as error:
        error.message = http.redact(error.message, key)
        error.args = (error.message,)
        raise


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise MalformedResponse(f"{SERVICE}'s answer is not a JSON object.")
    return payload


def status_from(operation: dict[str, Any], *, key: str | None = None) -> JobStatus:
    """A job's status from its operation (or the batch resource itself)."""
    metadata = operation.get("metadata")
    batch = metadata if isinstance(metadata, dict) else operation
    name = str(operation.get("name") or batch.get("name") or "")
    raw_state = str(batch.get("state") or operation.get("state") or "")
    bare = raw_state.removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
    if bare not in _STATES:
        raise MalformedResponse(f"{SERVICE} reported an unknown job state {raw_state[:40]!r}.")
    state = _STATES[bare]
    output: Any = operation.get("response")
    if not isinstance(output, dict):
        output = batch.get("output") if isinstance(batch.get("output"), dict) else {}
    error = operation.get("error")
    said = ""
    if isinstance(error, dict):
        said = http.safe_text(error.get("message"), key) or f"code {error.get('code')}"
    return JobStatus(
        name=name,
        state=state,
        raw_state=raw_state,
        display_name=str(batch.get("displayName") or batch.get("display_name") or ""),
        error=said,
        responses_file=str(output.get("responsesFile") or ""),
        output=output,
    )


def item_outcome(entry: dict[str, Any], *, key: str | None) -> Outcome:
    """One request's outcome: our key, and its image or its own error (block or failure)."""
    metadata = entry.get("metadata")
    item_key = str(
        entry.get("key") or (metadata.get("key") if isinstance(metadata, dict) else "") or ""
    )
    error = entry.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        kind = _ITEM_ERRORS.get(code if isinstance(code, int) else -1, ServerError)
        said = http.safe_text(error.get("message"), key)
        return item_key, kind(
            f"Gemini could not render this item of the batch (code {code})"
            + (f": {said}" if said else ".")
        )
    response = entry.pop("response", None)
    try:
        result: RenderResult = gemini.result_from(response, key=key)
    except ProviderError as failed:
        return item_key, failed
    return item_key, replace(result, meta={**result.meta, "lane": "batch"})
