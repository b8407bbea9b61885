"""Who may do what: the whole role × action × ownership table, and what people can see."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from generations.models import Membership, Role
from generations.permissions import (
    Action,
    can,
    require,
    require_project_role,
    visible_generations,
    visible_projects,
)
from generations.states import Actor
from tests.support.factories import (
    GenerationFactory,
    ProjectFactory,
    SubmissionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

Y, N = True, False
# role -> action -> (allowed on their own generation, allowed on someone else's)
TABLE: dict[str, dict[Action, tuple[bool, bool]]] = {
    "designer": {
        Action.VIEW: (Y, Y),
        Action.SUBMIT: (Y, Y),
        Action.APPROVE: (N, N),
        Action.REJECT: (N, N),
        Action.REQUEST_CHANGES: (N, N),
        Action.CANCEL: (Y, N),
        Action.RETRY_PREVIEW: (Y, N),
        Action.RETRY_FINAL: (N, N),
        Action.REVISE: (Y, Y),
        Action.COMMENT: (Y, Y),
        Action.MANAGE_SETTINGS: (N, N),
        Action.MANAGE_MEMBERS: (N, N),
        Action.MANAGE_WEBHOOKS: (N, N),
    },
    "reviewer": {
        Action.VIEW: (Y, Y),
        Action.SUBMIT: (N, N),
        Action.APPROVE: (Y, Y),
        Action.REJECT: (Y, Y),
        Action.REQUEST_CHANGES: (Y, Y),
        Action.CANCEL: (N, N),
        Action.RETRY_PREVIEW: (N, N),
        Action.RETRY_FINAL: (Y, Y),
        Action.REVISE: (N, N),
        Action.COMMENT: (Y, Y),
        Action.MANAGE_SETTINGS: (N, N),
        Action.MANAGE_MEMBERS: (N, N),
        Action.MANAGE_WEBHOOKS: (N, N),
    },
    "admin": {action: (Y, Y) for action in Action},
    "superuser": {action: (Y, Y) for action in Action},
    "outsider": {action: (N, N) for action in Action},
    "anonymous": {action: (N, N) for action in Action},
}
CASES = [
    (role, action, own, allowed[0] if own else allowed[1])
    for role, row in TABLE.items()
    for action, allowed in row.items()
    for own in (True, False)
]


def test_the_table_covers_every_action_for_every_role():
    assert all(set(row) == set(Action) for row in TABLE.values())
    assert len(CASES) == 6 * len(Action) * 2


def _person(role: str, project):
    if role == "anonymous":
        return AnonymousUser()
    user = UserFactory(username=f"{role}-person", is_superuser=role == "superuser")
    if role in {"designer", "reviewer", "admin"}:
        Membership.objects.create(project=project, user=user, role=Role(role))
    elif role == "outsider":
        Membership.objects.create(
            project=ProjectFactory(slug="elsewhere"), user=user, role=Role.ADMIN
        )
    return user


@pytest.mark.parametrize(
    ("role", "action", "own", "allowed"),
    CASES,
    ids=[f"{r}-{a.value}-{'own' if o else 'other'}-{'yes' if y else 'no'}" for r, a, o, y in CASES],
)
def test_permission_table(role, action, own, allowed, project):
    person = _person(role, project)
    someone_else = UserFactory(username="someone-else")
    owner = person if own and role != "anonymous" else someone_else
    generation = GenerationFactory(submission=SubmissionFactory(project=project, created_by=owner))

    assert can(person, action, generation) is allowed
    if allowed:
        assert isinstance(require(person, action, generation), Actor)
    else:
        with pytest.raises(PermissionDenied, match=action.value.replace("_", " ")):
            require(person, action, generation)


@pytest.mark.parametrize(
    ("role", "action", "actor"),
    [
        ("designer", Action.CANCEL, Actor.DESIGNER),
        ("reviewer", Action.APPROVE, Actor.REVIEWER),
        ("admin", Action.APPROVE, Actor.ADMIN),
        ("admin", Action.CANCEL, Actor.ADMIN),
        ("superuser", Action.APPROVE, Actor.REVIEWER),
        ("superuser", Action.CANCEL, Actor.DESIGNER),
    ],
)
def test_the_recorded_actor_is_the_role_acted_in(role, action, actor, project):
    person = _person(role, project)
    generation = GenerationFactory(submission=SubmissionFactory(project=project, created_by=person))

    assert require(person, action, generation) == actor


def test_a_designer_who_is_also_reviewer_approves_as_reviewer(project):
    person = _person("designer", project)
    Membership.objects.create(project=project, user=person, role=Role.REVIEWER)
    generation = GenerationFactory(submission=SubmissionFactory(project=project))

    assert require(person, Action.APPROVE, generation) == Actor.REVIEWER
    assert require(person, Action.REVISE, generation) == Actor.DESIGNER


def test_a_role_in_another_project_gives_nothing_here(project, outsider):
    generation = GenerationFactory(
        submission=SubmissionFactory(project=project, created_by=outsider)
    )

    assert not can(outsider, Action.VIEW, generation)
    assert not can(outsider, Action.CANCEL, generation), "even on a generation they own"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("designer", True),
        ("admin", True),
        ("superuser", True),
        ("reviewer", False),
        ("outsider", False),
        ("anonymous", False),
    ],
)
def test_who_may_submit_in_a_project(role, allowed, project):
    person = _person(role, project)

    if allowed:
        assert require_project_role(person, Action.SUBMIT, project) in {
            Actor.DESIGNER,
            Actor.ADMIN,
        }
    else:
        with pytest.raises(PermissionDenied, match="Acme Launch"):
            require_project_role(person, Action.SUBMIT, project)


def test_visible_projects_are_only_member_projects(project, designer, outsider):
    ProjectFactory(slug="nobody-here")

    assert list(visible_projects(designer)) == [project]
    assert [p.slug for p in visible_projects(outsider)] == ["elsewhere"]


def test_a_member_with_several_roles_sees_a_project_once(project, designer):
    Membership.objects.create(project=project, user=designer, role=Role.REVIEWER)

    assert list(visible_projects(designer)) == [project]
    GenerationFactory(submission=SubmissionFactory(project=project))
    assert visible_generations(designer).count() == 1


def test_visible_generations_are_only_those_of_member_projects(project, designer, outsider):
    mine = GenerationFactory(submission=SubmissionFactory(project=project))
    theirs = GenerationFactory(
        submission=SubmissionFactory(project=outsider.memberships.get().project)
    )
    GenerationFactory()  # a third project nobody here belongs to

    assert list(visible_generations(designer)) == [mine]
    assert list(visible_generations(outsider)) == [theirs]


def test_a_superuser_sees_everything_and_anonymous_nothing(project):
    GenerationFactory(submission=SubmissionFactory(project=project))
    GenerationFactory()
    superuser = UserFactory(username="root", is_superuser=True)

    assert visible_projects(superuser).count() == 2
    assert visible_generations(superuser).count() == 2
    assert visible_projects(AnonymousUser()).count() == 0
    assert visible_generations(AnonymousUser()).count() == 0


def test_a_member_removed_from_the_project_loses_access(project, designer):
    generation = GenerationFactory(submission=SubmissionFactory(project=project))
    Membership.objects.filter(user=designer).delete()
    fresh = type(designer).objects.get(pk=designer.pk)

    assert not can(fresh, Action.VIEW, generation)
    assert visible_generations(fresh).count() == 0
