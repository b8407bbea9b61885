"""Run by .ci/install-check with the Python of a fresh, non-editable install, from a folder
outside the checkout: one preview goes through the real paths (the submit service, the
render task a worker runs, the renditions task) with the local provider, then the pages and
the image are fetched through the site with the production settings. Exits non-zero, saying
what failed, if anything does."""

from __future__ import annotations

import os
import secrets
import sys

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

import generations  # noqa: E402
from generations import services  # noqa: E402
from generations.models import Membership, Project, Role  # noqa: E402
from generations.tasks import make_renditions, render_generation  # noqa: E402


def check(condition: object, what: str) -> None:
    if not condition:
        sys.exit(f"install check failed: {what}")


check(os.path.commonpath([generations.__file__, sys.prefix]) == sys.prefix, "app not installed")

password = secrets.token_urlsafe(16)
designer = get_user_model().objects.create_user("designer", password=password)
project = Project.objects.create(name="Install check", slug="install-check")
Membership.objects.create(project=project, user=designer, role=Role.DESIGNER)

submission = services.submission_create(
    project=project,
    user=designer,
    prompt="a lighthouse on a cliff at dusk",
    model_key="local",
    aspect_ratio="1:1",
    preview_size="1K",
    variants=1,
)
generation = submission.generations.get()
render_generation.apply(args=[generation.pk])  # what a render worker runs, in this process
generation.refresh_from_db()
check(generation.state == "in_review", f"preview ended {generation.state}, not in_review")
image = generation.images.get()
check(default_storage.exists(image.original.name), "the preview's file is not in storage")
check((image.width, image.height) == (1024, 1024), f"preview is {image.width}×{image.height}")
make_renditions.apply(args=[image.pk])
image.refresh_from_db()
check(image.thumbnail.name and not image.renditions_error, "no thumbnail")

host = os.environ["DJANGO_ALLOWED_HOSTS"].split(",")[0]
web = Client(HTTP_HOST=host)
check(web.get(reverse("login")).status_code == 301, "plain HTTP is not redirected to HTTPS")
login = web.get(reverse("login"), secure=True)
check(login.status_code == 200, f"login page: {login.status_code}")
signed_in = web.post(reverse("login"), {"username": "designer", "password": password}, secure=True)
check(signed_in.status_code == 302, f"signing in answered {signed_in.status_code}")
page = web.get(reverse("generation", args=[generation.pk]), secure=True)
check(page.status_code == 200, f"generation page: {page.status_code}")
thumbnail = web.get(reverse("media", args=[image.pk, "thumbnail"]), secure=True)
check(thumbnail.status_code == 200, f"thumbnail: {thumbnail.status_code}")
check(thumbnail["Content-Type"] == "image/webp", "thumbnail is not WebP")
print(f"install check: preview #{generation.pk} in review, {image.byte_size} bytes; pages served")
