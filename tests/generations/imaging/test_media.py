"""Serving images: permission on every file for every role, never the original where a
rendition was asked for, X-Accel-Redirect behind nginx, presigned S3 URLs; and the
"upscaled, not native" flag on every page an upscaled final appears."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from generations.models import FallbackPolicy, Image
from generations.providers.base import ServerError
from generations.rendering.jobs import generation_render
from generations.review.decisions import generation_approve
from generations.states import State
from tests.support.fakes import ScriptedProvider, drain_cpu_queue
from tests.support.review import in_review

pytestmark = pytest.mark.django_db

KINDS = ("original", "screen", "thumbnail")


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)
    monkeypatch.setattr("generations.imaging.renditions.enqueue", lambda image_id, **options: None)


@pytest.fixture
def image(project, designer) -> Image:
    (generation,) = in_review(project, designer)
    return generation.images.get()


def _url(image: Image, kind: str, query: str = "") -> str:
    return reverse("media", args=[image.pk, kind]) + query


# --- permission -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("person", "allowed"),
    [("designer", True), ("reviewer", True), ("project_admin", True), ("outsider", False)],
)
def test_every_file_of_an_image_is_behind_the_project_permission(
    client, request, image, kind, person, allowed
):
    client.force_login(request.getfixturevalue(person))

    response = client.get(_url(image, kind))

    if allowed:
        assert response.status_code == 200
        assert response["Cache-Control"] == "private, max-age=3600"
        assert response["ETag"] == f'"{image.sha256}-{kind}"'
    else:
        assert response.status_code == 404
        assert "ETag" not in response and "X-Accel-Redirect" not in response


def test_the_placeholder_is_inline_data_not_a_url(client, designer, image):
    # Nothing to permission-check: it is part of a page the user may already see.
    assert image.placeholder.startswith("data:image/webp;base64,")
    client.force_login(designer)
    page = client.get(reverse("generation", args=[image.generation_id])).content.decode()
    assert f'src="/media/{image.pk}/screen"' in page


@pytest.mark.parametrize("kind", ["screen", "thumbnail"])
def test_a_rendition_not_made_yet_is_404_and_never_the_original(client, designer, image, kind):
    Image.objects.filter(pk=image.pk).update(thumbnail="", screen="")
    client.force_login(designer)

    response = client.get(_url(image, kind))

    assert response.status_code == 404
    assert response.get("Content-Type", "").startswith("text/html")


def test_pages_show_the_blurred_placeholder_and_keep_polling_until_renditions_exist(
    client, designer, image
):
    Image.objects.filter(pk=image.pk).update(thumbnail="", screen="")
    client.force_login(designer)

    card = client.get(reverse("generation_card", args=[image.generation_id])).content.decode()
    page = client.get(reverse("generation", args=[image.generation_id])).content.decode()

    for html in (card, page):
        assert "rendition--pending" in html
        assert f'src="{image.placeholder}"' in html
        assert f"/media/{image.pk}/thumbnail" not in html.replace("data-thumb", "")
        assert f'src="/media/{image.pk}/screen"' not in html
    assert 'data-live-poll="2"' in card  # in review is looked at every 10 s; this is quicker

    Image.objects.filter(pk=image.pk).update(thumbnail="", screen="", renditions_error="")
    drain_cpu_queue()
    card = client.get(reverse("generation_card", args=[image.generation_id])).content.decode()
    assert f'src="/media/{image.pk}/thumbnail"' in card
    assert "rendition--pending" not in card
    assert 'data-live-poll="10"' in card


def test_a_failed_rendition_is_shown_not_lost(client, designer, image):
    Image.objects.filter(pk=image.pk).update(
        thumbnail="", screen="", renditions_error="Renditions could not be made: boom."
    )
    client.force_login(designer)

    card = client.get(reverse("generation_card", args=[image.generation_id])).content.decode()

    assert "No preview: Renditions could not be made: boom." in card
    assert 'data-live-poll="2"' not in card  # nothing more will come


# --- headers --------------------------------------------------------------------------


def test_content_type_and_disposition_follow_the_kind(client, designer, image):
    client.force_login(designer)
    slug_part = f"{image.generation.project.slug}-g{image.generation_id}-preview-1024x1024"

    original = client.get(_url(image, "original"))
    thumbnail = client.get(_url(image, "thumbnail"))
    download = client.get(_url(image, "screen", "?download=1"))

    assert original["Content-Type"] == "image/png"
    assert original["Content-Disposition"] == f'inline; filename="{slug_part}.png"'
    assert thumbnail["Content-Type"] == "image/webp"
    assert thumbnail["Content-Disposition"] == f'inline; filename="{slug_part}-thumbnail.webp"'
    assert download["Content-Disposition"] == f'attachment; filename="{slug_part}-screen.webp"'
    assert client.get(
        _url(image, "screen"), HTTP_IF_NONE_MATCH=f'"{image.sha256}-screen"'
    ).status_code == 304  # fmt: skip


def test_behind_nginx_the_view_answers_with_x_accel_redirect_and_no_body(
    client, designer, outsider, image, settings
):
    settings.STUDIO_MEDIA_ACCEL_REDIRECT = "/protected/"
    client.force_login(designer)

    for kind, content_type in (("original", "image/png"), ("thumbnail", "image/webp")):
        response = client.get(_url(image, kind, "?download=1"))
        name = getattr(image, kind).name
        assert response.status_code == 200
        assert response["X-Accel-Redirect"] == f"/protected/{name}"
        assert response.content == b""
        assert response["Content-Type"] == content_type
        assert response["Content-Disposition"].startswith("attachment; filename=")
        assert response["Cache-Control"] == "private, max-age=3600"
        assert response["ETag"] == f'"{image.sha256}-{kind}"'

    client.force_login(outsider)
    refused = client.get(_url(image, "original"))
    assert refused.status_code == 404 and "X-Accel-Redirect" not in refused


def test_with_s3_storage_the_view_redirects_to_a_short_lived_signed_url(
    client, designer, outsider, image, settings
):
    pytest.importorskip("storages.backends.s3")
    # The real S3Storage; a presigned URL is computed offline, so no endpoint is called.
    settings.STUDIO_S3_BUCKET = "studio-media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "studio-media",
                "endpoint_url": "https://s3.invalid.example",
                "region_name": "eu-west-1",
                "access_key": "AKIATESTONLY",
                "secret_key": "test-only-secret",
                "querystring_auth": True,
                "querystring_expire": 120,
                "signature_version": "s3v4",
                "default_acl": "private",
            },
        },
    }
    image = Image.objects.get(pk=image.pk)
    client.force_login(designer)

    response = client.get(_url(image, "original", "?download=1"))

    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    location = urlsplit(response["Location"])
    query = parse_qs(location.query)
    assert location.netloc == "s3.invalid.example"
    assert location.path == f"/studio-media/{image.original.name}"
    assert query["X-Amz-Expires"] == ["120"]
    assert query["X-Amz-Signature"][0]
    assert query["response-content-type"] == ["image/png"]
    assert query["response-content-disposition"][0].startswith("attachment; filename=")
    assert "test-only-secret" not in response["Location"]

    client.force_login(outsider)
    refused = client.get(_url(image, "original"))
    assert refused.status_code == 404 and "Location" not in refused


# --- the upscaled flag ----------------------------------------------------------------


@pytest.fixture
def upscaled(project, designer, reviewer, settings) -> Image:
    """A final the 4K model never delivered: the preview upscaled locally (LANCZOS)."""
    project.fallback_policy = FallbackPolicy.UPSCALE
    project.save()
    (generation,) = in_review(project, designer)
    generation_approve(generation_id=generation.pk, user=reviewer)
    settings.STUDIO_ATTEMPT_POLICY = {
        **settings.STUDIO_ATTEMPT_POLICY,
        "4K": {"timeout": 5, "tries": 1, "base_delay": 1},
    }
    outcome = generation_render(
        generation_id=generation.pk, worker="t", provider=ScriptedProvider(ServerError("down"))
    )
    assert outcome == State.DELIVERED_FALLBACK
    drain_cpu_queue()
    final = Image.objects.get(generation=generation, phase="final")
    assert not final.native and final.thumbnail.name
    return final


def _flag_count(html: str) -> int:
    return len(re.findall(r"upscaled, not native", html, flags=re.IGNORECASE))


def test_an_upscaled_final_is_flagged_everywhere_it_appears(
    client, designer, reviewer, project, upscaled
):
    preview = Image.objects.get(generation=upscaled.generation, phase="preview")
    client.force_login(designer)
    pages = {
        "card": reverse("generation_card", args=[upscaled.generation_id]),
        "generation page": reverse("generation", args=[upscaled.generation_id]),
        "studio": reverse("project", args=[project.slug]),
        "gallery": reverse("gallery"),
        "compare": reverse("compare") + f"?images={preview.pk},{upscaled.pk}",
    }
    for where, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, where
        assert _flag_count(response.content.decode()) >= 1, f"no upscaled flag on the {where}"
    download = client.get(_url(upscaled, "original", "?download=1"))
    assert "-upscaled.png" in download["Content-Disposition"]

    # The native preview beside it carries no flag: compare shows exactly one.
    compare = client.get(pages["compare"]).content.decode()
    flags = re.findall(r'<span class="flag flag--upscaled[^"]*"', compare)
    assert len(flags) == 1
