"""Serving a stored image to whoever asked, after the permission check: the one path for
the pages (generations.views.media) and the API (generations.api), so a download through
either is checked the same way and answers the same way. There is no public media URL.

After the check the bytes come from one of three places: Django streams the file; or,
behind nginx (STUDIO_MEDIA_ACCEL_REDIRECT), nginx does, told by X-Accel-Redirect; or,
with S3 storage (STUDIO_S3_BUCKET), the client is redirected to a presigned URL that
expires within minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotModified,
    HttpResponseRedirect,
)
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header, parse_etags

from generations import references, selectors
from generations.models import Image, Upload
from generations.permissions import Action, can
from generations.types import User

KINDS = ("original", "screen", "thumbnail")
CACHE_CONTROL = "private, max-age=3600"
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def image_file_response(
    request: HttpRequest, *, user: User, image_id: int, kind: str, download: bool
) -> HttpResponseBase:
    """The image's original or one of its renditions, if `user` may view it; else 404,
    the same answer as for an image that does not exist."""
    if kind not in KINDS:
        raise Http404("No such rendition.")
    image = selectors.image_get(user=user, pk=image_id)
    if not can(user, Action.VIEW, image.generation):
        raise Http404("No such image.")

    return _file_response(request, image, kind=kind, download=download, name=_filename)


def upload_file_response(
    request: HttpRequest, *, user: User, upload_id: int, kind: str, download: bool
) -> HttpResponseBase:
    """An upload's original or rendition for a member of its project; else the same 404
    as for one that does not exist (a forged id from another project included)."""
    if kind not in KINDS:
        raise Http404("No such rendition.")
    upload = references.upload_get(user=user, pk=upload_id)
    return _file_response(request, upload, kind=kind, download=download, name=_upload_filename)


def _file_response(
    request: HttpRequest,
    picture: Image | Upload,
    *,
    kind: str,
    download: bool,
    name: Callable[[Any, str, str], str],
) -> HttpResponseBase:
    field = getattr(picture, kind)
    if not field.name:
        # Not made yet (or failed): never the original instead, which may be 30 MB the
        # client did not ask for. Pages show the placeholder until it exists.
        raise Http404("This rendition is not ready.")
    # An upload's screen rendition is its original (stored at most at the screen size).
    same_file = kind == "original" or field.name == picture.original.name
    content_type = picture.mime_type if same_file else "image/webp"
    etag = f'"{picture.sha256}-{kind}"'
    disposition = content_disposition_header(download, name(picture, kind, content_type)) or ""

    response: HttpResponseBase
    if settings.STUDIO_S3_BUCKET:
        # The presigned URL carries the headers S3 must answer with.
        response = HttpResponseRedirect(
            field.storage.url(
                field.name,
                parameters={
                    "ResponseContentType": content_type,
                    "ResponseContentDisposition": disposition,
                    "ResponseCacheControl": CACHE_CONTROL,
                },
            )
        )
        # The redirect must not outlive the URL it points to.
        response["Cache-Control"] = "private, no-store"
        return response
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        response = HttpResponseNotModified()
    elif settings.STUDIO_MEDIA_ACCEL_REDIRECT:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.STUDIO_MEDIA_ACCEL_REDIRECT + quote(field.name)
        response["Content-Disposition"] = disposition
    else:
        try:
            handle = field.storage.open(field.name, "rb")
        except FileNotFoundError as exc:
            raise Http404("The image file is missing.") from exc
        response = FileResponse(handle, content_type=content_type)
        response["Content-Disposition"] = disposition
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _upload_filename(upload: Upload, kind: str, content_type: str) -> str:
    extension = _EXTENSIONS.get(content_type, "bin")
    suffix = "" if kind == "original" else f"-{kind}"
    size = f"{upload.width}x{upload.height}"
    return f"{upload.project.slug}-upload{upload.pk}-{size}{suffix}.{extension}"


def _filename(image: Image, kind: str, content_type: str) -> str:
    generation = image.generation
    extension = _EXTENSIONS.get(content_type, "bin")
    suffix = "" if kind == "original" else f"-{kind}"
    upscaled = "" if image.native else "-upscaled"
    return (
        f"{generation.project.slug}-g{generation.pk}-{image.phase}-"
        f"{image.width}x{image.height}{upscaled}{suffix}.{extension}"
    )
