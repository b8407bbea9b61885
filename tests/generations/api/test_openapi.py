"""The OpenAPI document: served, committed as docs/openapi.json (kept equal to what the
API serves), and covering every URL and method under /api/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from generations.api.app import api

pytestmark = pytest.mark.django_db

COMMITTED = Path(settings.BASE_DIR) / "docs" / "openapi.json"
# URLs under /api/ that are not operations: the document itself, its browsable page, the
# index of /api/v1/, and the JSON 404 for any other path.
NOT_OPERATIONS = {"api/v1/openapi.json", "api/v1/docs", "api/v1/", "api/(?P<rest>.*)"}


def served() -> dict:
    response = Client().get("/api/v1/openapi.json")  # no token, no session: public
    assert response.status_code == 200
    return response.json()


def test_the_committed_document_is_what_the_api_serves():
    assert COMMITTED.exists(), "run `make openapi` and commit docs/openapi.json"
    assert json.loads(COMMITTED.read_text()) == served(), (
        "The API changed but docs/openapi.json did not: run `make openapi` and commit it."
    )


def _routes(patterns: list, prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def test_every_url_under_api_is_in_the_document():
    documented = set(served()["paths"])
    routes = [route for route in _routes(get_resolver().url_patterns) if route.startswith("api/")]
    assert len(routes) > len(NOT_OPERATIONS)
    for route in routes:
        if route in NOT_OPERATIONS:
            continue
        as_openapi = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        assert as_openapi in documented, f"/{route} is served but not in the OpenAPI document"
    assert {r for r in routes if r in NOT_OPERATIONS} == NOT_OPERATIONS


def test_every_method_of_every_operation_is_in_the_document_and_implemented():
    paths = served()["paths"]
    implemented = set()
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                assert operation.include_in_schema, operation.view_func.__name__
                route = "/api/v1" + re.sub(r"{\w+:(\w+)}", r"{\1}", prefix + path)
                implemented |= {(route, method.lower()) for method in operation.methods}
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    assert documented == implemented

    # Each documented operation answers (here: 401 without a token), none is a 404 or 405.
    anonymous = Client()
    for path, method in sorted(documented):
        url = re.sub(r"{\w+}", lambda m: "original" if m[0] == "{kind}" else "1", path)
        response = getattr(anonymous, method)(url)
        assert response.status_code == 401, (method, path, response.status_code)


def test_operation_ids_are_unique_and_name_the_operation():
    ids = [op["operationId"] for ops in served()["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert "generation_list" in ids and "submission_create_batch" in ids


def test_the_reference_page_and_the_index_are_public_and_use_no_cdn():
    anonymous = Client()
    page = anonymous.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"/static/ninja/swagger-ui-bundle.js" in page.content
    assert b"cdn" not in page.content.lower()
    index = anonymous.get("/api/v1/").json()
    assert index["openapi"].endswith("/api/v1/openapi.json")


def test_an_unknown_api_path_is_a_json_404_not_the_login_page_nor_a_csrf_page():
    strict = Client(enforce_csrf_checks=True)
    for response in (
        strict.get("/api/v2/generations"),
        strict.post("/api/v1/generations/abc/approve", HTTP_AUTHORIZATION="Bearer ps_x"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
