"""Project settings and memberships: what project admins change in the site.

Services (`project_settings_update`, `membership_set_roles`) check MANAGE_SETTINGS /
MANAGE_MEMBERS with generations.permissions; the selectors feed the forms and pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from generations import catalog
from generations.lanes import Lane
from generations.models import FallbackPolicy, Membership, Project, Role
from generations.permissions import Action, require_project_role
from generations.sizes import SIZES
from generations.strategies import Strategy
from generations.types import User

FINAL_SIZES = ("2K", "4K")
_ORDER = {size: rank for rank, size in enumerate(SIZES)}


def project_models(project: Project) -> list[catalog.ModelEntry]:
    """The models designers may pick in this project, in settings order."""
    models = catalog.all_models()
    if not project.allowed_models:
        return models
    return [model for model in models if model.key in project.allowed_models]


def project_default_model(project: Project) -> str:
    """The submit form's initial model: the project's, else the site's, if allowed here."""
    allowed = [model.key for model in project_models(project)]
    for key in (project.default_model_key, settings.STUDIO_DEFAULT_MODEL):
        if key and key in allowed:
            return key
    return allowed[0] if allowed else ""


def project_default_preview_size(project: Project, model_key: str) -> str:
    try:
        sizes = [s for s in catalog.get_model(model_key).preview_sizes if s in _ORDER]
    except LookupError:
        return ""
    smaller = [s for s in sizes if _ORDER[s] < _ORDER.get(project.final_size, len(SIZES))]
    sizes = smaller or sizes
    for size in (project.default_preview_size, "2K"):
        if size in sizes:
            return size
    return sizes[0] if sizes else ""


def project_settings_update(
    *,
    project: Project,
    user: User,
    review_required: bool,
    four_eyes: bool,
    allowed_models: list[str],
    default_model_key: str,
    default_preview_size: str,
    final_size: str,
    fallback_policy: str,
    escalation_strategy: str = "",
    fidelity_threshold: float | None = None,
    final_lane: str = "",
) -> Project:
    require_project_role(user, Action.MANAGE_SETTINGS, project)
    configured = [model.key for model in catalog.all_models()]
    errors: dict[str, str] = {}
    unknown = [key for key in allowed_models if key not in configured]
    if unknown:
        errors["allowed_models"] = f"Unknown model: {', '.join(unknown)}."
    elif not allowed_models:
        errors["allowed_models"] = "Allow at least one model."
    if default_model_key and default_model_key not in allowed_models:
        errors["default_model_key"] = "The default model must be one of the allowed models."
    if final_size not in FINAL_SIZES:
        errors["final_size"] = f"Choose one of {', '.join(FINAL_SIZES)}."
    if default_preview_size:
        if default_preview_size not in _ORDER:
            errors["default_preview_size"] = "Choose a listed size."
        elif _ORDER[default_preview_size] >= _ORDER.get(final_size, len(SIZES)):
            errors["default_preview_size"] = (
                f"A preview must be smaller than the final ({final_size})."
            )
    if fallback_policy not in FallbackPolicy.values:
        errors["fallback_policy"] = "Choose one of the listed fallback policies."
    escalation_strategy = escalation_strategy or project.escalation_strategy
    if escalation_strategy not in Strategy.values:
        errors["escalation_strategy"] = "Choose one of the listed ways to make a final."
    final_lane = final_lane or project.final_lane
    if final_lane not in Lane.values:
        errors["final_lane"] = "Choose now or the economy lane."
    if fidelity_threshold is None:
        fidelity_threshold = project.fidelity_threshold
    elif not 0 <= fidelity_threshold <= 1:
        errors["fidelity_threshold"] = "Give a similarity from 0 to 1."
    if errors:
        raise ValidationError(errors)
    # Every model allowed = all of them, also those configured later.
    project.allowed_models = [] if set(allowed_models) == set(configured) else allowed_models
    project.review_required = review_required
    project.four_eyes = four_eyes
    project.default_model_key = default_model_key
    project.default_preview_size = default_preview_size
    project.final_size = final_size
    project.fallback_policy = fallback_policy
    project.escalation_strategy = escalation_strategy
    project.fidelity_threshold = fidelity_threshold
    project.final_lane = final_lane
    project.save(
        update_fields=[
            "final_lane",
            "escalation_strategy",
            "fidelity_threshold",
            "allowed_models",
            "review_required",
            "four_eyes",
            "default_model_key",
            "default_preview_size",
            "final_size",
            "fallback_policy",
        ]
    )
    return project


@dataclass(frozen=True)
class Member:
    user: User
    roles: frozenset[Role]

    def has(self, role: str) -> bool:
        return role in self.roles


def project_members(*, project: Project) -> list[Member]:
    """Everyone with a role in the project, by username (one query)."""
    members: dict[int, tuple[User, set[Role]]] = {}
    for membership in (
        Membership.objects.filter(project=project)
        .select_related("user")
        .order_by("user__username", "role")
    ):
        members.setdefault(membership.user_id, (membership.user, set()))[1].add(
            Role(membership.role)
        )
    return [Member(user, frozenset(roles)) for user, roles in members.values()]


def membership_set_roles(
    *, project: Project, user: User, username: str, roles: set[Role] | set[str]
) -> frozenset[Role]:
    """Give `username` exactly `roles` in the project (none = remove them). A project
    that has an admin keeps at least one."""
    require_project_role(user, Action.MANAGE_MEMBERS, project)
    wanted = frozenset(Role(role) for role in roles)
    member = get_user_model().objects.filter(username=username.strip()).first()
    if member is None:
        raise ValidationError({"username": f"No user named “{username.strip()}”."})
    with transaction.atomic():
        # One admin change at a time per project, so two admins cannot demote each other
        # into a project with none.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        current = set(
            Membership.objects.filter(project=project, user=member).values_list("role", flat=True)
        )
        admins = set(
            Membership.objects.filter(project=project, role=Role.ADMIN).values_list(
                "user_id", flat=True
            )
        )
        remaining = (admins - {member.pk}) | ({member.pk} if Role.ADMIN in wanted else set())
        if admins and not remaining:
            needs = f"{project.name} needs an admin: make someone else admin first."
            raise ValidationError({"roles": needs})
        Membership.objects.filter(project=project, user=member).exclude(role__in=wanted).delete()
        Membership.objects.bulk_create(
            [
                Membership(project=project, user=member, role=role)
                for role in wanted
                if role not in current
            ]
        )
    for person in (user, member):  # drop per-request role caches (permissions.roles_in)
        person.__dict__.pop("_studio_roles", None)
    return wanted
