"""The API: one NinjaAPI under /api/v1/, its routers, its errors, and its URLs.

Django Ninja builds the OpenAPI document from the operations' type hints (served at
/api/v1/openapi.json, browsable at /api/v1/docs from vendored static files, no CDN); the
committed copy is docs/openapi.json, which a test keeps equal to it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pydantic_core
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver, include, path, re_path, reverse
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.openapi.docs import Swagger
from ninja.operation import Operation
from ninja.renderers import JSONRenderer

from generations.api import account, errors, generations, images, spend, submissions


class PydanticJSONRenderer(JSONRenderer):
    """JSON by pydantic-core (Rust): a list page's items in ~0.5 ms where json.dumps with
    Django's encoder took ~5 ms. Same output: ISO 8601 times, decimals as strings."""

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> Any:
        return pydantic_core.to_json(data)


class StudioApi(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # "generation_list", not "generations_api_generations_generation_list": the names
        # client generators give their methods. Unique: the test of the document checks.
        return operation.view_func.__name__


api = StudioApi(
    title="Proof Studio API",
    version="1",
    description=(
        "Submit prompts, follow generations through preview, review and the 4K final, "
        "decide on them, download their images, and read spend — as the pages do, with "
        "the same permission checks. Authenticate with a personal API token "
        "(`Authorization: Bearer ps_…`), created under *API tokens* in the site's header "
        "menu; write operations (`x-token-scope: write`) need a read-and-write token. "
        'Errors are `{"error": {"code", "message", "fields"?}}`. Lists are '
        "paged by cursor: follow `next_cursor` until it is null."
    ),
    urls_namespace="api",
    renderer=PydanticJSONRenderer(),
    docs=Swagger(),
    openapi_url="/openapi.json",
    docs_url="/docs",
)
errors.install(api)
api.add_router("", account.router)
api.add_router("", submissions.router)
api.add_router("", generations.router)
api.add_router("", images.router)
api.add_router("", spend.router)


@csrf_exempt  # changes nothing; an API client sends no CSRF token
@login_not_required
def index(request: HttpRequest) -> HttpResponse:
    """/api/v1/: where the reference is (instead of Ninja's bare 404 here)."""
    return JsonResponse(
        {
            "title": api.title,
            "version": api.version,
            "openapi": request.build_absolute_uri(reverse("api:openapi-json")),
            "docs": request.build_absolute_uri(reverse("api:openapi-view")),
        }
    )


@csrf_exempt  # a POST to a wrong path is a JSON 404 too, not the HTML CSRF page
@login_not_required
def unknown(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other path under /api/: a JSON 404, like every API error."""
    return errors.error_response(404, "not_found", f"No API endpoint at {request.path}.")


def _api_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """One of Ninja's views as the API serves it:
    - it authenticates by token itself, so Django's LoginRequiredMiddleware (which would
      answer a token request with a 302 to the login page) leaves it alone;
    - a method the path does not have is a JSON 405 like every other error (Ninja's is
      plain text).
    functools.wraps keeps Ninja's marks on the view (csrf_exempt)."""

    @functools.wraps(view)
    def api_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = errors.error_response(
                405, "method_not_allowed", f"{request.method} is not allowed here; use {allowed}."
            )
            response["Allow"] = allowed
        return response

    return login_not_required(api_view)


def _served(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    served: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            if pattern.name == "api-root":
                pattern = path("", index, name="api-root")
            else:
                pattern.callback = _api_view(pattern.callback)
        served.append(pattern)
    return served


# (Not unpacked into `app_name`: at module level that would name this URLconf's namespace.)
_patterns, _app, _namespace = api.urls
urlpatterns = [
    re_path(r"^v1/", include((_served(_patterns), _app), namespace=_namespace)),
    re_path(r"^(?P<rest>.*)$", unknown, name="api_unknown"),
]
