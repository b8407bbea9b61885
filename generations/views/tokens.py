"""A person's API tokens (their settings): create one — shown once — and revoke."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from generations import tokens
from generations.forms import ApiTokenForm
from generations.models import ApiToken
from generations.views.common import attach_errors
from generations.views.types import HtmxHttpRequest

TEMPLATE = "generations/api_tokens.html"


@never_cache  # the page that shows a new token must not be kept by any cache
@require_http_methods(["GET", "POST"])
def api_tokens(request: HtmxHttpRequest) -> HttpResponse:
    """The list; a POST creates a token and shows it on this response only (never in a
    redirect, a message or the session: it exists nowhere else)."""
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    created: ApiToken | None = None
    secret = ""
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = tokens.token_create(user=request.user, **form.cleaned_data)
        except ValidationError as error:
            attach_errors(form, error)
        else:
            form = ApiTokenForm()
    context = {
        "form": form,
        "tokens": tokens.tokens_of(user=request.user),
        "created": created,
        "secret": secret,
        "api_root": request.build_absolute_uri(reverse("api:api-root")),
        "docs_url": reverse("api:openapi-view"),
        "openapi_url": reverse("api:openapi-json"),
    }
    status = 400 if form.errors else 200
    return render(request, TEMPLATE, context, status=status)


@require_POST
def api_token_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    try:
        token = tokens.token_revoke(user=request.user, token_id=pk)
    except ApiToken.DoesNotExist as missing:
        raise Http404("No such token.") from missing  # someone else's: as if none
    messages.success(request, f"Revoked “{token.name}” ({token.prefix}…): it no longer works.")
    return redirect("api_tokens")
