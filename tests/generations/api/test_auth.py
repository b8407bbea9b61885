"""Token auth: 401 without a valid token, 403 for a read token on a write call, and in
either case nothing done; never the login page's 302, and no CSRF for token calls."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from generations import tokens
from generations.api.app import api
from generations.models import ApiToken, Submission
from tests.generations.api.conftest import Api, error_of

pytestmark = pytest.mark.django_db

SUBMIT = "/projects/acme/submissions"
PROMPT = {"prompt": "a kite over dunes"}


def test_no_token_is_a_json_401_not_the_login_page(api_as, project, designer):
    response = api_as(None).get("/generations")
    assert error_of(response) == (401, "unauthenticated")
    assert "Bearer" in response.json()["error"]["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_signed_in_browser_session_does_not_authenticate_the_api(client, project, designer):
    client.force_login(designer)
    response = client.post(f"/api/v1{SUBMIT}", json.dumps(PROMPT), content_type="application/json")
    assert error_of(response) == (401, "unauthenticated")
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    "header",
    ["Bearer ps_not-a-real-token", "Bearer something-else", "Token ps_abc", "Basic ZGFuYTp4"],
)
def test_a_wrong_token_is_401_and_does_nothing(client, project, designer, header):
    response = client.post(
        f"/api/v1{SUBMIT}", json.dumps(PROMPT), content_type="application/json",
        HTTP_AUTHORIZATION=header,
    )  # fmt: skip
    assert error_of(response) == (401, "unauthenticated")
    assert not Submission.objects.exists()


def test_a_revoked_token_is_401_and_does_nothing(project, designer):
    token, raw = tokens.token_create(user=designer, name="ci", scope="write")
    api = Api(Client(), raw)
    assert api.get("/me").status_code == 200

    tokens.token_revoke(user=designer, token_id=token.pk)
    response = api.post(SUBMIT, PROMPT)
    assert error_of(response) == (401, "unauthenticated")
    assert "revoked" in response.json()["error"]["message"]
    assert not Submission.objects.exists()
    assert error_of(api.get("/generations")) == (401, "unauthenticated")


def test_a_deactivated_owners_token_is_401(api_as, project, designer):
    api = api_as(designer)
    designer.is_active = False
    designer.save()
    assert error_of(api.get("/me")) == (401, "unauthenticated")


def test_a_read_token_reads_but_a_write_call_is_403_and_does_nothing(api_as, project, designer):
    api = api_as(designer, scope="read")
    assert api.get("/generations").status_code == 200

    response = api.post(SUBMIT, PROMPT)
    assert error_of(response) == (403, "insufficient_scope")
    assert not Submission.objects.exists()


def test_token_calls_need_no_csrf_token(project, designer):
    _, raw = tokens.token_create(user=designer, name="ci", scope="write")
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        f"/api/v1{SUBMIT}", json.dumps(PROMPT), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )  # fmt: skip
    assert response.status_code == 201
    assert Submission.objects.count() == 1


def test_me_names_the_owner_and_the_token_and_use_is_noted_to_the_minute(api_as, designer):
    api = api_as(designer, scope="read")
    body = api.get("/me").json()
    assert body["username"] == "dana"
    assert body["token"]["scope"] == "read"
    assert api.token.startswith(body["token"]["prefix"])
    token = ApiToken.objects.get(user=designer)
    first = token.last_used_at
    assert first is not None

    api.get("/me")  # within the minute: not written again
    token.refresh_from_db()
    assert token.last_used_at == first

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=5))
    api.get("/me")
    token.refresh_from_db()
    assert token.last_used_at > first - dt.timedelta(seconds=1)
    assert timezone.now() - token.last_used_at < dt.timedelta(seconds=5)


def test_every_operation_that_changes_something_needs_a_write_token():
    schema = api.get_openapi_schema(path_prefix="/api/v1")
    seen = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation["security"] == [{"TokenAuth": []}], (method, path)
            expected = "read" if method == "get" else "write"
            assert operation["x-token-scope"] == expected, (method, path)
            seen += 1
    assert seen >= 12
    # And the auth actually installed on each operation says the same as the document.
    checked = 0
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                scopes = {auth.scope for auth in operation.auth_callbacks}
                assert scopes == ({"read"} if operation.methods == ["GET"] else {"write"}), (
                    operation.view_func.__name__
                )
                checked += 1
    assert checked == seen
