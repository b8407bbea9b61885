"""What people notice on the studio's pages without a browser: the header's Review link
only for those who review, forms that start where the person left them, cards in a
stable order, the price list's model as a list of the catalogue, model labels in the
spend breakdowns, and prompts in any script laid out in their own direction."""

from __future__ import annotations

import re

import pytest

from generations import catalog, services
from generations.models import Role
from tests.support.factories import UserFactory
from tests.support.review import member
from tests.support.spend import PRO, build_ledger

pytestmark = pytest.mark.django_db


def _submit(project, user, **options):
    values = {
        "model_key": "nano-banana-pro",
        "aspect_ratio": "1:1",
        "preview_size": "1K",
        "variants": 1,
        **options,
    }
    return services.submission_create(project=project, user=user, prompt="a kite", **values)


def _selected(html: str, name: str) -> str:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {name}"
    chosen = re.search(r'<option value="([^"]*)"[^>]*selected', select[1])
    assert chosen, f"nothing selected in {name}"
    return chosen[1]


def test_a_designer_sees_no_review_link_and_a_reviewer_does(client, project, designer, reviewer):
    client.force_login(designer)
    html = client.get(f"/p/{project.slug}/").content.decode()
    assert 'href="/review/canvas/"' not in html
    assert 'href="/gallery/"' in html

    client.force_login(reviewer)
    assert 'href="/review/canvas/"' in client.get(f"/p/{project.slug}/").content.decode()


def test_the_studio_form_starts_from_the_persons_last_submission(client, project, designer):
    client.force_login(designer)
    fresh = client.get(f"/p/{project.slug}/").content.decode()
    assert (_selected(fresh, "aspect_ratio"), _selected(fresh, "variants")) == ("1:1", "2")

    _submit(project, designer, aspect_ratio="16:9", variants=3)
    html = client.get(f"/p/{project.slug}/").content.decode()
    assert _selected(html, "aspect_ratio") == "16:9"
    assert _selected(html, "variants") == "3"
    assert _selected(html, "model_key") == "nano-banana-pro"


def test_the_form_kept_after_an_htmx_submit_keeps_aspect_ratio_and_variants(
    client, project, designer
):
    client.force_login(designer)
    response = client.post(
        f"/p/{project.slug}/submit/",
        {
            "prompt": "a fox in the snow",
            "model_key": "nano-banana-pro",
            "aspect_ratio": "9:16",
            "preview_size": "1K",
            "variants": "4",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert _selected(html, "aspect_ratio") == "9:16"
    assert _selected(html, "variants") == "4"


def test_revise_defaults_to_the_original_number_of_variants(client, project, designer):
    submission = _submit(project, designer, variants=3)
    client.force_login(designer)
    html = client.get(f"/g/{submission.generations.first().pk}/").content.decode()
    assert _selected(html, "variants") == "3"


def test_the_variants_of_a_submission_keep_their_order_after_a_reload(client, project, designer):
    _submit(project, designer, variants=1)
    newer = _submit(project, designer, variants=3)
    client.force_login(designer)
    html = client.get(f"/p/{project.slug}/").content.decode()
    shown = [int(pk) for pk in re.findall(r'<article id="gen-(\d+)"', html)]
    variants = list(newer.generations.order_by("variant").values_list("pk", flat=True))
    assert shown[:3] == variants, "newest first, its variants 1, 2, 3 — as after submitting"
    assert html.count("<article") == 4


def test_the_price_lists_model_is_a_select_of_the_catalogue(client, settings):
    staff = UserFactory(username="sam", is_staff=True)
    client.force_login(staff)
    html = client.get("/spend/prices/").content.decode()
    select = re.search(r'<select name="model_key"[^>]*>(.*?)</select>', html, re.S)
    assert select, "the model is not a select"
    keys = re.findall(r'<option value="([^"]+)"', select[1])
    # The catalogue's models, and the upscale of a preview (a final made without one).
    assert keys == [model.key for model in catalog.all_models()] + ["upscale"]
    assert catalog.get_model(PRO).label in select[1]


def test_an_unknown_model_is_refused_with_a_form_error(client):
    client.force_login(UserFactory(username="sam", is_staff=True))
    response = client.post(
        "/spend/prices/",
        {"model_key": "no-such-model", "size": "4K", "lane": "standard", "usd_per_image": "0.3"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["model_key"]


def test_the_spend_breakdown_by_model_shows_labels_not_keys(client, project):
    build_ledger(project)
    client.force_login(UserFactory(username="sam", is_staff=True))
    html = client.get("/spend/?date_from=2026-03-01&date_to=2026-03-08").content.decode()
    table = re.search(r'<table class="table" data-breakdown="model">(.*?)</table>', html, re.S)
    assert table
    heads = re.findall(r'<th scope="row"[^>]*>([^<]*)</th>', table[1])
    assert "Nano Banana Pro" in heads and PRO not in heads


def test_prompts_are_laid_out_in_their_own_direction(client, project, designer):
    submission = services.submission_create(
        project=project,
        user=designer,
        prompt="מגדלור על צוק בשקיעה",
        model_key="nano-banana-pro",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=1,
    )
    member(project, "rui", Role.REVIEWER)
    client.force_login(designer)
    page = client.get(f"/g/{submission.generations.get().pk}/").content.decode()
    assert re.search(r'<p class="prompt" dir="auto">מגדלור', page)
    studio = client.get(f"/p/{project.slug}/").content.decode()
    assert 'class="card__prompt" dir="auto"' in studio
    assert re.search(r'<textarea name="prompt"[^>]*dir="auto"', studio)


def test_a_final_in_backoff_says_when_it_tries_next_like_the_banner(client, project, designer):
    import datetime as dt

    from django.utils import timezone

    from generations.states import State
    from tests.support.factories import GenerationFactory, SubmissionFactory

    submission = SubmissionFactory(project=project, created_by=designer)
    generation = GenerationFactory(
        submission=submission,
        state=State.FINAL_QUEUED,
        next_attempt_at=timezone.now() + dt.timedelta(seconds=90),
        waiting_reason="Retrying after overloaded",
    )
    client.force_login(designer)
    html = client.get(f"/g/{generation.pk}/").content.decode()
    banner = re.search(r"Retrying after overloaded — next try in (1 min \d\d s)", html)
    assert banner, "the banner says when"
    assert f"Retrying: next try in {banner[1]}" in html or "Retrying: next try in 1 min" in html
    assert "Waiting for a worker" not in html
