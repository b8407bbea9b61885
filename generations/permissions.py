"""Who may do what, decided in one place for every view, action and media file."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from generations.models import Generation, Membership, Project, Role
from generations.states import Actor
from generations.types import AnyUser, User


class Action(StrEnum):
    VIEW = "view"
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_CHANGES = "request_changes"
    CANCEL = "cancel"
    RETRY_PREVIEW = "retry_preview"
    RETRY_FINAL = "retry_final"
    REVISE = "revise"
    COMMENT = "comment"
    # Project-wide: edit the project's settings, manage who holds which role.
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_MEMBERS = "manage_members"


# action -> the roles that may take it, in the order we prefer to record as the actor
_ROLES_FOR: dict[Action, tuple[Role, ...]] = {
    Action.VIEW: (Role.DESIGNER, Role.REVIEWER, Role.ADMIN),
    Action.SUBMIT: (Role.DESIGNER, Role.ADMIN),
    Action.APPROVE: (Role.REVIEWER, Role.ADMIN),
    Action.REJECT: (Role.REVIEWER, Role.ADMIN),
    Action.REQUEST_CHANGES: (Role.REVIEWER, Role.ADMIN),
    Action.CANCEL: (Role.DESIGNER, Role.ADMIN),
    Action.RETRY_PREVIEW: (Role.DESIGNER, Role.ADMIN),
    Action.RETRY_FINAL: (Role.REVIEWER, Role.ADMIN),
    Action.REVISE: (Role.DESIGNER, Role.ADMIN),
    Action.COMMENT: (Role.DESIGNER, Role.REVIEWER, Role.ADMIN),
    Action.MANAGE_SETTINGS: (Role.ADMIN,),
    Action.MANAGE_MEMBERS: (Role.ADMIN,),
}
# A designer acts on their own generations only; an admin on any in the project.
_OWN_ONLY_FOR_DESIGNERS = {Action.CANCEL, Action.RETRY_PREVIEW}
# "Four eyes" (a project setting): nobody, whatever their roles, approves their own work.
_NOT_ON_OWN_WITH_FOUR_EYES = {Action.APPROVE}


def roles_in(user: AnyUser, project: Project | int) -> set[Role]:
    if not user.is_authenticated:
        return set()
    if user.is_superuser:
        return set(Role)
    project_id = project.pk if isinstance(project, Project) else project
    cache: dict[int, set[Role]] = user.__dict__.setdefault("_studio_roles", {})
    if project_id not in cache:
        cache[project_id] = {
            Role(role)
            for role in Membership.objects.filter(user=user, project_id=project_id).values_list(
                "role", flat=True
            )
        }
    return cache[project_id]


def four_eyes(user: AnyUser, project: Project | int) -> bool:
    """Whether the project forbids approving one's own generations (cached per request
    on the user object, like the roles)."""
    if isinstance(project, Project):
        return project.four_eyes
    cache: dict[int, bool] = user.__dict__.setdefault("_studio_four_eyes", {})
    if project not in cache:
        cache[project] = bool(
            Project.objects.filter(pk=project).values_list("four_eyes", flat=True).first()
        )
    return cache[project]


def blocked_by_four_eyes(
    user: AnyUser, action: Action, *, project: Project | int, owner_id: int | None
) -> bool:
    return (
        action in _NOT_ON_OWN_WITH_FOUR_EYES
        and owner_id is not None
        and owner_id == getattr(user, "pk", None)
        and four_eyes(user, project)
    )


def acting_role(
    user: AnyUser, action: Action, *, project: Project | int, owner_id: int | None = None
) -> Role | None:
    """The role `user` would act in, or None if they may not."""
    held = roles_in(user, project)
    for role in _ROLES_FOR[action]:
        if role not in held:
            continue
        if role is Role.DESIGNER and action in _OWN_ONLY_FOR_DESIGNERS and owner_id != user.pk:
            continue
        if blocked_by_four_eyes(user, action, project=project, owner_id=owner_id):
            return None  # whatever the role
        return role
    return None


def _project_of(generation: Generation) -> Project | int:
    # The loaded project when a selector fetched it (no query), else its id.
    return generation.project if Generation.project.is_cached(generation) else generation.project_id


def can(user: AnyUser, action: Action, generation: Generation) -> bool:
    owner_id = generation.submission.created_by_id
    return acting_role(user, action, project=_project_of(generation), owner_id=owner_id) is not None


def require(user: AnyUser, action: Action, generation: Generation) -> Actor:
    """The actor kind to record for `user` taking `action`, or PermissionDenied."""
    project, owner_id = _project_of(generation), generation.submission.created_by_id
    role = acting_role(user, action, project=project, owner_id=owner_id)
    if role is None:
        could = set(_ROLES_FOR[action]) & roles_in(user, project)
        if could and blocked_by_four_eyes(user, action, project=project, owner_id=owner_id):
            raise PermissionDenied(
                "Four eyes: this project does not let anyone approve a generation they "
                "submitted. Another reviewer has to approve it."
            )
        raise PermissionDenied(f"You may not {action.value.replace('_', ' ')} this generation.")
    return Actor(role.value)


def require_project_role(user: AnyUser, action: Action, project: Project) -> Actor:
    role = acting_role(user, action, project=project)
    if role is None:
        raise PermissionDenied(f"You may not {action.value.replace('_', ' ')} in {project.name}.")
    return Actor(role.value)


def visible_projects(user: AnyUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(pk__in=_member_project_ids(user))


def visible_generations(user: AnyUser) -> QuerySet[Generation]:
    if not user.is_authenticated:
        return Generation.objects.none()
    if user.is_superuser:
        return Generation.objects.all()
    return Generation.objects.filter(project_id__in=_member_project_ids(user))


def _member_project_ids(user: User) -> QuerySet[Membership, Any]:
    return Membership.objects.filter(user=user).values("project_id")


# --- Admin reports (spend, quality drift) ------------------------------------------------


def is_site_admin(user: AnyUser | None) -> bool:
    """Site staff and superusers see every project's reports and edit the price list."""
    return user is not None and user.is_authenticated and (user.is_superuser or user.is_staff)


def administered_projects(user: AnyUser) -> QuerySet[Project]:
    """The projects whose reports (spend, quality drift) `user` may see: all for site
    admins, else those they administer, else none."""
    if is_site_admin(user):
        return Project.objects.all()
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(
        pk__in=Membership.objects.filter(user=user, role=Role.ADMIN).values("project_id")
    )


def may_see_admin_reports(user: AnyUser | None) -> bool:
    """Whether any admin report is open to `user` (cached on the user for the request:
    the header asks on every page)."""
    if is_site_admin(user):
        return True
    if user is None or not user.is_authenticated:
        return False
    if "_studio_admin_reports" not in user.__dict__:
        user.__dict__["_studio_admin_reports"] = Membership.objects.filter(
            user=user, role=Role.ADMIN
        ).exists()
    return bool(user.__dict__["_studio_admin_reports"])
