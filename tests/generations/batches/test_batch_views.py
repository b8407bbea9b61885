"""The batch pages: plan from a file or a matrix, the plan with its refusals and estimate,
queue, progress with a state filter, and the review queue narrowed to a batch."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from generations.batches import services
from generations.models import Batch, Budget, Generation, Submission
from generations.rendering.jobs import generation_render
from generations.states import State
from tests.support.factories import GenerationFactory, SubmissionFactory
from tests.support.fakes import drain_cpu_queue

pytestmark = pytest.mark.django_db

HEADER = "prompt,aspect_ratio,variants,model,preview_size\n"
CARD = re.compile(r'<article id="gen-(\d+)"')
REVIEW_ITEM = re.compile(r'<div id="review-(\d+)"')


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("generations.dispatch.kick_batch", lambda batch_id: None)
    monkeypatch.setattr("generations.dispatch.kick", lambda pk: None)


def upload(client, project, text: str | bytes, name: str = "batch.csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        reverse("batch_plan_csv", args=[project.slug]),
        {"file": SimpleUploadedFile(name, data, content_type="text/csv")},
    )


def test_designers_get_both_forms_reviewers_only_the_list(client, project, designer, reviewer):
    client.force_login(designer)
    page = client.get(reverse("batch_list", args=[project.slug])).content.decode()
    assert 'id="batch-csv"' in page and 'id="batch-matrix"' in page
    client.force_login(reviewer)
    page = client.get(reverse("batch_list", args=[project.slug])).content.decode()
    assert 'id="batch-csv"' not in page and "No batches yet." in page
    response = upload(client, project, HEADER + "a fox,1:1,1,nano-banana-pro,1K\n")
    assert response.status_code == 403


def test_a_bad_file_lists_what_is_wrong_and_plans_nothing(client, project, designer):
    client.force_login(designer)
    response = upload(client, project, b"\x89PNG\r\n\x1a\nxxxx", name="photo.png")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was planned or queued" in page
    assert "This is a PNG image, not a CSV text file." in page
    assert not Batch.objects.exists()


def test_a_file_plans_a_draft_whose_page_shows_rows_refusals_and_one_estimate(
    client, project, designer, price_list
):
    client.force_login(designer)
    text = HEADER + (
        "a ceramic mug on oak,1:1,2,nano-banana-pro,1K\n"
        "a kite,1:1,1,dall-e,1K\n"
        "a bottle on marble,16:9,1,nano-banana-2,1K\n"
    )
    response = upload(client, project, text)
    batch = Batch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/batches/{batch.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "2 rows to create" in page and "a ceramic mug on oak" in page
    assert "1 row refused" in page and "Unknown model “dall-e”" in page
    assert "Nothing can be queued while a row is refused" in page
    # 2 × 0.134 + 0.067 = 0.335, to the cent
    assert "2 rows → 3 previews:" in page and "$0.34" in page
    assert re.search(r'id="batch-queue"[^>]*disabled', page)
    assert not Submission.objects.exists()


def test_queueing_from_the_plan_page_then_following_its_progress(
    client, project, designer, price_list
):
    client.force_login(designer)
    upload(client, project, HEADER + "a mug,1:1,2,nano-banana-pro,1K\na cup,1:1,1,local,1K\n")
    batch = Batch.objects.get()
    page = client.get(reverse("batch", args=[batch.pk])).content.decode()
    assert re.search(r'id="batch-queue"[^>]*>Queue 2 rows \(3 previews\)', page)

    response = client.post(reverse("batch_queue", args=[batch.pk]), follow=True)
    page = response.content.decode()
    assert f"Queued batch #{batch.pk}: 2 rows, 3 previews." in page
    assert Generation.objects.filter(submission__batch=batch).count() == 3
    assert "3 with the workers" in page
    assert 'hx-trigger="every 3s"' in page  # follows progress while workers have work
    first = Generation.objects.filter(submission__batch=batch).order_by("pk").first()
    generation_render(generation_id=first.pk, worker="test")
    drain_cpu_queue()

    partial = client.get(
        reverse("batch", args=[batch.pk]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="batch-progress"
    ).content.decode()
    assert partial.lstrip().startswith('<section id="batch-progress"')
    assert "<strong>1</strong> in review" in partial
    assert f'href="/review/?batch={batch.pk}"' not in partial  # a designer does not review

    in_review = client.get(reverse("batch", args=[batch.pk]), {"state": "in_review"})
    assert CARD.findall(in_review.content.decode()) == [str(first.pk)]


def test_a_queued_batch_cannot_be_queued_again(client, project, designer, price_list):
    client.force_login(designer)
    upload(client, project, HEADER + "a mug,1:1,1,nano-banana-pro,1K\n")
    batch = Batch.objects.get()
    client.post(reverse("batch_queue", args=[batch.pk]))
    response = client.post(reverse("batch_queue", args=[batch.pk]), follow=True)
    assert "This batch is already queued." in response.content.decode()
    assert Submission.objects.count() == 1


def test_over_budget_the_plan_page_says_why_and_nothing_is_queued(
    client, project, designer, price_list
):
    Budget.objects.create(project=project, amount_usd="0.10")
    client.force_login(designer)
    upload(client, project, HEADER + "a mug,1:1,2,nano-banana-pro,1K\n")
    batch = Batch.objects.get()
    page = client.get(reverse("batch", args=[batch.pk])).content.decode()
    assert "not enough for this batch" in page
    response = client.post(reverse("batch_queue", args=[batch.pk]))
    assert response.status_code == 400
    assert "Over budget: batch #" in response.content.decode()
    assert not Submission.objects.exists()


def test_a_matrix_plans_from_the_form(client, project, designer):
    client.force_login(designer)
    response = client.post(
        reverse("batch_plan_matrix", args=[project.slug]),
        {
            "template": "{product} on a {surface}",
            "lists": "product: mug | bottle\nsurface: oak",
            "aspect_ratios": ["1:1", "16:9"],
            "model_key": "nano-banana-2",
            "preview_size": "1K",
            "variants": "1",
        },
    )
    batch = Batch.objects.get()
    assert response.status_code == 302
    assert batch.row_count == 4

    too_big = client.post(
        reverse("batch_plan_matrix", args=[project.slug]),
        {
            "template": "{a}{b}",
            "lists": "a: "
            + " | ".join(map(str, range(40)))
            + "\nb: "
            + " | ".join(map(str, range(30))),
            "aspect_ratios": ["1:1"],
            "model_key": "nano-banana-2",
            "preview_size": "1K",
            "variants": "1",
        },
    )
    assert too_big.status_code == 400
    assert "The matrix expands to 40 a × 30 b × 1 aspect ratio = 1,200 rows" in (
        too_big.content.decode()
    )
    assert Batch.objects.count() == 1


def test_drafts_are_their_authors_and_batches_their_projects(
    client, project, designer, reviewer, outsider, price_list
):
    batch = services.batch_plan_csv(
        project=project,
        user=designer,
        filename="a.csv",
        data=b"prompt,aspect_ratio,variants,model,preview_size\na mug,1:1,1,nano-banana-pro,1K\n",
    )
    client.force_login(reviewer)
    assert client.get(reverse("batch", args=[batch.pk])).status_code == 404
    services.batch_queue(batch_id=batch.pk, user=designer)
    assert client.get(reverse("batch", args=[batch.pk])).status_code == 200
    client.force_login(outsider)
    assert client.get(reverse("batch", args=[batch.pk])).status_code == 404


def test_the_review_queue_narrowed_to_a_batch_lists_its_previews_in_row_order(
    client, project, designer, reviewer, price_list
):
    batch = services.batch_plan_csv(
        project=project,
        user=designer,
        filename="a.csv",
        data=(
            HEADER + "row one,1:1,2,nano-banana-pro,1K\nrow two,1:1,1,nano-banana-pro,1K\n"
        ).encode(),
    )
    services.batch_queue(batch_id=batch.pk, user=designer)
    ours = list(Generation.objects.filter(submission__batch=batch).order_by("pk"))
    Generation.objects.filter(pk__in=[g.pk for g in ours]).update(state=State.IN_REVIEW)
    other = GenerationFactory(
        submission=SubmissionFactory(project=project, created_by=designer),
        state=State.IN_REVIEW,
    )

    client.force_login(reviewer)
    whole = client.get(reverse("review")).content.decode()
    assert REVIEW_ITEM.findall(whole) == [str(g.pk) for g in [*ours, other]]
    page = client.get(reverse("review"), {"batch": batch.pk}).content.decode()
    assert REVIEW_ITEM.findall(page) == [str(g.pk) for g in ours]
    assert f'Batch <a href="/batches/{batch.pk}/">#{batch.pk}' in page
    assert "Show the whole queue" in page

    # The batch page links there for a reviewer.
    progress = client.get(reverse("batch", args=[batch.pk])).content.decode()
    assert f'href="/review/?batch={batch.pk}"' in progress
    assert "Review 3 previews in order" in progress
