"""Token authentication: `Authorization: Bearer <token>`, never the session cookie.

Every operation names the scope it needs: `read_token` for reads, `write_token` for
anything that changes something. A request fails here, before the operation runs, so a
refused call does nothing: no token or a bad one is 401, a read token on a write
operation 403. Because the session is never used, the API needs no CSRF protection: a
browser cannot be tricked into sending a token it does not hold (Ninja's views are
CSRF-exempt, and no cookie-based auth is installed that would turn its check back on).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from generations import tokens
from generations.api.errors import InsufficientScope, Unauthenticated
from generations.models import ApiToken, TokenScope
from generations.types import User


class TokenAuth(HttpBearer):
    """A personal API token (generations.tokens) allowed `scope` work."""

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        try:
            api_token = tokens.token_authenticate(raw=token.strip())
        except tokens.TokenRefused as refused:
            raise Unauthenticated(str(refused)) from refused
        if not tokens.token_allows(api_token, scope=self.scope):
            raise InsufficientScope(
                f"This token ({api_token.prefix}…) may only read; this call needs a "
                "read and write token."
            )
        # What services and selectors are given; also what logs and the admin see.
        request.user = api_token.user
        return api_token


read_token = TokenAuth(TokenScope.READ)
write_token = TokenAuth(TokenScope.WRITE)


def scoped(scope: str, **openapi_extra: Any) -> dict[str, Any]:
    """Spread into an operation's decorator: its token auth, and the scope written into
    the OpenAPI document ("x-token-scope") for clients and the schema test to see."""
    auth = write_token if scope == TokenScope.WRITE else read_token
    return {"auth": auth, "openapi_extra": {"x-token-scope": str(scope), **openapi_extra}}


def user_of(request: HttpRequest) -> User:
    """The token's owner: who every service and selector is asked about."""
    token: ApiToken = request.auth  # type: ignore[attr-defined]
    return token.user
