"""Who the token belongs to, and the projects they work in."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from generations import selectors
from generations.api import represent
from generations.api.auth import scoped, user_of
from generations.api.schemas import ErrorOut, MeOut, ProjectOut

router = Router(tags=["account"])
ERRORS = {401: ErrorOut, 403: ErrorOut}


@router.get("/me", response={200: MeOut, **ERRORS}, url_name="me", **scoped("read"))
def me(request: HttpRequest) -> dict:
    """The token's owner and the token itself (check a token with this)."""
    return {
        "username": user_of(request).get_username(),
        "token": represent.token(request.auth),  # type: ignore[attr-defined]
    }


@router.get(
    "/projects", response={200: list[ProjectOut], **ERRORS}, url_name="project_list",
    **scoped("read"),
)  # fmt: skip
def project_list(request: HttpRequest) -> list[dict]:
    """The projects you have a role in, with your roles and the models each allows."""
    user = user_of(request)
    return [
        represent.project(project, user=user) for project in selectors.projects_visible(user=user)
    ]


@router.get(
    "/projects/{slug}", response={200: ProjectOut, 404: ErrorOut, **ERRORS},
    url_name="project_get", **scoped("read"),
)  # fmt: skip
def project_get(request: HttpRequest, slug: str) -> dict:
    user = user_of(request)
    return represent.project(selectors.project_get(user=user, slug=slug), user=user)
