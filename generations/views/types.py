"""The request type our views receive: Django's, plus django-htmx's `request.htmx`, and
a signed-in `user` (LoginRequiredMiddleware sends everyone else to the login page
before any of our views runs)."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from generations.types import User


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    user: User
