"""Images, served only through a permission check: there is no public media URL. The
check and the serving (file, X-Accel-Redirect or S3 presigned redirect) are
generations.serving's, shared with the API's downloads."""

from __future__ import annotations

from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from generations.serving import image_file_response, upload_file_response
from generations.views.types import HtmxHttpRequest


@require_GET
def image_file(request: HtmxHttpRequest, image_id: int, kind: str) -> HttpResponseBase:
    return image_file_response(
        request,
        user=request.user,
        image_id=image_id,
        kind=kind,
        download=request.GET.get("download") == "1",
    )


@require_GET
def upload_file(request: HtmxHttpRequest, upload_id: int, kind: str) -> HttpResponseBase:
    return upload_file_response(
        request,
        user=request.user,
        upload_id=upload_id,
        kind=kind,
        download=request.GET.get("download") == "1",
    )
