"""References through revisions and edits of uploads (services, no page)."""

from __future__ import annotations

import pytest

from generations import references, services
from generations.models import ReferenceRole
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
