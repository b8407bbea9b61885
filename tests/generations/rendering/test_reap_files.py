"""A worker killed between storing an original and the move that records it leaves a file
no image row names; reaping its lease removes that file and nothing else."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from generations.models import Attempt, Generation, Image
from generations.tasks import sweep
from tests.support.factories import GenerationFactory, ProjectFactory, SubmissionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_policy(settings):
    settings.STUDIO_ATTEMPT_POLICY = {
        "1K": {"timeout": 5, "tries": 2, "base_delay": 1},
        "4K": {"timeout": 5, "tries": 3, "base_delay": 1},
    }


def stored(name: str) -> str:
    return default_storage.save(name, ContentFile(b"bytes the worker wrote"))


def test_reaping_deletes_the_original_a_dead_worker_stored_but_never_recorded(
    django_capture_on_commit_callbacks,
):
    token = uuid.uuid4()
    generation = GenerationFactory(
        submission=SubmissionFactory(project=ProjectFactory()),
        state="final_rendering",
        lease_token=token,
        lease_expires_at=timezone.now() - dt.timedelta(seconds=30),
        attempt_count=2,
        tries_used=1,
    )
    Attempt.objects.create(
        generation=generation,
        number=2,
        phase="final",
        size="4K",
        provider="local",
        model_id="gemini-3-pro-image",
        lease_token=token,
        started_at=timezone.now() - dt.timedelta(seconds=60),
    )
    folder = f"p{generation.project_id}/g{generation.pk}"
    # The approved preview, with its renditions: recorded, so kept.
    preview = Image.objects.create(
        generation=generation,
        phase="preview",
        sha256="a" * 64,
        mime_type="image/png",
        width=1024,
        height=1024,
        byte_size=22,
        bytes_per_pixel=0.1,
        original=stored(f"{folder}/preview-{'a' * 16}.png"),
        thumbnail=stored(f"{folder}/preview-{'a' * 16}-thumbnail.webp"),
        screen=stored(f"{folder}/preview-{'a' * 16}-screen.webp"),
    )
    # An earlier final whose renditions are being made right now: the row is not filled
    # yet, but the file is its and must stay.
    earlier = Image.objects.create(
        generation=generation,
        phase="final",
        sha256="b" * 64,
        mime_type="image/png",
        width=4096,
        height=4096,
        byte_size=22,
        bytes_per_pixel=0.1,
        original=stored(f"{folder}/final-{'b' * 16}.png"),
    )
    in_the_making = stored(f"{folder}/final-{'b' * 16}-thumbnail.webp")
    # What the killed worker stored for this attempt, with no row.
    unrecorded = stored(f"{folder}/final-{'c' * 16}.png")

    with django_capture_on_commit_callbacks(execute=False):
        sweep()

    assert Generation.objects.get(pk=generation.pk).state == "final_queued"
    assert not default_storage.exists(unrecorded)
    for name in (
        preview.original.name,
        preview.thumbnail.name,
        preview.screen.name,
        earlier.original.name,
        in_the_making,
    ):
        assert default_storage.exists(name), name


def test_a_lease_that_has_not_expired_keeps_the_file_its_worker_is_about_to_record(
    django_capture_on_commit_callbacks,
):
    generation = GenerationFactory(
        state="preview_rendering",
        lease_token=uuid.uuid4(),
        lease_expires_at=timezone.now() + dt.timedelta(seconds=60),
        attempt_count=1,
        tries_used=1,
    )
    about_to_be_recorded = stored(
        f"p{generation.project_id}/g{generation.pk}/preview-{'d' * 16}.png"
    )

    with django_capture_on_commit_callbacks(execute=False):
        sweep()

    assert Generation.objects.get(pk=generation.pk).state == "preview_rendering"
    assert default_storage.exists(about_to_be_recorded)
