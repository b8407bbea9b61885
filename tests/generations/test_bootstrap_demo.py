"""`make run`'s demo: a project with its three people and a budget to try estimates on."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from generations.models import Budget, Membership, Project, Role

pytestmark = pytest.mark.django_db


def _bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("bootstrap_demo", *args, stdout=out)
    return out.getvalue()


def test_the_demo_people_can_sign_in_with_the_passwords_printed_once():
    first = _bootstrap()
    passwords = dict(re.findall(r"^\s+(\w+)\s+(\S+)\s+\(", first, re.MULTILINE))
    assert set(passwords) == {"designer", "reviewer", "admin"}
    for username, password in passwords.items():
        person = Client()
        signed_in = person.post(reverse("login"), {"username": username, "password": password})
        assert signed_in.status_code == 302, username
        assert person.get(reverse("home")).wsgi_request.user.get_username() == username
    roles = dict(
        Membership.objects.filter(project__slug="demo").values_list("user__username", "role")
    )
    assert roles == {"designer": Role.DESIGNER, "reviewer": Role.REVIEWER, "admin": Role.ADMIN}
    again = _bootstrap()
    assert "passwords are shown this once" not in again
    assert all(password not in again for password in passwords.values())


def test_the_demo_project_starts_with_a_monthly_budget_an_admin_may_remove():
    _bootstrap()
    project = Project.objects.get(slug="demo")
    budget = Budget.objects.get(project=project, user=None)
    assert (budget.period, budget.amount_usd) == ("monthly", Decimal("50.00"))
    budget.delete()
    _bootstrap()
    assert not Budget.objects.filter(project=project).exists()
