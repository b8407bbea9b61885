"""References and edits as people use them in pages: the submit form takes files (without
script) and picked tokens, says what the model takes and what they cost, refuses another
project's pictures; cards, the generation page, the review queue and compare show the
input images; "Edit" makes a new submission from any image with a compare of source ↔ edit."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from generations import references, services
from generations.models import Phase, Reference, Submission, Upload
from generations.review.decisions import generation_approve
from generations.states import State
from tests.generations.test_views import rendered, submit, submit_data
from tests.support import pictures

pytestmark = pytest.mark.django_db


def _file(name="boat.jpg", data=None, content_type="image/jpeg"):
    return SimpleUploadedFile(name, data if data is not None else pictures.jpeg(), content_type)


def test_a_file_sent_with_the_form_becomes_a_reference_on_the_card(
    client, designer, project, price_list
):
    client.force_login(designer)
    response = client.post(
        reverse("submission_create", args=[project.slug]),
        {**submit_data(variants=1), "reference_files": [_file()]},
    )
    assert response.status_code == 302
    submission = Submission.objects.get()
    (reference,) = submission.references.all()
    assert reference.upload.filename == "boat.jpg"
    page = client.get(reverse("project", args=[project.slug])).content.decode()
    assert f'data-reference="u{reference.upload_id}"' in page
    assert reverse("upload_media", args=[reference.upload_id, "thumbnail"]) in page


def test_a_bad_file_is_refused_in_the_form_and_nothing_is_submitted(client, designer, project):
    client.force_login(designer)
    response = client.post(
        reverse("submission_create", args=[project.slug]),
        {**submit_data(), "reference_files": [_file("notes.png", b"plain text", "image/png")]},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "notes.png: This file is not a picture, whatever its name says" in body
    assert not Submission.objects.exists() and not Upload.objects.exists()


def test_the_upload_endpoint_answers_chips_or_the_refusal(client, designer, reviewer, project):
    client.force_login(designer)
    url = reverse("upload_create", args=[project.slug])
    ok = client.post(url, {"reference_files": [_file()]})
    upload = Upload.objects.get()
    assert ok.status_code == 200
    assert f'value="u{upload.pk}" checked' in ok.content.decode()
    refused = client.post(
        url, {"reference_files": [_file("a.gif", pictures.animated(), "image/gif")]}
    )
    assert refused.status_code == 400
    assert "animated (3 frames)" in refused.content.decode()
    client.force_login(reviewer)
    assert client.post(url, {"reference_files": [_file()]}).status_code == 403


def test_the_estimate_says_how_many_the_model_takes_and_what_they_add(
    client, designer, project, price_list
):
    client.force_login(designer)
    upload = references.upload_create(project=project, user=designer, data=pictures.png())
    response = client.get(
        reverse("submission_estimate", args=[project.slug]),
        {**submit_data(variants=2), "references": [upload.token]},
    )
    text = " ".join(response.content.decode().split())
    assert "takes up to 14 reference images" in text
    assert "1 attached: <strong>+$0.00</strong>" in text or "1 attached: <strong>+" in text
    assert "(1 × $" in text and "× 2 variants)" in text


def test_another_projects_picture_is_refused_by_the_form(client, designer, outsider, project):
    theirs = references.upload_create(
        project=outsider.memberships.get().project, user=outsider, data=pictures.png()
    )
    client.force_login(designer)
    response = client.post(
        reverse("submission_create", args=[project.slug]),
        {**submit_data(), "references": [theirs.token]},
        HTTP_HX_REQUEST="true",
    )
    assert "not in this project" in response.content.decode()
    assert not Submission.objects.exists()


def test_edit_a_delivered_final_then_compare_source_and_edit(
    client, designer, reviewer, project, price_list
):
    generation = rendered(submit(project, designer).generations.get())
    generation_approve(generation_id=generation.pk, user=reviewer)
    generation = rendered(generation)
    assert generation.state == State.DELIVERED
    final = generation.images.get(phase=Phase.FINAL)
    client.force_login(designer)
    page = client.get(reverse("generation", args=[generation.pk])).content.decode()
    assert "data-edit-form" in page and f'value="i{final.pk}"' in page

    response = client.post(
        reverse("picture_edit"),
        {"picture": f"i{final.pk}", "instruction": "make the sky stormy, keep the boat"},
    )
    edit = Submission.objects.exclude(pk=generation.submission_id).get()
    assert response.status_code == 302
    (source,) = edit.references.all()
    assert (source.role, source.image_id) == ("source", final.pk)
    edited = rendered(edit.generations.get())
    assert edited.state == State.IN_REVIEW
    page = client.get(reverse("generation", args=[edited.pk])).content.decode()
    assert f"Final #{generation.pk}" in page
    preview = edited.images.get(phase=Phase.PREVIEW)
    compare_url = f"{reverse('compare')}?images={final.pk},{preview.pk}"
    assert compare_url.replace("&", "&amp;") in page or compare_url in page
    compare = client.get(compare_url).content.decode()
    assert "Input images" in compare and f"edited: Final #{generation.pk}" in compare

    client.force_login(reviewer)
    queue = client.get(reverse("review")).content.decode()
    assert f'data-reference="i{final.pk}"' in queue


def test_editing_a_picture_of_another_project_is_404(client, designer, outsider, project):
    generation = rendered(submit(project, designer).generations.get())
    image = generation.images.get()
    client.force_login(outsider)
    response = client.post(reverse("picture_edit"), {"picture": f"i{image.pk}", "instruction": "x"})
    assert response.status_code == 404
    with pytest.raises(Exception):  # noqa: B017 - Http404, as for a missing one
        services.picture_edit(user=outsider, token=f"i{image.pk}", instruction="x")
    assert not Reference.objects.exists()
