"""Listing, getting and deciding on generations through the API: the pages' selectors
and services, the pages' answers (404 for what one may not see), as JSON."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations import services
from generations.models import Budget, Generation, LedgerEntry, Membership, Role, Transition
from generations.spend import ledger
from generations.states import State
from tests.generations.api.conftest import error_of, render_once
from tests.support.factories import GenerationFactory, SubmissionFactory, UserFactory

pytestmark = pytest.mark.django_db


def submit(project, user, *, variants: int = 1, prompt: str = "a red kite over dunes"):
    return services.submission_create(
        project=project, user=user, prompt=prompt, model_key="nano-banana-pro",
        aspect_ratio="1:1", preview_size="1K", variants=variants,
    )  # fmt: skip


def in_review(project, designer) -> Generation:
    generation = render_once(submit(project, designer).generations.get())
    assert generation.state == State.IN_REVIEW
    return generation


def many(project, designer, count: int) -> list[Generation]:
    """`count` generations a second apart, oldest first."""
    start = timezone.now() - dt.timedelta(hours=1)
    made = []
    for n in range(count):
        submission = SubmissionFactory(project=project, created_by=designer, prompt=f"idea {n}")
        made.append(
            GenerationFactory(
                submission=submission, variant=1, created_at=start + dt.timedelta(seconds=n)
            )
        )
    return made


# --- list and get ------------------------------------------------------------------------


def test_the_list_pages_by_cursor_newest_first_without_gaps_or_repeats(api_as, project, designer):
    made = many(project, designer, 7)
    api = api_as(designer, scope="read")
    seen, pages, response = [], 0, api.get("/generations", limit=3)
    while True:
        body = response.json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        if body["next_cursor"] is None:
            assert body["next"] is None
            break
        # Something submitted meanwhile does not shift the pages.
        if pages == 1:
            GenerationFactory(submission=SubmissionFactory(project=project, created_by=designer))
        response = api.get(body["next"])
    assert pages == 3
    assert seen == [g.pk for g in reversed(made)]


def test_the_next_link_keeps_the_filters(api_as, project, designer):
    many(project, designer, 3)
    GenerationFactory.create_batch(
        2, submission=SubmissionFactory(project=project, created_by=designer),
        state=State.DELIVERED,
    )  # fmt: skip
    api = api_as(designer, scope="read")
    first = api.get("/generations", state="preview_queued", limit=2).json()
    assert "state=preview_queued" in first["next"]
    rest = api.get(first["next"]).json()
    states = {item["state"] for item in first["items"] + rest["items"]}
    assert states == {"preview_queued"} and len(first["items"] + rest["items"]) == 3


def test_a_cursor_that_is_not_one_is_422(api_as, project, designer):
    response = api_as(designer).get("/generations", cursor="page-2")
    assert error_of(response) == (422, "invalid")
    assert "cursor" in response.json()["error"]["fields"]


def test_a_list_page_costs_the_same_queries_at_any_depth(api_as, project, designer):
    made = many(project, designer, 9)
    for generation in made:
        render_once(generation)
    api = api_as(designer, scope="read")
    api.get("/generations", limit=3)  # the token's last use is written once
    with CaptureQueriesContext(connection) as first:
        body = api.get("/generations", limit=3).json()
    third = api.get(body["next"]).json()["next"]
    with CaptureQueriesContext(connection) as deeper:
        api.get(third)
    # The token, the page, its images, its references (the cards' input images), its
    # attempts, their ledger rows.
    assert len(first) == len(deeper) == 6
    assert all(item["attempts"] and item["images"] for item in body["items"])


def test_get_shows_state_attempts_charges_images_and_the_timeline(api_as, project, designer):
    generation = in_review(project, designer)
    body = api_as(designer, scope="read").get(f"/generations/{generation.pk}").json()
    assert body["state"] == "in_review" and body["attempt_count"] == 1
    (attempt,) = body["attempts"]
    assert (attempt["phase"], attempt["size"], attempt["outcome"]) == ("preview", "1K", "succeeded")
    assert attempt["charge"]["simulated"] is True
    assert attempt["charge"]["charged_usd"] == body["charges"]["total_usd"] == "0.1340"
    (image,) = body["images"]
    assert image["phase"] == "preview" and image["width"] == 1024
    assert image["downloads"]["original"].endswith(f"/api/v1/images/{image['id']}/original")
    assert [step["to_state"] for step in body["timeline"]] == [
        "preview_queued", "preview_rendering", "in_review",
    ]  # fmt: skip


def test_other_projects_generations_are_404_as_on_the_pages(api_as, project, designer, outsider):
    generation = in_review(project, designer)
    api = api_as(outsider)
    assert error_of(api.get(f"/generations/{generation.pk}")) == (404, "not_found")
    for action, body in [
        ("approve", None), ("reject", {"comment": "no"}), ("request-changes", {"comment": "no"}),
        ("cancel", None), ("retry", None),
    ]:  # fmt: skip
        response = api.post(f"/generations/{generation.pk}/{action}", body)
        assert error_of(response) == (404, "not_found"), action
    assert error_of(api.get("/generations", project="acme")) == (404, "not_found")
    assert api.get("/generations").json()["items"] == []
    assert Transition.objects.filter(generation=generation).count() == 3  # nothing moved


def test_a_generation_that_does_not_exist_is_the_same_404(api_as, designer, project):
    assert error_of(api_as(designer).get("/generations/999999")) == (404, "not_found")


# --- decisions and actions -----------------------------------------------------------------


def test_a_reviewer_approves_and_a_second_approval_is_a_409(api_as, project, designer, reviewer):
    generation = in_review(project, designer)
    api = api_as(reviewer)
    body = api.post(f"/generations/{generation.pk}/approve", {"note": "ship it"}).json()
    assert body["state"] == "final_queued"
    assert body["timeline"][-1]["reason"] == "ship it"
    assert body["timeline"][-1]["actor"] == "rui"

    response = api.post(f"/generations/{generation.pk}/approve")
    assert error_of(response) == (409, "conflict")
    assert "rui approved it" in response.json()["error"]["message"]


def test_a_designer_may_not_approve_403(api_as, project, designer):
    generation = in_review(project, designer)
    response = api_as(designer).post(f"/generations/{generation.pk}/approve")
    assert error_of(response) == (403, "forbidden")
    assert Generation.objects.get(pk=generation.pk).state == State.IN_REVIEW


def test_reject_and_request_changes_need_a_comment(api_as, project, designer, reviewer):
    first, second = in_review(project, designer), in_review(project, designer)
    api = api_as(reviewer)
    response = api.post(f"/generations/{first.pk}/reject", {"comment": "  "})
    assert error_of(response) == (422, "invalid")
    assert "comment" in response.json()["error"]["fields"]
    assert error_of(api.post(f"/generations/{first.pk}/reject")) == (422, "invalid")

    rejected = api.post(f"/generations/{first.pk}/reject", {"comment": "too dark"}).json()
    assert rejected["state"] == "rejected"
    changes = api.post(f"/generations/{second.pk}/request-changes", {"comment": "warmer"})
    assert changes.json()["state"] == "changes_requested"


def test_designers_cancel_their_own_and_retry_a_failed_preview(api_as, project, designer):
    queued = submit(project, designer).generations.get()
    api = api_as(designer)
    assert api.post(f"/generations/{queued.pk}/cancel", {"reason": "typo"}).json()["state"] == (
        "cancelled"
    )
    assert error_of(api.post(f"/generations/{queued.pk}/cancel")) == (409, "conflict")

    failed = GenerationFactory(
        submission=SubmissionFactory(project=project, created_by=designer),
        state=State.PREVIEW_FAILED,
    )
    assert api.post(f"/generations/{failed.pk}/retry").json()["state"] == "preview_queued"


def test_a_designer_may_not_cancel_someone_elses(api_as, project, designer):
    other = submit(project, designer).generations.get()
    colleague = api_as(_designer_too(project))
    assert error_of(colleague.post(f"/generations/{other.pk}/cancel")) == (403, "forbidden")


def _designer_too(project):
    user = UserFactory(username="dora")
    Membership.objects.create(project=project, user=user, role=Role.DESIGNER)
    return user


def test_approving_over_budget_is_409_budget_exceeded(api_as, project, designer, reviewer):
    generation = in_review(project, designer)
    Budget.objects.create(project=project, amount_usd=Decimal("0.15"))
    response = api_as(reviewer).post(f"/generations/{generation.pk}/approve")
    assert error_of(response) == (409, "budget_exceeded")
    assert Generation.objects.get(pk=generation.pk).state == State.IN_REVIEW


def test_a_refund_shows_as_a_corrected_charge_in_the_list_and_on_get(
    api_as, project, designer, project_admin
):
    generation = in_review(project, designer)
    charge = LedgerEntry.objects.get(generation=generation, kind=LedgerEntry.Kind.CHARGE)
    ledger.ledger_refund(entry=charge, reason="bad render", user=project_admin)
    api = api_as(designer, scope="read")
    (listed,) = api.get("/generations").json()["items"]
    got = api.get(f"/generations/{generation.pk}").json()
    for body in (listed, got):
        (attempt,) = body["attempts"]
        assert attempt["charge"]["corrected"] is True
        assert attempt["charge"]["unit_price_usd"] == "0.1340"
        assert attempt["charge"]["charged_usd"] == body["charges"]["total_usd"] == "0.0000"
