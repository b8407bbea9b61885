"""Helpers the views share: partial responses for htmx, safe redirects, service errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme

from generations.forms import CommentForm
from generations.review import conversation

View = TypeVar("View", bound=Callable[..., HttpResponse])

# The request attribute base.html reads to mark the page `data-revalidate`.
REVALIDATE = "studio_revalidate"


def page_with_actions(view: View) -> View:
    """For a page whose buttons act on state that others change (approve, cancel, queue,
    mark read…): the browser never stores it (Cache-Control: no-store), so Back fetches
    it again, and base.html marks it `data-revalidate`, so static/js/studio.js reloads it
    when the back/forward cache shows it again. Back never shows a decided item with a
    live Approve button."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        setattr(request, REVALIDATE, True)
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    return wrapped  # type: ignore[return-value]


def render_partials(
    request: HttpRequest,
    template: str,
    names: list[str],
    context: dict[str, Any],
    *,
    status: int = 200,
    with_messages: bool = True,
) -> HttpResponse:
    """Several partials of one template in one response (htmx swaps the extra ones
    out of band), followed by the flash messages, swapped into the header's slot."""
    parts = [render_to_string(f"{template}#{name}", context, request) for name in names]
    if with_messages:
        parts.append(render_to_string("base.html#messages", {"oob": True}, request))
    return HttpResponse("".join(parts), status=status)


def safe_next(request: HttpRequest) -> str | None:
    """The `next` URL posted with a form, if it stays on this site: a path from the root
    (anything else — "9999-12-31", "evil.example" — is no URL of ours, and redirect()
    would take it for a view name)."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and not target.startswith("/"):
        return None
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


def attach_errors(form: forms.Form, error: ValidationError) -> None:
    """A service's ValidationError onto the form: per field where the form has the field,
    otherwise as a form-wide error."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, field_errors in error.error_dict.items():
        if field in form.fields:
            form.add_error(field, field_errors)
        else:
            form.add_error(None, ValidationError(field_errors).messages)


def flash_error(request: HttpRequest, error: Exception) -> None:
    if isinstance(error, ValidationError):
        text = " ".join(error.messages)
    else:
        text = str(error) or "That is not allowed."
    messages.error(request, text)


def comment_submit(request: HttpRequest, pk: int, *, success: str) -> CommentForm:
    """Post the comment form's comment (pinned to a point of an image when one was
    clicked) on generation `pk`, and return the form to show next: fresh when it was
    added or refused, with its errors when the input was wrong."""
    form = CommentForm(request.POST)
    if not form.is_valid():
        return form
    data = form.cleaned_data
    try:
        conversation.comment_create(
            generation_id=pk,
            user=request.user,  # type: ignore[arg-type]
            body=data["body"],
            image_id=data["image"],
            x=data["x"],
            y=data["y"],
        )
    except ValidationError as invalid:
        attach_errors(form, invalid)
        return form
    except PermissionDenied as refused:
        flash_error(request, refused)
    else:
        messages.success(request, success)
    return CommentForm()
