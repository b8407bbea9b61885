"""Submitting through the API: one submission, or several in one call — all or nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generations.models import Budget, Generation, Submission
from tests.generations.api.conftest import error_of

pytestmark = pytest.mark.django_db

SUBMIT = "/projects/acme/submissions"


def test_a_submission_queues_its_variants_with_the_projects_defaults(api_as, project, designer):
    response = api_as(designer).post(SUBMIT, {"prompt": " a fox in snow ", "variants": 3})
    assert response.status_code == 201
    body = response.json()
    assert body["prompt"] == "a fox in snow"
    assert (body["model_key"], body["aspect_ratio"], body["final_size"]) == (
        "nano-banana-pro", "1:1", "4K",
    )  # fmt: skip
    assert [g["variant"] for g in body["generations"]] == [1, 2, 3]
    assert {g["state"] for g in body["generations"]} == {"preview_queued"}
    assert Generation.objects.filter(submission_id=body["id"]).count() == 3


def test_the_services_rules_come_back_per_field(api_as, project, designer):
    response = api_as(designer).post(
        SUBMIT, {"prompt": "x", "model_key": "nano-banana-pro", "aspect_ratio": "7:5"}
    )
    assert error_of(response) == (422, "invalid")
    assert "aspect_ratio" in response.json()["error"]["fields"]
    response = api_as(designer).post(SUBMIT, {"prompt": "x", "variants": 9})
    assert error_of(response) == (422, "invalid")
    assert "variants" in response.json()["error"]["fields"]
    assert not Submission.objects.exists()


def test_a_body_that_is_not_json_is_400(api_as, project, designer):
    api = api_as(designer)
    response = api.client.post(
        f"/api/v1{SUBMIT}", "{prompt:", content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.token}",
    )  # fmt: skip
    assert error_of(response) == (400, "bad_request")


def test_a_reviewer_may_not_submit_and_an_outsider_does_not_see_the_project(
    api_as, project, reviewer, outsider
):
    assert error_of(api_as(reviewer).post(SUBMIT, {"prompt": "x"})) == (403, "forbidden")
    assert error_of(api_as(outsider).post(SUBMIT, {"prompt": "x"})) == (404, "not_found")
    assert not Submission.objects.exists()


def test_a_batch_queues_every_submission(api_as, project, designer):
    response = api_as(designer).post(
        f"{SUBMIT}/batch",
        {"submissions": [{"prompt": "a"}, {"prompt": "b", "variants": 2}, {"prompt": "c"}]},
    )
    assert response.status_code == 201
    made = response.json()["submissions"]
    assert [s["prompt"] for s in made] == ["a", "b", "c"]
    assert Generation.objects.count() == 4


def test_one_invalid_submission_and_none_of_the_batch_is_made(api_as, project, designer):
    response = api_as(designer).post(
        f"{SUBMIT}/batch",
        {"submissions": [{"prompt": "a"}, {"prompt": "b", "model_key": "dall-e"}]},
    )
    assert error_of(response) == (422, "invalid")
    assert list(response.json()["error"]["fields"]) == ["submissions.1.model_key"]
    assert not Submission.objects.exists() and not Generation.objects.exists()

    response = api_as(designer).post(f"{SUBMIT}/batch", {"submissions": [{"prompt": ""}]})
    assert "submissions.0.prompt" in response.json()["error"]["fields"]
    assert error_of(api_as(designer).post(f"{SUBMIT}/batch", {"submissions": []}))[0] == 422


def test_a_batch_the_budget_cannot_hold_is_409_and_nothing_is_queued(api_as, project, designer):
    # Three 1K previews of Nano Banana Pro at $0.134: the third goes over $0.30.
    Budget.objects.create(project=project, amount_usd=Decimal("0.30"))
    one = {"prompt": "a", "preview_size": "1K"}
    response = api_as(designer).post(f"{SUBMIT}/batch", {"submissions": [one, one, one]})
    assert error_of(response) == (409, "budget_exceeded")
    assert not Submission.objects.exists()
    assert api_as(designer).post(f"{SUBMIT}/batch", {"submissions": [one, one]}).status_code == 201


def test_a_submission_may_pair_cheap_previews_with_another_models_finals(api_as, project, designer):
    pair = {"prompt": "a fox", "model_key": "nano-banana-2", "preview_size": "512"}
    response = api_as(designer).post(SUBMIT, {**pair, "final_model_key": "nano-banana-pro"})
    assert response.status_code == 201
    body = response.json()
    assert (body["model_key"], body["preview_size"], body["final_model_key"]) == (
        "nano-banana-2", "512", "nano-banana-pro",
    )  # fmt: skip
    # Without one, the final is on the preview's model.
    same = api_as(designer).post(SUBMIT, {"prompt": "a fox", "model_key": "nano-banana-2"})
    assert same.json()["final_model_key"] == "nano-banana-2"
    # The reverse pair is not declared: refused on the field, nothing queued.
    refused = api_as(designer).post(
        SUBMIT, {"prompt": "x", "model_key": "nano-banana-pro", "final_model_key": "nano-banana-2"}
    )
    assert error_of(refused) == (422, "invalid")
    assert "finals cannot be made from" in refused.json()["error"]["fields"]["final_model_key"][0]
    assert Submission.objects.count() == 2
