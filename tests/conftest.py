"""Shared fixtures: people with roles in a project, and fast, isolated settings."""

from __future__ import annotations

import importlib
import uuid

import pytest

from generations.models import Membership, Role
from tests.support.factories import ProjectFactory, UserFactory


@pytest.fixture(autouse=True)
def _fast_isolated_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STUDIO_RENDITION_SPOOL_DIR = str(tmp_path / "rendition-spool")
    settings.STUDIO_LOCAL_PROFILE = "instant"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # With a Redis limiter (CI), a cooldown or slot left by one test must not reach the next.
    settings.STUDIO_LIMITS_KEY_PREFIX = f"test-limits:{uuid.uuid4().hex}"
    # Provider health figures are computed afresh in each test (tests of the cache set it).
    settings.STUDIO_HEALTH_CACHE_SECONDS = 0


@pytest.fixture
def project(db):
    return ProjectFactory(name="Acme Launch", slug="acme")


def _member(project, username: str, *roles: Role):
    user = UserFactory(username=username)
    for role in roles:
        Membership.objects.create(project=project, user=user, role=role)
    return user


@pytest.fixture
def designer(project):
    return _member(project, "dana", Role.DESIGNER)


@pytest.fixture
def reviewer(project):
    return _member(project, "rui", Role.REVIEWER)


@pytest.fixture
def project_admin(project):
    return _member(project, "ada", Role.ADMIN)


@pytest.fixture
def outsider(db):
    """A designer in another project: must see nothing of `project`."""
    other = ProjectFactory(name="Elsewhere", slug="elsewhere")
    return _member(other, "otto", Role.DESIGNER)


@pytest.fixture(autouse=True)
def _price_list_after_flushes(request):
    """Every transactional test (races, browser tests) starts with the seeded price list,
    whatever an earlier one flushed."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        request.getfixturevalue("price_list")


@pytest.fixture
def price_list(db):
    """The published price list as migrations 0007 and 0016 (input images, upscales) seed
    it. A transactional test (races, browser tests) flushes the database when it ends,
    seeded rows included: a test that needs prices after one of those asks for this
    fixture."""
    from django.apps import apps as django_apps

    from generations.models import PriceEntry

    if not PriceEntry.objects.exists():
        for name in ("0007_seed_price_list", "0016_fidelity"):
            seed = importlib.import_module(f"generations.migrations.{name}").seed
            seed(django_apps, None)
