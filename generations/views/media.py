"""Images, served only through a permission check: there is no public media URL."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.utils.http import parse_etags
from django.views.decorators.http import require_GET

from generations import selectors
from generations.models import Image
from generations.permissions import Action, can
from generations.views.types import HtmxHttpRequest

KINDS = ("original", "screen", "thumbnail")
CACHE_CONTROL = "private, max-age=3600"
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


@require_GET
def image_file(request: HtmxHttpRequest, image_id: int, kind: str) -> HttpResponseBase:
    if kind not in KINDS:
        raise Http404("No such rendition.")
    image = selectors.image_get(user=request.user, pk=image_id)
    if not can(request.user, Action.VIEW, image.generation):
        raise Http404("No such image.")  # the same answer as for an image that does not exist

    field = getattr(image, kind)
    content_type = "image/webp" if kind != "original" else image.mime_type
    if not field.name:  # no rendition stored: fall back to the original bytes
        field, content_type = image.original, image.mime_type
    etag = f'"{image.sha256}-{kind}"'

    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        response: HttpResponseBase = HttpResponseNotModified()
    else:
        try:
            handle = field.storage.open(field.name, "rb")
        except FileNotFoundError as exc:
            raise Http404("The image file is missing.") from exc
        download = request.GET.get("download") == "1"
        response = FileResponse(
            handle,
            content_type=content_type,
            as_attachment=download,
            filename=_filename(image, kind, content_type),
        )
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _filename(image: Image, kind: str, content_type: str) -> str:
    generation = image.generation
    extension = _EXTENSIONS.get(content_type, "bin")
    suffix = "" if kind == "original" else f"-{kind}"
    return (
        f"{generation.project.slug}-g{generation.pk}-{image.phase}-"
        f"{image.width}x{image.height}{suffix}.{extension}"
    )
