"""Downloads (the media view's permission check and answers) and spend summaries (for
those who may see the spend pages) through the API."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.utils import timezone

from generations import services
from generations.models import Image, Membership, Role
from tests.generations.api.conftest import error_of, render_once

pytestmark = pytest.mark.django_db


def previewed(project, designer):
    submission = services.submission_create(
        project=project, user=designer, prompt="a teapot in fog", model_key="nano-banana-2",
        aspect_ratio="16:9", preview_size="1K", variants=1,
    )  # fmt: skip
    return render_once(submission.generations.get())


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


# --- downloads -----------------------------------------------------------------------------


def test_the_original_and_renditions_download_with_a_read_token(api_as, project, designer):
    generation = previewed(project, designer)
    image = Image.objects.get(generation=generation)
    api = api_as(designer, scope="read")
    links = api.get(f"/generations/{generation.pk}").json()["images"][0]["downloads"]

    original = api.get(links["original"])
    assert original.status_code == 200
    assert original["Content-Type"] == "image/png"
    assert original["Content-Disposition"].startswith("attachment;")
    assert hashlib.sha256(body_of(original)).hexdigest() == image.sha256
    assert api.get(links["screen"])["Content-Type"] == "image/webp"
    assert body_of(api.get(links["thumbnail"]))[8:12] == b"WEBP"


def test_downloads_are_checked_like_the_media_view(api_as, project, designer, outsider):
    generation = previewed(project, designer)
    image = Image.objects.get(generation=generation)
    url = f"/images/{image.pk}/original"
    assert error_of(api_as(outsider).get(url)) == (404, "not_found")
    assert error_of(api_as(None).get(url)) == (401, "unauthenticated")
    assert error_of(api_as(designer).get(f"/images/{image.pk + 99}/original"))[0] == 404
    assert error_of(api_as(designer).get(f"/images/{image.pk}/raw"))[0] == 422

    Image.objects.filter(pk=image.pk).update(thumbnail="")
    assert error_of(api_as(designer).get(f"/images/{image.pk}/thumbnail")) == (404, "not_found")
    links = api_as(designer).get(f"/generations/{generation.pk}").json()["images"][0]
    assert links["downloads"]["thumbnail"] is None


# --- spend ------------------------------------------------------------------------------------


def test_spend_is_for_admins_403_for_others(api_as, project, designer, reviewer):
    assert error_of(api_as(designer, scope="read").get("/spend")) == (403, "forbidden")
    assert error_of(api_as(reviewer, scope="read").get("/spend")) == (403, "forbidden")


def test_a_project_admin_reads_their_projects_spend(api_as, project, designer, project_admin):
    previewed(project, designer)
    previewed(project, designer)
    body = api_as(project_admin, scope="read").get("/spend", grain="week").json()
    today = timezone.localdate()
    assert body["date_to"] == str(today + dt.timedelta(days=1))
    assert body["grain"] == "week" and body["project"] is None
    totals = body["totals"]
    assert totals["images"] == 2
    assert totals["net"] == totals["simulated"] == "0.1340"  # 2 × $0.067, simulated
    assert totals["real"] == "0.0000"
    assert sum(float(bar["total"]) for bar in body["series"]) == pytest.approx(0.134)
    (by_person,) = body["breakdowns"]["person"]
    assert (by_person["key"], by_person["images"]) == ("dana", 2)


def test_spend_of_a_project_one_does_not_administer_is_404(api_as, project, outsider):
    admin_elsewhere = outsider
    Membership.objects.create(
        project=admin_elsewhere.memberships.get().project, user=admin_elsewhere, role=Role.ADMIN
    )
    api = api_as(admin_elsewhere, scope="read")
    assert api.get("/spend", project="elsewhere").status_code == 200
    assert error_of(api.get("/spend", project="acme")) == (404, "not_found")


def test_spend_filters_are_checked_as_on_the_page(api_as, project, project_admin):
    api = api_as(project_admin, scope="read")
    response = api.get("/spend", date_from="2026-03-08", date_to="2026-03-01")
    assert error_of(response) == (422, "invalid")
    assert "date_to" in response.json()["error"]["fields"]
    assert error_of(api.get("/spend", grain="year"))[0] == 422
