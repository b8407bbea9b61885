"""What people see of money: the submit form's estimate and the refusal over budget, the
cost of approving and the budget left in the review queue, and the budget settings."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from generations import services
from generations.models import Budget, Generation, LedgerEntry, Submission
from generations.rendering import jobs
from generations.spend.ledger import ledger_entry_insert
from tests.support.fakes import OK, ScriptedProvider

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr("generations.dispatch.kick", lambda generation_id: None)


def text(response) -> str:
    html = response.content.decode()
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def submit_data(**overrides) -> dict[str, object]:
    data = {
        "prompt": "a lighthouse at dusk",
        "model_key": "nano-banana-2",
        "aspect_ratio": "1:1",
        "preview_size": "1K",
        "variants": 3,
    }
    return {**data, **overrides}


def test_the_submit_form_shows_what_the_previews_and_their_finals_cost(client, project, designer):
    Budget.objects.create(project=project, amount_usd=Decimal("5"))
    client.force_login(designer)

    page = text(client.get(reverse("project", args=[project.slug])))

    # The project's defaults: Nano Banana Pro, 2 variants at 2K (0.134), finals at 4K (0.24).
    assert "2 previews at 2K: $0.27 ($0.13 each)" in page
    assert "Approving all 2 as 4K finals: $0.48 more" in page
    assert "Budget left: $5.00 of $5.00 (Acme Launch’s monthly budget" in page


def test_the_estimate_follows_the_model_size_and_variants(client, project, designer):
    client.force_login(designer)
    url = reverse("submission_estimate", args=[project.slug])

    page = text(client.get(url, submit_data(), headers={"HX-Request": "true"}))

    assert "3 previews at 1K: $0.20 ($0.07 each)" in page
    assert "Approving all 3 as 4K finals: $0.45 more" in page
    assert "Budget left" not in page, "no budget, nothing to say about it"
    page = text(client.get(url, submit_data(model_key="nano-banana-pro", variants=1)))
    assert "1 preview at 1K: $0.13" in page


def test_the_estimate_warns_when_the_budget_does_not_cover_the_previews(client, project, designer):
    Budget.objects.create(project=project, amount_usd=Decimal("0.15"))
    client.force_login(designer)
    page = text(client.get(reverse("submission_estimate", args=[project.slug]), submit_data()))
    assert "Budget left: $0.15" in page and "not enough for these previews" in page


def test_only_people_who_submit_get_an_estimate(client, project, reviewer, outsider):
    url = reverse("submission_estimate", args=[project.slug])
    client.force_login(reviewer)
    assert client.get(url, submit_data()).status_code == 403
    client.force_login(outsider)
    assert client.get(url, submit_data()).status_code == 404


def test_a_submission_over_budget_is_refused_with_what_is_left_and_whom_to_ask(
    client, project, designer, project_admin
):
    Budget.objects.create(project=project, amount_usd=Decimal("0.15"))
    client.force_login(designer)

    response = client.post(reverse("submission_create", args=[project.slug]), submit_data())

    assert response.status_code == 400
    page = text(response)
    assert "Over budget: 3 previews at 1K would cost $0.20" in page
    assert "only $0.15 is left of Acme Launch’s monthly budget" in page
    assert "Ask ada to raise the budget." in page
    assert "a lighthouse at dusk" in page, "the prompt is kept"
    assert not Submission.objects.exists()
    # With htmx, the form comes back in place with the same message.
    response = client.post(
        reverse("submission_create", args=[project.slug]),
        submit_data(),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "Over budget" in text(response)


def test_over_budget_the_estimate_and_the_refusal_give_one_figure_for_what_is_left(
    client, project, designer, project_admin
):
    # The project's budget would refuse too (0.132 left), but the designer's own is
    # the tightest: overspent by an adjustment. Both say so, with the same figure.
    Budget.objects.create(project=project, amount_usd=Decimal("1.80"))
    Budget.objects.create(project=project, user=designer, amount_usd=Decimal("1.00"))
    ledger_entry_insert(
        LedgerEntry(
            kind="adjustment",
            project=project,
            user=designer,
            amount_usd=Decimal("1.668"),
            reason="a late invoice",
            created_at=timezone.now(),
        )
    )
    client.force_login(designer)

    estimate = text(client.get(reverse("submission_estimate", args=[project.slug]), submit_data()))
    refusal = text(client.post(reverse("submission_create", args=[project.slug]), submit_data()))

    assert "Budget left: −$0.67 of $1.00 (your monthly budget" in estimate
    assert "not enough for these previews" in estimate
    assert (
        "Over budget: 3 previews at 1K would cost $0.20, but −$0.67 is left of your monthly "
        "budget in Acme Launch ($1.00; $1.67 spent, $0.00 reserved for work under way)"
    ) in refusal
    assert "$-" not in estimate + refusal and "$0.668" not in estimate + refusal


def _in_review(project, designer, variants=1) -> list[Generation]:
    submission = services.submission_create(
        project=project, user=designer, **{**submit_data(), "variants": variants}
    )
    generations = list(submission.generations.all())
    for generation in generations:
        jobs.generation_render(generation_id=generation.pk, provider=ScriptedProvider(OK))
    return generations


def test_the_review_queue_shows_the_cost_of_approving_and_the_budget_left(
    client, project, designer, reviewer
):
    _in_review(project, designer, variants=2)  # 2 × 0.067 spent
    Budget.objects.create(project=project, amount_usd=Decimal("0.30"))
    client.force_login(reviewer)

    page = text(client.get(reverse("review")))

    assert "Approving renders 4K: $0.15 each · all 2: $0.30" in page
    assert "Budget left: $0.17 of $0.30 (Acme Launch’s monthly budget)" in page
    Budget.objects.update(amount_usd=Decimal("0.20"))
    page = text(client.get(reverse("review")))
    assert "not enough to approve; ask a project admin to raise it" in page


def test_approving_over_budget_from_the_generation_page_says_why(
    client, project, designer, reviewer, project_admin
):
    (generation,) = _in_review(project, designer)
    Budget.objects.create(project=project, amount_usd=Decimal("0.10"))
    client.force_login(reviewer)
    url = reverse("generation", args=[generation.pk])
    assert "Not enough to approve" in text(client.get(url))

    response = client.post(reverse("generation_approve", args=[generation.pk]), follow=True)

    page = text(response)
    assert "Over budget: approving" in page and "Ask ada to raise the budget." in page
    generation.refresh_from_db()
    assert generation.state == "in_review"


# --- the settings page -----------------------------------------------------------------


def test_a_project_admin_sets_the_project_and_a_personal_budget(
    client, project, project_admin, designer
):
    client.force_login(project_admin)
    url = reverse("project_budget_set", args=[project.slug])

    response = client.post(
        url, {"username": "", "period": "weekly", "amount_usd": "25", "soft_threshold_pct": 75}
    )
    assert response.status_code == 302
    client.post(
        url, {"username": "dana", "period": "monthly", "amount_usd": "5", "soft_threshold_pct": 80}
    )

    project_budget = Budget.objects.get(project=project, user=None)
    assert (project_budget.period, project_budget.amount_usd) == ("weekly", Decimal("25"))
    assert project_budget.soft_threshold_pct == 75
    assert Budget.objects.get(project=project, user=designer).amount_usd == Decimal("5")
    page = text(client.get(reverse("project_settings", args=[project.slug])))
    assert "Acme Launch Weekly" in page and "dana Monthly" in page

    client.post(url, {"username": "dana", "period": "monthly", "amount_usd": "",
                      "soft_threshold_pct": 80})  # fmt: skip
    assert not Budget.objects.filter(user=designer).exists(), "an empty amount removes it"


def test_bad_budget_input_is_explained_and_nothing_changes(client, project, project_admin):
    client.force_login(project_admin)
    url = reverse("project_budget_set", args=[project.slug])

    response = client.post(
        url, {"username": "nobody", "period": "monthly", "amount_usd": "-3",
              "soft_threshold_pct": 120},
    )  # fmt: skip

    assert response.status_code == 400
    page = text(response)
    assert "Ensure this value is greater than or equal to 0" in page
    assert "Ensure this value is less than or equal to 100" in page
    response = client.post(
        url, {"username": "nobody", "period": "monthly", "amount_usd": "3",
              "soft_threshold_pct": 80},
    )  # fmt: skip
    assert "“nobody” is not a member of Acme Launch." in text(response)
    assert not Budget.objects.exists()


def test_only_project_admins_set_budgets(client, project, designer, outsider):
    url = reverse("project_budget_set", args=[project.slug])
    data = {"username": "", "period": "monthly", "amount_usd": "1000", "soft_threshold_pct": 80}
    client.force_login(designer)
    assert client.post(url, data).status_code == 403
    client.force_login(outsider)
    assert client.post(url, data).status_code == 404
    assert not Budget.objects.exists()
