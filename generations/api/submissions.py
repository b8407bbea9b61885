"""Submitting prompts: one submission (1–4 variants), or several in one call."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router, Status

from generations import projects, selectors, services
from generations.api import represent
from generations.api.auth import scoped, user_of
from generations.api.schemas import (
    ErrorOut,
    SubmissionBatchIn,
    SubmissionBatchOut,
    SubmissionIn,
    SubmissionOut,
)
from generations.models import Project, Submission
from generations.types import User

router = Router(tags=["submissions"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.post(
    "/projects/{slug}/submissions", response={201: SubmissionOut, **ERRORS},
    url_name="submission_create", **scoped("write"),
)  # fmt: skip
def submission_create(request: HttpRequest, slug: str, payload: SubmissionIn) -> Any:
    """Queue one preview per variant (as the submit form does): 201 with the new
    generations, which the worker picks up at once. Over budget: 409, nothing queued."""
    user = user_of(request)
    project = selectors.project_get(user=user, slug=slug)
    made = services.submission_create(project=project, user=user, **_fields(project, payload))
    return Status(201, _shown(request, user, made))


@router.post(
    "/projects/{slug}/submissions/batch", response={201: SubmissionBatchOut, **ERRORS},
    url_name="submission_create_batch", **scoped("write"),
)  # fmt: skip
def submission_create_batch(request: HttpRequest, slug: str, payload: SubmissionBatchIn) -> Any:
    """Several submissions in one transaction: all are queued, or — one invalid, or the
    lot over budget — none is (422 with "submissions.<index>.<field>", or 409)."""
    user = user_of(request)
    project = selectors.project_get(user=user, slug=slug)
    try:
        made = services.submission_create_many(
            project=project, user=user, requests=[_fields(project, p) for p in payload.submissions]
        )
    except ValidationError as error:
        if not hasattr(error, "error_dict"):
            raise
        # "<index>.<field>" as the request names it: "submissions.<index>.<field>".
        raise ValidationError(
            {
                name if name == "submissions" else f"submissions.{name}": messages
                for name, messages in error.message_dict.items()
            }
        ) from error
    return Status(201, {"submissions": [_shown(request, user, s) for s in made]})


def _fields(project: Project, payload: SubmissionIn) -> dict[str, Any]:
    """The service's arguments, with the project's defaults where the request left one out."""
    model_key = payload.model_key or projects.project_default_model(project)
    return {
        "prompt": payload.prompt,
        "model_key": model_key,
        "aspect_ratio": payload.aspect_ratio,
        "preview_size": payload.preview_size
        or projects.project_default_preview_size(project, model_key),
        "variants": payload.variants,
        "final_model_key": payload.final_model_key or "",
    }


def _shown(request: HttpRequest, user: User, submission: Submission) -> dict[str, Any]:
    generations = selectors.generations_of_submission(user=user, submission=submission)
    return represent.submission(represent.Links(request), submission, generations)
