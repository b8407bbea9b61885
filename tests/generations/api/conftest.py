"""Calling the API as a program would: JSON in and out, a bearer token per person."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from generations import tokens
from generations.models import Generation
from generations.rendering.jobs import generation_render
from tests.support.fakes import drain_cpu_queue


class Api:
    """A test client speaking JSON with one person's token (or none)."""

    def __init__(self, client: Client, token: str | None) -> None:
        self.client, self.token = client, token

    def _headers(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(_url(path), params, **self._headers())

    def post(self, path: str, body: Any = None) -> Any:
        data = "" if body is None else json.dumps(body)
        return self.client.post(
            _url(path), data, content_type="application/json", **self._headers()
        )


def _url(path: str) -> str:
    return path if path.startswith("http") or path.startswith("/api/") else f"/api/v1{path}"


@pytest.fixture
def api_as(client):
    """api_as(user, scope="write") -> Api with a fresh token of that user; api_as(None)
    -> Api without a token."""

    def make(user: Any, scope: str = "write") -> Api:
        if user is None:
            return Api(client, None)
        _, raw = tokens.token_create(user=user, name=f"{user.username}-{scope}", scope=scope)
        return Api(Client(), raw)

    return make


def render_once(generation: Generation) -> Generation:
    """Run the real worker step (local provider, `instant` profile) and the renditions."""
    generation_render(generation_id=generation.pk, worker="test")
    drain_cpu_queue()
    generation.refresh_from_db()
    return generation


def error_of(response: Any) -> tuple[int, str]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.status_code, response.json()["error"]["code"]
