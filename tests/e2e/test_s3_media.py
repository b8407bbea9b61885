"""S3 media against a real S3-compatible HTTP server (moto's server mode on a loopback port
of the test's own): the render step stores the original and its renditions through the
app's storage, a designer's headless Chromium follows the media view's redirect to the
presigned URL and gets the bytes (and sees the image on the generation page), and a
deleted object is gone from the bucket and from that URL."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from studio.settings import s3_storage
from tests.e2e.conftest import VIEWPORT, screenshot
from tests.support.factories import PASSWORD
from tests.support.review import in_review

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BUCKET = "studio-media"
REGION = "eu-west-1"
# moto accepts any key pair; these exist only inside this test.
KEYS = {"STUDIO_S3_ACCESS_KEY_ID": "AKIAE2ETESTONLY", "STUDIO_S3_SECRET_ACCESS_KEY": "e2e-only"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def s3_server() -> Iterator[str]:
    """moto's S3 over HTTP on 127.0.0.1, with an empty private bucket."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    endpoint = f"http://127.0.0.1:{server._port}"
    try:
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=KEYS["STUDIO_S3_ACCESS_KEY_ID"],
            aws_secret_access_key=KEYS["STUDIO_S3_SECRET_ACCESS_KEY"],
        ).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_media(s3_server, settings) -> Any:
    """The app's S3 configuration (studio.settings.s3_storage), pointed at the server."""
    pytest.importorskip("storages.backends.s3")
    environ = {
        "STUDIO_S3_BUCKET": BUCKET,
        "STUDIO_S3_ENDPOINT_URL": s3_server,
        "STUDIO_S3_REGION": REGION,
        "STUDIO_S3_URL_SECONDS": "120",
        **KEYS,
    }
    settings.STUDIO_S3_BUCKET = BUCKET
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(environ)}
    from django.core.files.storage import storages

    return storages["default"]


def test_an_image_stored_in_s3_reaches_the_browser_by_presigned_url_and_is_gone_once_deleted(
    live_server, browser, s3_media, e2e_queues, project, designer
):
    (generation,) = in_review(project, designer)  # the render step and the CPU-queue step
    image = generation.images.get()
    assert type(s3_media).__name__ == "S3Storage"
    assert s3_media.exists(image.original.name)
    assert image.screen.name and s3_media.exists(image.screen.name)

    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", designer.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()

    # The generation page shows the image (its screen rendition), fetched from the bucket
    # after the media view's redirect.
    page.goto(f"/g/{generation.pk}/")
    shown = page.locator(f"img[src='/media/{image.pk}/screen']").first
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=shown.element_handle()
    )
    screenshot(page, "s3-generation-page")

    # The original: the view answers with a redirect to a presigned URL on the S3 server.
    answer = page.goto(f"/media/{image.pk}/original")
    assert answer is not None and answer.ok
    presigned = answer.url
    assert presigned.startswith(f"{s3_media.endpoint_url}/{BUCKET}/{image.original.name}?")
    assert "X-Amz-Signature=" in presigned and "X-Amz-Expires=120" in presigned
    assert answer.headers["content-type"] == "image/png"
    assert hashlib.sha256(answer.body()).hexdigest() == image.sha256

    # Any browser holding the URL gets the object while it exists, without signing in.
    context.close()
    stranger = browser.new_context(viewport=VIEWPORT)
    again = stranger.new_page().goto(presigned)
    assert again is not None and again.ok
    assert hashlib.sha256(again.body()).hexdigest() == image.sha256
    stranger.close()

    s3_media.delete(image.original.name)

    assert not s3_media.exists(image.original.name)
    # A browser without a cached copy (the view lets one keep it an hour) now gets an error
    # from the server: 403 where the signer may not list the bucket, as on S3 (moto says
    # SignatureDoesNotMatch), 404 where it may.
    fresh = browser.new_context(viewport=VIEWPORT)
    gone = fresh.new_page().goto(presigned)
    assert gone is not None and gone.status in (403, 404), gone.status
    assert hashlib.sha256(gone.body()).hexdigest() != image.sha256
    fresh.close()
    assert s3_media.exists(image.screen.name), "only the deleted object is gone"
