"""Providers by name. The hosted ones plug in here beside the local one."""

from __future__ import annotations

from django.conf import settings

from generations.providers.base import Provider


def get_provider(name: str) -> Provider:
    if name == "local":
        from generations.providers.local import LocalProvider

        return LocalProvider(profile=settings.STUDIO_LOCAL_PROFILE)
    raise LookupError(f"No provider called {name!r} is configured.")
