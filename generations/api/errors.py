"""Every API error is JSON: {"error": {"code", "message", "fields"?}}, with a stable code.

| status | code | when |
|---|---|---|
| 400 | bad_request | a body that is not JSON |
| 401 | unauthenticated | no token, an unknown or revoked one, a deactivated owner |
| 403 | insufficient_scope | a read token on a write endpoint |
| 403 | forbidden | the person may not do this (role, own work only, four eyes, reports) |
| 404 | not_found | no such thing, or one of a project the person may not see |
| 405 | method_not_allowed | |
| 409 | conflict | the state machine refuses (not in review, someone decided first) |
| 409 | budget_exceeded | a budget does not allow the work; nothing was changed |
| 422 | invalid | the request's fields (per field in "fields") |
| 500 | server_error | a bug: logged, nothing of the request's transaction kept |
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.signals import got_request_exception
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestInvalid

from generations.spend.budgets import BudgetExceeded
from generations.states import TransitionError

logger = logging.getLogger(__name__)

CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid",
    429: "throttled",
    500: "server_error",
}


class ApiError(Exception):
    """An error the API answers with as it is: a status, a code and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Unauthenticated(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(401, "unauthenticated", message)


class InsufficientScope(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(403, "insufficient_scope", message)


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def error_response(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> HttpResponse:
    """An error outside a Ninja operation (an unknown path under /api/)."""
    return _json(error_body(code, message, fields), status)


def _json(body: dict, status: int) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def install(api: NinjaAPI) -> None:
    """Register the handlers that turn every exception an operation raises into the
    JSON above."""

    def answer(
        request: HttpRequest,
        status: int,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> HttpResponse:
        return _json(
            error_body(code or CODES_BY_STATUS.get(status, "error"), message, fields), status
        )

    def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return answer(request, exc.status, exc.message, code=exc.code)

    def authentication(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return answer(
            request,
            401,
            "Send an API token: “Authorization: Bearer <token>” (create one under API "
            "tokens, in the site's header menu).",
        )

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return answer(request, exc.status_code, exc.message)

    def request_invalid(request: HttpRequest, exc: RequestInvalid) -> HttpResponse:
        fields: dict[str, list[str]] = {}
        for error in exc.errors:
            fields.setdefault(_field_name(error.get("loc", ())), []).append(error["msg"])
        return answer(request, 422, "The request is not valid; see fields.", fields=fields)

    def not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        message = str(exc) if isinstance(exc, Http404) and exc.args else "Not found."
        return answer(request, 404, message)

    def denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return answer(request, 403, str(exc) or "You may not do that.")

    def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        if hasattr(exc, "error_dict"):
            fields = {name: list(messages) for name, messages in exc.message_dict.items()}
            return answer(request, 422, " ".join(exc.messages), fields=fields)
        return answer(request, 422, " ".join(exc.messages))

    def refused(request: HttpRequest, exc: TransitionError) -> HttpResponse:
        code = "budget_exceeded" if isinstance(exc, BudgetExceeded) else "conflict"
        return answer(request, 409, str(exc), code=code)

    def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Logged like any view's error (and the test client re-raises it).
        logger.error("API error on %s", request.path, exc_info=exc)
        got_request_exception.send(sender=None, request=request)
        return answer(request, 500, "Something went wrong on our side; it has been logged.")

    handlers: list[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]]] = [
        (ApiError, api_error),
        (AuthenticationError, authentication),
        (HttpError, http_error),
        (RequestInvalid, request_invalid),
        (Http404, not_found),
        (ObjectDoesNotExist, not_found),
        (PermissionDenied, denied),
        (ValidationError, invalid),
        (TransitionError, refused),
        (Exception, unexpected),
    ]
    for exception, handler in handlers:
        api.add_exception_handler(exception, handler)


def _field_name(loc: Any) -> str:
    """Pydantic's location ("body", "payload", "submissions", 1, "prompt") as the field's
    dotted name ("submissions.1.prompt"): without where it came from, or the name of the
    body's parameter."""
    parts = list(loc)
    if parts and parts[0] == "body":
        if len(parts) <= 2:
            return "body"
        parts = parts[2:]
    elif parts and parts[0] in {"query", "path", "header"}:
        parts = parts[1:]
    return ".".join(str(part) for part in parts) or "request"
