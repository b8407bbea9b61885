"""Personal API tokens: created and revoked by their owner, shown once, stored hashed.

A token is "ps_" + 43 characters of `secrets.token_urlsafe(32)` (256 random bits). Only
its sha256 is stored, with its first characters (`prefix`) to tell tokens apart.

Why sha256 and not a password hasher: a password hasher is slow and salted because
passwords are guessable — it makes each guess of a short human secret expensive. A
256-bit random token cannot be guessed however fast the hash, so the slowness would buy
nothing and cost every API request its price (PBKDF2: ~0.3 s by design); and an unsalted
hash can be looked up by a unique index, where a salted one would need a second key to
find the row first. A stolen database yields hashes, not usable tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from generations.models import ApiToken, TokenScope
from generations.types import User

TOKEN_PREFIX = "ps_"  # noqa: S105 - a public marker, not a secret
SHOWN_PREFIX_LENGTH = 10  # "ps_" + 7 characters of the secret
MAX_ACTIVE_TOKENS = 20
# last_used_at is written at most this often per token: not one UPDATE per API request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class TokenRefused(Exception):
    """The presented token does not let anyone in; the message says why."""


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(*, user: User, name: str, scope: str) -> tuple[ApiToken, str]:
    """A new token for `user`: the row, and the token itself — returned this once and
    never stored."""
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Name the token after what will use it."
    if scope not in TokenScope.values:
        errors["scope"] = "Choose read, or read and write."
    if active_tokens(user=user).count() >= MAX_ACTIVE_TOKENS:
        errors["name"] = f"You have {MAX_ACTIVE_TOKENS} active tokens: revoke one first."
    if errors:
        raise ValidationError(errors)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        scope=scope,
        secret_hash=_digest(raw),
        prefix=raw[:SHOWN_PREFIX_LENGTH],
        created_at=timezone.now(),
    )
    return token, raw


def token_revoke(*, user: User, token_id: int) -> ApiToken:
    """Revoke one of `user`'s tokens (at once: the next request with it is refused).
    Someone else's token, or none: ApiToken.DoesNotExist. Revoking twice keeps the
    first time."""
    token = ApiToken.objects.get(pk=token_id, user=user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=token.revoked_at
        )
    return token


def tokens_of(*, user: User) -> QuerySet[ApiToken]:
    """Every token of `user`, newest first, revoked ones included (the page lists them)."""
    if not getattr(user, "is_authenticated", False):
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def active_tokens(*, user: User) -> QuerySet[ApiToken]:
    return tokens_of(user=user).filter(revoked_at__isnull=True)


def token_authenticate(*, raw: str) -> ApiToken:
    """The token `raw` names, with its user loaded, or TokenRefused (unknown, revoked,
    or its owner deactivated). Notes when it was used, to the minute."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        raise TokenRefused("That is not a Proof Studio API token.")
    token = ApiToken.objects.select_related("user").filter(secret_hash=_digest(raw)).first()
    if token is None:
        raise TokenRefused("Unknown API token.")
    if token.revoked_at is not None:
        raise TokenRefused(f"This API token ({token.prefix}…) was revoked.")
    if not token.user.is_active:
        raise TokenRefused("The owner of this API token is deactivated.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def token_allows(token: ApiToken, *, scope: str) -> bool:
    """Whether `token` may be used for `scope` work: a write token reads too."""
    return scope == TokenScope.READ or token.scope == TokenScope.WRITE
