"""`make run`'s demo: a project with its three people and a budget to try estimates on."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from generations.models import Budget, Membership, Project, Role
from generations.spend import reports, rollups
from generations.spend.reports import ReportFilter

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


def test_the_demo_has_a_savings_history_with_a_path_that_saves_beside_one_that_does_not():
    _bootstrap()
    _bootstrap()  # idempotent: the history is written once
    admin = get_user_model().objects.get(username="admin")
    project = Project.objects.get(slug="savings-demo")
    assert project.submissions.count() == 2

    savings = reports.savings_report(user=admin, filters=ReportFilter.default(project=project))

    cheap, pro = savings.paths
    assert (cheap.preview_model_key, cheap.preview_size, cheap.model_key) == (
        "nano-banana-2",
        "512",
        "nano-banana-pro",
    )
    # 4 × $0.045 previews + one batch Pro 4K final from the preview: $0.12 + $0.0006.
    assert (cheap.previewed, cheap.approved, cheap.actual) == (4, 1, Decimal("0.3006"))
    assert cheap.direct == pro.direct == Decimal("0.96")
    assert cheap.saved > 0 > pro.saved
    assert pro.actual == Decimal("1.2593")  # 4 × $0.134 + 3 × ($0.24 + $0.0011)
    assert [lane.lane for lane in savings.lanes] == ["standard", "batch"]
    assert savings.lanes[1].saved == Decimal("0.1206")
    # The roll-ups it wrote are what a recount of its ledger gives.
    assert rollups.rollups_check().clean


def test_the_demo_savings_page_explains_both_paths_and_the_history_project_renders():
    _bootstrap()
    admin = Client()
    admin.force_login(get_user_model().objects.get(username="admin"))

    html = admin.get("/spend/savings/?project=savings-demo").content.decode()

    assert 'data-path="nano-banana-2 512 → nano-banana-pro 4K"' in html
    assert "actual $0.30; saved $0.96 − $0.30 = $0.66" in html
    assert "actual $1.26; saved $0.96 − $1.26 = −$0.30" in html
    assert 'data-lane="batch"' in html
    studio = admin.get(reverse("project", args=["savings-demo"]))
    assert studio.status_code == 200
    assert "Nano Banana 2 → Nano Banana Pro" in " ".join(studio.content.decode().split())
