"""Create the demo project and its three people for `make run`, and a second project with
a savings history (generations.spend.demo: a preview→final path that saves beside one that
does not, for the savings page). Idempotent: passwords are printed once, when a user is
created (or when --reset-passwords asks for new ones)."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from generations.models import Budget, BudgetPeriod, Membership, Project, Role
from generations.spend.demo import PROJECT_NAME, savings_demo_seed

DEMO_PEOPLE = (
    ("designer", Role.DESIGNER, False),
    ("reviewer", Role.REVIEWER, False),
    ("admin", Role.ADMIN, True),
)
# Enough for a good look around (about 200 Nano Banana Pro 4K finals), small enough that
# the estimates and the budget's standing have something to say.
DEMO_MONTHLY_BUDGET_USD = Decimal("50.00")


class Command(BaseCommand):
    help = "Create the demo project (with a monthly budget), a designer, a reviewer and an admin."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--reset-passwords", action="store_true", help="Give the demo users new passwords."
        )

    @transaction.atomic
    def handle(self, *args: Any, reset_passwords: bool = False, **options: Any) -> None:
        project, created = Project.objects.get_or_create(
            slug="demo", defaults={"name": "Demo project"}
        )
        if created:
            # Only with a new project: an admin who changed or removed it keeps their choice.
            Budget.objects.create(
                project=project, period=BudgetPeriod.MONTHLY, amount_usd=DEMO_MONTHLY_BUDGET_USD
            )
        users = get_user_model()
        lines = []
        people = {}
        for username, role, is_staff in DEMO_PEOPLE:
            user, created = users.objects.get_or_create(
                username=username, defaults={"is_staff": is_staff, "is_superuser": is_staff}
            )
            Membership.objects.get_or_create(project=project, user=user, role=role)
            people[username] = user
            if created or reset_passwords:
                password = secrets.token_urlsafe(9)
                user.set_password(password)
                user.save()
                lines.append(f"  {username:<9} {password:<14} ({role.label.lower()})")
        if savings_demo_seed(designer=people["designer"], admin=people["admin"]):
            self.stdout.write(f"Savings history: {PROJECT_NAME} (see Spend → Savings as admin).")
        if lines:
            self.stdout.write("Demo users (passwords are shown this once):")
            self.stdout.write("\n".join(lines))
        else:
            self.stdout.write(
                "Demo users exist: designer, reviewer, admin (new passwords: make demo-passwords)."
            )
