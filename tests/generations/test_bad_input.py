"""Bad input is a form error with nothing done, never a 500 (issue 16, defects 4 and 6):
prompts lose control characters, a note over the limit refuses the approval, NUL bytes
and absurd dates are refused by the forms that receive them."""

from __future__ import annotations

import pytest

from generations import services
from generations.models import Generation, LedgerEntry, Reservation, Submission
from generations.rendering import jobs
from generations.services import prompt_clean
from generations.states import State
from tests.support.fakes import OK, ScriptedProvider

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("a red \x1b[31mkite\x1b[0m\x07", "a red [31mkite[0m"),
        ("left \u202eright\u202c and \u2066isolated\u2069", "left right and isolated"),
        ("line one\r\nline two\n\tindented", "line one\nline two\n\tindented"),
        ("\x00nul\x7f del \x85 next-line", "nul del  next-line"),
        ("emoji 👩‍🎨 keeps its joiner", "emoji 👩‍🎨 keeps its joiner"),
    ],
)
def test_prompts_lose_control_characters_but_keep_newlines_and_tabs(typed, stored):
    assert prompt_clean(typed) == stored


def test_a_submitted_prompt_is_stored_clean(client, project, designer):
    client.force_login(designer)
    response = client.post(
        f"/p/{project.slug}/submit/",
        {
            "prompt": "\u202ea fox\x1b at dawn\x07\nsecond line",
            "model_key": "nano-banana-2",
            "aspect_ratio": "1:1",
            "preview_size": "1K",
            "variants": "1",
        },
    )
    assert response.status_code == 302
    assert Submission.objects.get().prompt == "a fox at dawn\nsecond line"


def test_a_prompt_of_control_characters_only_is_refused(client, project, designer):
    client.force_login(designer)
    response = client.post(
        f"/p/{project.slug}/submit/",
        {
            "prompt": "\x1b\x07\u202e",
            "model_key": "nano-banana-2",
            "aspect_ratio": "1:1",
            "preview_size": "1K",
            "variants": "1",
        },
    )
    assert response.status_code == 400
    assert "Write a prompt." in response.content.decode()
    assert not Submission.objects.exists()


@pytest.mark.parametrize("field", ["model_key", "preview_size"])
@pytest.mark.parametrize("where", ["submit", "estimate"])
def test_nul_bytes_in_the_submit_form_are_form_errors(client, project, designer, field, where):
    client.force_login(designer)
    data = {
        "prompt": "a fox",
        "model_key": "nano-banana-2",
        "aspect_ratio": "1:1",
        "preview_size": "1K",
        "variants": "1",
        field: "nano\x00banana",
    }
    if where == "submit":
        response = client.post(f"/p/{project.slug}/submit/", data)
        assert response.status_code == 400
        assert "Select a valid choice" in response.content.decode()
    else:
        response = client.get(f"/p/{project.slug}/estimate/", data)
        assert response.status_code == 200
    assert not Submission.objects.exists()


def _in_review(designer, project) -> Generation:
    services.submission_create(
        project=project,
        user=designer,
        prompt="a kite",
        model_key="nano-banana-2",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=1,
    )
    generation = Generation.objects.get()
    assert jobs.generation_render(generation_id=generation.pk, provider=ScriptedProvider(OK))
    return generation


def test_an_approval_note_over_the_limit_is_a_form_error_and_nothing_is_done(
    client, project, designer, reviewer
):
    generation = _in_review(designer, project)
    client.force_login(reviewer)

    response = client.post(f"/g/{generation.pk}/approve/", {"note": "x" * 501})

    assert response.status_code == 400
    assert "Ensure this value has at most 500 characters" in response.content.decode()
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW
    assert not Reservation.objects.filter(phase="final").exists()
    assert not LedgerEntry.objects.filter(phase="final").exists()


def test_the_review_queue_refuses_an_over_long_comment_without_deciding(
    client, project, designer, reviewer
):
    generation = _in_review(designer, project)
    client.force_login(reviewer)

    response = client.post(
        f"/review/{generation.pk}/decide/",
        {"decision": "approve", "comment": "x" * 2001},
        headers={"HX-Request": "true"},
    )

    assert "at most 2000 characters" in response.content.decode()
    assert Generation.objects.get().state == State.IN_REVIEW
    assert not Reservation.objects.filter(phase="final").exists()


def test_the_approval_service_refuses_a_long_note_too(project, designer, reviewer):
    from django.core.exceptions import ValidationError

    from generations.review.decisions import generation_approve

    generation = _in_review(designer, project)
    with pytest.raises(ValidationError, match="500 characters"):
        generation_approve(generation_id=generation.pk, user=reviewer, note="n" * 501)
    assert Generation.objects.get().state == State.IN_REVIEW


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-12-31", "2100-01-01"])
@pytest.mark.parametrize(
    "url",
    [
        "/spend/",
        "/spend/savings/",
        "/spend/ledger/",
        "/spend/export/spend.csv",
        "/spend/export/savings.csv",
        "/spend/export/ledger.csv",
        "/quality/",
        "/quality/drift.csv",
        "/gallery/",
    ],
)
def test_absurd_dates_in_filters_are_form_errors(client, staff_user, url, day):
    client.force_login(staff_user)
    for field in ("date_from", "date_to"):
        response = client.get(url, {field: day})
        assert response.status_code in (200, 400), (url, field, response.status_code)
        if response.streaming:  # a CSV: it fails while it streams, if it fails
            assert b"".join(response.streaming_content)
        else:
            assert "Choose a date from 2000 to 2099" in response.content.decode()


@pytest.fixture
def staff_user(db, project):
    from generations.models import Membership, Role
    from tests.support.factories import UserFactory

    user = UserFactory(username="stella", is_staff=True)
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return user
