"""The permission matrix of the review workflow: role × action × whose generation, in
my project or another, with and without "four eyes" — written out as a table, so that a
wrong edit to generations.permissions shows up here."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from generations.models import Membership, Role
from generations.permissions import Action, can, require, require_project_role
from tests.support.factories import (
    GenerationFactory,
    ProjectFactory,
    SubmissionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

Y, N = True, False
A = Action
# role -> action -> (on my own generation, on someone else's in my project), four eyes off.
# In a project where the person holds no role, every answer is no (superusers excepted).
TABLE: dict[str, dict[Action, tuple[bool, bool]]] = {
    "designer": {
        A.VIEW: (Y, Y), A.SUBMIT: (Y, Y), A.APPROVE: (N, N), A.REJECT: (N, N),
        A.REQUEST_CHANGES: (N, N), A.CANCEL: (Y, N), A.RETRY_PREVIEW: (Y, N),
        A.RETRY_FINAL: (N, N), A.REVISE: (Y, Y), A.COMMENT: (Y, Y),
        A.MANAGE_SETTINGS: (N, N), A.MANAGE_MEMBERS: (N, N), A.MANAGE_WEBHOOKS: (N, N),
    },
    "reviewer": {
        A.VIEW: (Y, Y), A.SUBMIT: (N, N), A.APPROVE: (Y, Y), A.REJECT: (Y, Y),
        A.REQUEST_CHANGES: (Y, Y), A.CANCEL: (N, N), A.RETRY_PREVIEW: (N, N),
        A.RETRY_FINAL: (Y, Y), A.REVISE: (N, N), A.COMMENT: (Y, Y),
        A.MANAGE_SETTINGS: (N, N), A.MANAGE_MEMBERS: (N, N), A.MANAGE_WEBHOOKS: (N, N),
    },
    "designer+reviewer": {
        A.VIEW: (Y, Y), A.SUBMIT: (Y, Y), A.APPROVE: (Y, Y), A.REJECT: (Y, Y),
        A.REQUEST_CHANGES: (Y, Y), A.CANCEL: (Y, N), A.RETRY_PREVIEW: (Y, N),
        A.RETRY_FINAL: (Y, Y), A.REVISE: (Y, Y), A.COMMENT: (Y, Y),
        A.MANAGE_SETTINGS: (N, N), A.MANAGE_MEMBERS: (N, N), A.MANAGE_WEBHOOKS: (N, N),
    },
    "admin": {action: (Y, Y) for action in Action},
    "superuser": {action: (Y, Y) for action in Action},
    "anonymous": {action: (N, N) for action in Action},
}  # fmt: skip
# With four eyes on, these (role, action, whose) become no: nobody approves their own.
FOUR_EYES_REFUSES = {
    ("reviewer", A.APPROVE, "own"),
    ("designer+reviewer", A.APPROVE, "own"),
    ("admin", A.APPROVE, "own"),
    ("superuser", A.APPROVE, "own"),
}
WHOSE = ("own", "other", "other-project")


def expected(role: str, action: Action, whose: str, four_eyes: bool) -> bool:
    if whose == "other-project":
        return role == "superuser"
    if four_eyes and (role, action, whose) in FOUR_EYES_REFUSES:
        return False
    own, other = TABLE[role][action]
    return own if whose == "own" else other


CASES = [
    (role, action, whose, four_eyes, expected(role, action, whose, four_eyes))
    for role, action, whose, four_eyes in itertools.product(TABLE, Action, WHOSE, (False, True))
]


def test_the_matrix_covers_every_role_action_and_scope():
    assert all(set(row) == set(Action) for row in TABLE.values())
    assert len(CASES) == len(TABLE) * len(Action) * len(WHOSE) * 2
    assert {(r, a, w) for r, a, w in FOUR_EYES_REFUSES} <= {
        (r, a, "own") for r in TABLE for a in Action if TABLE[r][a][0]
    }


def _person(role: str, project):
    if role == "anonymous":
        return AnonymousUser()
    user = UserFactory(username=role.replace("+", "-"), is_superuser=role == "superuser")
    for name in role.split("+"):
        if name in {"designer", "reviewer", "admin"}:
            Membership.objects.create(project=project, user=user, role=Role(name))
    return user


@pytest.mark.parametrize(
    ("role", "action", "whose", "four_eyes", "allowed"),
    CASES,
    ids=[
        f"{r}-{a.value}-{w}-{'4eyes' if f else 'open'}-{'yes' if y else 'no'}"
        for r, a, w, f, y in CASES
    ],
)
def test_permission_matrix(role, action, whose, four_eyes, allowed):
    mine = ProjectFactory(slug="mine", four_eyes=four_eyes)
    theirs = ProjectFactory(slug="theirs", four_eyes=four_eyes)
    person = _person(role, mine)
    someone = UserFactory(username="someone")
    owner = person if whose == "own" and role != "anonymous" else someone
    project = theirs if whose == "other-project" else mine
    generation = GenerationFactory(submission=SubmissionFactory(project=project, created_by=owner))

    assert can(person, action, generation) is allowed
    if allowed:
        require(person, action, generation)
    else:
        with pytest.raises(PermissionDenied):
            require(person, action, generation)


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (role, action, TABLE[role][action][1])
        for role in TABLE
        for action in (A.SUBMIT, A.MANAGE_SETTINGS, A.MANAGE_MEMBERS)
    ],
)
def test_project_actions_in_my_project_and_never_in_another(role, action, allowed):
    mine = ProjectFactory(slug="mine", name="Mine")
    theirs = ProjectFactory(slug="theirs", name="Theirs")
    person = _person(role, mine)

    for project, ok in ((mine, allowed), (theirs, role == "superuser")):
        if ok:
            require_project_role(person, action, project)
        else:
            with pytest.raises(PermissionDenied, match=project.name):
                require_project_role(person, action, project)


def test_the_four_eyes_refusal_says_why(project):
    person = _person("designer+reviewer", project)
    project.four_eyes = True
    project.save()
    generation = GenerationFactory(submission=SubmissionFactory(project=project, created_by=person))

    with pytest.raises(PermissionDenied, match="Four eyes"):
        require(person, A.APPROVE, generation)
