"""The API tokens page: create (shown once), list with last use, revoke; one's own only."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.test import Client
from django.urls import reverse

from generations import tokens
from generations.models import ApiToken

pytestmark = pytest.mark.django_db

PAGE = "/settings/tokens/"


def test_the_header_links_to_the_page(client, designer, project):
    client.force_login(designer)
    page = client.get(reverse("gallery")).content.decode()
    assert f'href="{reverse("api_tokens")}"' in page


def test_creating_a_token_shows_it_once_and_keeps_only_its_hash(client, designer):
    client.force_login(designer)
    response = client.post(PAGE, {"name": "nightly batch", "scope": "write"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    raw = re.search(r'id="new-token"[^>]*value="(ps_[\w-]+)"', html)[1]
    token = ApiToken.objects.get(user=designer)
    assert (token.name, token.scope) == ("nightly batch", "write")
    assert token.secret_hash == hashlib.sha256(raw.encode()).hexdigest()

    # It works, and the page never shows it again: only its prefix.
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    again = client.get(PAGE).content.decode()
    assert raw not in again and f"{token.prefix}…" in again
    assert "never" not in again.split(token.prefix)[1][:400]  # last use is shown


def test_a_token_needs_a_name(client, designer):
    client.force_login(designer)
    response = client.post(PAGE, {"name": " ", "scope": "read"})
    assert response.status_code == 400
    assert "Name the token" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_stops_the_token_at_once(client, designer):
    token, raw = tokens.token_create(user=designer, name="ci", scope="read")
    client.force_login(designer)
    response = client.post(reverse("api_token_revoke", args=[token.pk]), follow=True)
    assert "Revoked “ci”" in response.content.decode()
    assert "revoked" in response.content.decode()
    api = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.status_code == 401


def test_someone_elses_token_cannot_be_revoked_or_seen(client, designer, reviewer):
    token, _ = tokens.token_create(user=designer, name="dana's ci", scope="read")
    client.force_login(reviewer)
    assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert "dana's ci" not in client.get(PAGE).content.decode()


def test_the_page_is_for_signed_in_people_and_revoking_is_a_post(client, designer):
    assert client.get(PAGE).status_code == 302
    token, _ = tokens.token_create(user=designer, name="ci", scope="read")
    client.force_login(designer)
    assert client.get(reverse("api_token_revoke", args=[token.pk])).status_code == 405
