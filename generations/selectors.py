"""Reads for the pages: each selector fetches what a page shows in a fixed number of
queries, filtered by what the user may see (generations.permissions)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, QuerySet
from django.http import Http404

from generations.flow import State
from generations.models import Attempt, Generation, Image, Project, Submission, Transition
from generations.permissions import Action, acting_role, visible_generations, visible_projects

CARDS_PER_PAGE = 24


def projects_visible(*, user: Any) -> QuerySet[Project]:
    return visible_projects(user).order_by("name")


def project_get(*, user: Any, slug: str) -> Project:
    """The project, or 404 if the user may not see it (its existence is not revealed)."""
    project = visible_projects(user).filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    return project


def _cards(queryset: QuerySet[Generation]) -> QuerySet[Generation]:
    """Everything a card shows: the submission, its author, and the images."""
    return queryset.select_related(
        "submission", "submission__created_by", "project"
    ).prefetch_related(Prefetch("images", queryset=Image.objects.order_by("created_at")))


def generations_recent(*, user: Any, project: Project, page: int | str | None = 1) -> Page:
    """One page of the project's generations, newest first."""
    queryset = _cards(
        visible_generations(user).filter(project=project).order_by("-created_at", "-pk")
    )
    return Paginator(queryset, CARDS_PER_PAGE).get_page(page)


def generations_of_submission(*, user: Any, submission: Submission) -> list[Generation]:
    return list(_cards(visible_generations(user).filter(submission=submission)).order_by("variant"))


def generation_card(*, user: Any, pk: int) -> Generation:
    generation = _cards(visible_generations(user)).filter(pk=pk).first()
    if generation is None:
        raise Http404("No such generation.")
    return generation


def generation_detail(*, user: Any, pk: int) -> Generation:
    """A generation with everything its page shows, or 404 if the user may not see it."""
    generation = (
        _cards(visible_generations(user))
        .select_related("submission__parent", "submission__parent__submission")
        .prefetch_related(
            Prefetch(
                "transitions",
                queryset=Transition.objects.select_related("actor").order_by("created_at", "pk"),
            ),
            Prefetch("attempts", queryset=Attempt.objects.order_by("number")),
            Prefetch(
                "revisions",
                queryset=Submission.objects.order_by("created_at").prefetch_related(
                    Prefetch("generations", queryset=Generation.objects.order_by("variant"))
                ),
            ),
            Prefetch(
                "submission__generations",
                queryset=Generation.objects.order_by("variant"),
                to_attr="siblings",
            ),
        )
        .filter(pk=pk)
        .first()
    )
    if generation is None:
        raise Http404("No such generation.")
    return generation


def review_projects(*, user: Any) -> list[Project]:
    """Projects where the user may approve (reviewer or admin)."""
    return [
        project
        for project in projects_visible(user=user)
        if acting_role(user, Action.APPROVE, project=project) is not None
    ]


def generations_in_review(*, user: Any, projects: list[Project]) -> QuerySet[Generation]:
    """Generations waiting for review in the given projects, oldest first."""
    return _cards(
        visible_generations(user).filter(
            project__in=[project.pk for project in projects], state=State.IN_REVIEW
        )
    ).order_by("state_changed_at", "pk")


def image_get(*, user: Any, pk: int) -> Image:
    """An image the user may view, or 404 (whether it exists is not revealed)."""
    image = (
        Image.objects.select_related("generation", "generation__submission", "generation__project")
        .filter(generation__in=visible_generations(user), pk=pk)
        .first()
    )
    if image is None:
        raise Http404("No such image.")
    return image
