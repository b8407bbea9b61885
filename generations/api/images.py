"""Downloads: an image's original or a rendition, after the same permission check as
the pages (generations.serving): another project's image is a 404."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from ninja import Router

from generations.api.auth import scoped, user_of
from generations.api.schemas import ErrorOut
from generations.serving import image_file_response

router = Router(tags=["images"])

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_FILE_RESPONSES = {
    200: {
        "description": "The file: the provider's original bytes (PNG, JPEG or WebP), or a "
        "WebP rendition. With S3 storage, a 302 to a presigned URL instead.",
        "content": {"image/png": _BINARY, "image/jpeg": _BINARY, "image/webp": _BINARY},
    },
    302: {"description": "S3 storage: the presigned URL (valid for minutes)."},
    304: {"description": "Not modified (If-None-Match matched the ETag)."},
}


@router.get(
    "/images/{int:image_id}/{kind}",
    response={401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    url_name="image_file",
    **scoped("read", responses=_FILE_RESPONSES),
)
def image_file(
    request: HttpRequest, image_id: int, kind: Literal["original", "screen", "thumbnail"]
) -> HttpResponseBase:
    """The original is what the provider returned (4K for a delivered final); screen and
    thumbnail are WebP renditions, 404 until they are made."""
    return image_file_response(
        request, user=user_of(request), image_id=image_id, kind=kind, download=True
    )
