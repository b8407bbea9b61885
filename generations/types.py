"""Types every layer shares (annotations only; nothing here runs).

`User` is a signed-in person: the configured user model, Django's own `auth.User`
(settings.AUTH_USER_MODEL is not set; if it ever names another model, this line
changes with it and mypy points at every mismatch). Services and selectors take one:
every view but the login page sits behind LoginRequiredMiddleware, so a view's
`request.user` is a `User` (see views.types.HtmxHttpRequest).

`AnyUser` is whoever a request may come from, as django-stubs types `request.user`:
a person or the anonymous user. The permission checks take one and answer "no" for
the anonymous user (no member of anything, no superuser, no pk)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.auth.models import User as _AuthUser

User: TypeAlias = "_AuthUser"
AnyUser: TypeAlias = "_AuthUser | AnonymousUser"
