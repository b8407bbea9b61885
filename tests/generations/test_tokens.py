"""Personal API tokens: shown once, stored hashed, revoked by their owner only."""

from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import ValidationError

from generations import tokens
from generations.models import ApiToken

pytestmark = pytest.mark.django_db


def test_a_token_is_returned_once_and_only_its_hash_and_prefix_are_stored(designer):
    token, raw = tokens.token_create(user=designer, name=" nightly batch ", scope="write")
    assert raw.startswith("ps_") and len(raw) >= 40
    row = ApiToken.objects.get(pk=token.pk)
    assert row.name == "nightly batch"
    assert row.secret_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(row.prefix) and len(row.prefix) < len(raw) // 3
    assert raw not in {str(value) for value in ApiToken.objects.values_list()[0]}
    assert row.last_used_at is None and row.revoked_at is None


def test_two_tokens_never_share_a_secret(designer):
    secrets_ = {tokens.token_create(user=designer, name=f"t{n}", scope="read")[1] for n in range(5)}
    assert len(secrets_) == 5


@pytest.mark.parametrize(
    ("name", "scope", "field"), [("", "read", "name"), ("ci", "admin", "scope")]
)
def test_a_token_needs_a_name_and_a_known_scope(designer, name, scope, field):
    with pytest.raises(ValidationError) as refused:
        tokens.token_create(user=designer, name=name, scope=scope)
    assert field in refused.value.message_dict
    assert not ApiToken.objects.exists()


def test_active_tokens_are_capped(designer, settings, monkeypatch):
    monkeypatch.setattr(tokens, "MAX_ACTIVE_TOKENS", 2)
    first, _ = tokens.token_create(user=designer, name="a", scope="read")
    tokens.token_create(user=designer, name="b", scope="read")
    with pytest.raises(ValidationError):
        tokens.token_create(user=designer, name="c", scope="read")
    tokens.token_revoke(user=designer, token_id=first.pk)
    tokens.token_create(user=designer, name="c", scope="read")


def test_authenticate_finds_the_token_and_refuses_unknown_revoked_and_deactivated(designer):
    token, raw = tokens.token_create(user=designer, name="ci", scope="read")
    assert tokens.token_authenticate(raw=raw).pk == token.pk
    for wrong in ("", "ps_" + "x" * 43, raw[:-1], "Bearer " + raw, raw.upper()):
        with pytest.raises(tokens.TokenRefused):
            tokens.token_authenticate(raw=wrong)

    tokens.token_revoke(user=designer, token_id=token.pk)
    with pytest.raises(tokens.TokenRefused, match="revoked"):
        tokens.token_authenticate(raw=raw)

    _, other = tokens.token_create(user=designer, name="ci2", scope="read")
    designer.is_active = False
    designer.save()
    with pytest.raises(tokens.TokenRefused, match="deactivated"):
        tokens.token_authenticate(raw=other)


def test_only_the_owner_revokes_and_revoking_twice_keeps_the_first_time(designer, reviewer):
    token, _ = tokens.token_create(user=designer, name="ci", scope="write")
    with pytest.raises(ApiToken.DoesNotExist):
        tokens.token_revoke(user=reviewer, token_id=token.pk)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None

    first = tokens.token_revoke(user=designer, token_id=token.pk).revoked_at
    again = tokens.token_revoke(user=designer, token_id=token.pk).revoked_at
    assert first is not None and again == first == ApiToken.objects.get(pk=token.pk).revoked_at


def test_a_write_token_reads_too_and_a_read_token_only_reads(designer):
    write, _ = tokens.token_create(user=designer, name="w", scope="write")
    read, _ = tokens.token_create(user=designer, name="r", scope="read")
    assert tokens.token_allows(write, scope="read") and tokens.token_allows(write, scope="write")
    assert tokens.token_allows(read, scope="read") and not tokens.token_allows(read, scope="write")
