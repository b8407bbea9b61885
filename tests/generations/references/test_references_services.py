"""References through revisions and edits of uploads (services, no page)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat

from generations import references, services
from generations.imaging import fidelity
from generations.models import ReferenceRole
from generations.providers.base import InputImage, InputRole
from generations.providers.local import render_image, render_png
from tests.generations.test_views import submit
from tests.support import pictures

pytestmark = pytest.mark.django_db


def test_a_revision_keeps_the_references_unless_it_is_given_others(designer, project, price_list):
    boat = references.upload_create(project=project, user=designer, data=pictures.jpeg())
    sky = references.upload_create(project=project, user=designer, data=pictures.png())
    original = services.submission_create(
        project=project, user=designer, prompt="a boat", model_key="nano-banana-pro",
        aspect_ratio="1:1", preview_size="1K", variants=1, pictures=[boat, sky],
    )  # fmt: skip
    generation = original.generations.get()

    kept = services.generation_revise(generation_id=generation.pk, user=designer, prompt="a ship")
    assert [ref.upload_id for ref in kept.references.all()] == [boat.pk, sky.pk]
    changed = services.generation_revise(
        generation_id=generation.pk, user=designer, prompt="a ship", pictures=[sky]
    )
    assert [ref.upload_id for ref in changed.references.all()] == [sky.pk]


def test_editing_an_upload_uses_the_projects_model_at_the_nearest_ratio(
    designer, project, price_list
):
    tall = references.upload_create(project=project, user=designer, data=pictures.png(900, 1600))
    edit = services.picture_edit(user=designer, token=tall.token, instruction="add a moon")
    assert edit.aspect_ratio == "9:16"
    assert edit.prompt == "add a moon"
    (source,) = edit.references.all()
    assert (source.role, source.upload_id) == (ReferenceRole.SOURCE, tall.pk)
    assert edit.generations.get().transitions.get().reason == f"edit of upload {tall.pk}"


def test_an_edit_of_an_edit_keeps_its_source_when_revised(designer, project, price_list):
    base = submit(project, designer)
    upload = references.upload_create(project=project, user=designer, data=pictures.png())
    edit = services.picture_edit(user=designer, token=upload.token, instruction="add rain")
    revised = services.generation_revise(
        generation_id=edit.generations.get().pk, user=designer, prompt="add heavy rain"
    )
    (source,) = revised.references.all()
    assert (source.role, source.upload_id) == (ReferenceRole.SOURCE, upload.pk)
    assert base.references.count() == 0


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_local_provider_edits_keep_the_source_and_visibly_change_it():
    source_png = render_png(
        prompt="a boat in a harbour", seed=7, aspect_ratio="1:1", width=512, height=512
    )
    source = InputImage.from_bytes(source_png, role=InputRole.SOURCE)
    asked = {"prompt": "make the sky stormy, keep the boat", "seed": 99, "aspect_ratio": "1:1"}
    edited = render_image(**asked, width=512, height=512, input_images=(source,))
    fresh = render_image(**asked, width=512, height=512)  # the same words, no image

    kept = fidelity.measure(source_png, _png(edited))
    unrelated = fidelity.measure(source_png, _png(fresh))
    assert kept.ssim > unrelated.ssim + 0.2  # the composition is the source's
    with Image.open(io.BytesIO(source_png)) as original:
        difference = ImageStat.Stat(ImageChops.difference(original.convert("RGB"), edited))
    assert max(difference.mean) > 10  # and the edit changed it visibly
