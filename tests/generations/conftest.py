"""Fixtures for the hosted providers: a fake provider server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from generations.providers import http
from tests.support.provider_server import FakeProviderServer


@pytest.fixture
def provider_server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server
    # Pooled connections point at a server that no longer exists.
    http.close_clients()
