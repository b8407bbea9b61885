"""The web UI of the core flow: pages, htmx partials, actions and the media view."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generations import selectors, services
from generations.models import Generation, Image, LedgerEntry, Membership, Phase, Role, Submission
from generations.rendering.jobs import generation_render
from generations.review.decisions import generation_approve
from generations.spend.ledger import ledger_entry_insert
from generations.states import State
from tests.support.factories import GenerationFactory, SubmissionFactory
from tests.support.fakes import drain_cpu_queue

pytestmark = pytest.mark.django_db

CARD = re.compile(r'<article id="gen-(\d+)"')


def submit(
    project, user, *, variants: int = 1, prompt: str = "a red kite over dunes"
) -> Submission:
    return services.submission_create(
        project=project,
        user=user,
        prompt=prompt,
        model_key="nano-banana-pro",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=variants,
    )


def generation_in(project, designer, state: State = State.PREVIEW_QUEUED) -> Generation:
    submission = SubmissionFactory(project=project, created_by=designer, variants=1)
    return GenerationFactory(submission=submission, variant=1, state=state)


def rendered(generation: Generation) -> Generation:
    """Run the real worker step (the local provider, `instant` profile) once."""
    generation_render(generation_id=generation.pk, worker="test")
    drain_cpu_queue()
    generation.refresh_from_db()
    return generation


def in_review(project, designer) -> Generation:
    generation = submit(project, designer).generations.get()
    generation = rendered(generation)
    assert generation.state == State.IN_REVIEW
    return generation


def delivered(project, designer, reviewer) -> Generation:
    generation = in_review(project, designer)
    generation_approve(generation_id=generation.pk, user=reviewer)
    generation = rendered(generation)
    assert generation.state == State.DELIVERED
    return generation


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def errors_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"] if m.level_tag == "error"]


def submit_data(**overrides) -> dict[str, object]:
    data = {
        "prompt": "a lighthouse in fog, watercolour",
        "model_key": "nano-banana-pro",
        "aspect_ratio": "16:9",
        "preview_size": "1K",
        "variants": 3,
    }
    data.update(overrides)
    return data


# --- access ------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_login_from_every_page(client, project, designer):
    generation = in_review(project, designer)
    image = generation.images.get()
    urls = [
        reverse("home"),
        reverse("project", args=[project.slug]),
        reverse("generation", args=[generation.pk]),
        reverse("generation_card", args=[generation.pk]),
        reverse("review"),
        reverse("media", args=[image.pk, "thumbnail"]),
        reverse("media", args=[image.pk, "original"]) + "?download=1",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url

    response = client.post(reverse("submission_create", args=[project.slug]), submit_data())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert Submission.objects.count() == 1


def test_the_login_page_signs_in_and_lands_on_my_only_project(client, project, designer):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b"Sign in" in page.content

    response = client.post(
        reverse("login"),
        {"username": "dana", "password": "correct horse battery"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("project", args=[project.slug])


def test_signing_out_is_a_post_from_the_header(client, project, designer):
    client.force_login(designer)
    page = client.get(reverse("project", args=[project.slug]))
    assert f'action="{reverse("logout")}"'.encode() in page.content

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302  # signed out: back to login


def test_home_lists_my_projects_when_there_are_several(client, project, designer):
    second = type(project).objects.create(name="Second Brand", slug="second")
    Membership.objects.create(project=second, user=designer, role=Role.DESIGNER)
    client.force_login(designer)

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert b"Acme Launch" in response.content
    assert b"Second Brand" in response.content


def test_an_outsider_gets_404_for_another_projects_pages_and_images(
    client, project, designer, outsider
):
    generation = in_review(project, designer)
    image = generation.images.get()
    client.force_login(outsider)

    for url in (
        reverse("project", args=[project.slug]),
        reverse("generation", args=[generation.pk]),
        reverse("generation_card", args=[generation.pk]),
        reverse("media", args=[image.pk, "original"]),
        reverse("media", args=[image.pk, "screen"]),
        reverse("media", args=[image.pk, "thumbnail"]),
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"Acme" not in response.content, url

    response = client.post(reverse("generation_cancel", args=[generation.pk]))
    assert response.status_code == 404
    # The answer for a missing image is the same as for a hidden one.
    assert client.get(reverse("media", args=[image.pk + 999, "original"])).status_code == 404


def test_the_404_page_leaks_nothing(client, designer):
    client.force_login(designer)
    response = client.get("/g/999999/")
    assert response.status_code == 404
    assert b"Nothing here" in response.content
    assert b"Traceback" not in response.content
    assert b"SECRET" not in response.content


# --- submitting ----------------------------------------------------------------------


def test_submitting_creates_one_card_per_variant(client, project, designer):
    client.force_login(designer)

    response = client.post(
        reverse("submission_create", args=[project.slug]), submit_data(), follow=True
    )

    assert response.status_code == 200
    submission = Submission.objects.get()
    assert (submission.aspect_ratio, submission.preview_size, submission.variants) == (
        "16:9",
        "1K",
        3,
    )
    ids = {int(pk) for pk in CARD.findall(response.content.decode())}
    assert ids == set(submission.generations.values_list("pk", flat=True))
    assert len(ids) == 3
    assert any("Queued 3 previews" in m for m in messages_of(response))


def test_submitting_with_htmx_returns_the_form_and_the_new_cards_out_of_band(
    client, project, designer
):
    client.force_login(designer)

    response = client.post(
        reverse("submission_create", args=[project.slug]),
        submit_data(variants=2),
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="submit-form"' in html
    assert 'hx-swap-oob="afterbegin:#cards"' in html
    generations = list(Submission.objects.get().generations.order_by("variant"))
    assert [int(pk) for pk in CARD.findall(html)] == [g.pk for g in generations]
    # The settings stay for the next prompt; the prompt itself is cleared.
    assert 'value="16:9" selected' in html
    assert "a lighthouse in fog" not in html.split('id="submit-form"')[1].split("</form>")[0]
    assert 'id="messages" class="messages" aria-live="polite" hx-swap-oob="true"' in html


@pytest.mark.parametrize("htmx", [False, True])
def test_an_invalid_submission_re_renders_the_form_with_messages_and_keeps_the_input(
    client, project, designer, htmx
):
    client.force_login(designer)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    empty = client.post(
        reverse("submission_create", args=[project.slug]),
        submit_data(prompt="   ", aspect_ratio="9:16"),
        **headers,
    )
    too_many = client.post(
        reverse("submission_create", args=[project.slug]),
        submit_data(prompt="keep my words", variants=5),
        **headers,
    )

    assert empty.status_code == too_many.status_code == (200 if htmx else 400)
    assert "Write a prompt." in empty.content.decode()
    assert 'value="9:16" selected' in empty.content.decode()
    assert "Ask for 1 to 4 variants." in too_many.content.decode()
    assert "keep my words" in too_many.content.decode()
    assert Submission.objects.count() == 0
    if htmx:
        assert "<html" not in empty.content.decode()


def test_reviewers_do_not_see_the_form_and_cannot_submit(client, project, reviewer):
    client.force_login(reviewer)

    page = client.get(reverse("project", args=[project.slug]))
    response = client.post(reverse("submission_create", args=[project.slug]), submit_data())

    assert page.status_code == 200
    assert b'id="submit-form"' not in page.content
    assert response.status_code == 403
    assert b"Not allowed" in response.content
    assert Submission.objects.count() == 0


def test_designers_see_the_form(client, project, designer):
    client.force_login(designer)
    page = client.get(reverse("project", args=[project.slug]))
    assert b'id="submit-form"' in page.content
    for ratio in ("1:1", "16:9", "9:16", "3:2", "2:3", "4:3", "3:4", "21:9"):
        assert f'value="{ratio}"'.encode() in page.content
    assert b'value="1K"' in page.content and b'value="2K"' in page.content
    # htmx 2 from our own static files (no CDN), and the CSRF token for its requests.
    assert b"/static/django_htmx/htmx-2.min.js" in page.content
    assert b"https://" not in page.content
    assert b'hx-headers=\'{"X-CSRFToken": "' in page.content


# --- the card ------------------------------------------------------------------------


def test_an_unsettled_card_asks_the_page_to_look_again_soon(client, project, designer):
    generation = generation_in(project, designer, State.PREVIEW_RENDERING)
    client.force_login(designer)

    response = client.get(reverse("generation_card", args=[generation.pk]), HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert "<html" not in html
    assert f'id="gen-{generation.pk}"' in html
    assert 'data-state="preview_rendering"' in html
    assert 'data-live-poll="2"' in html
    assert f'data-live-token="{selectors.card_token(generation)}"' in html
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize(
    "state", [State.REJECTED, State.DELIVERED, State.DELIVERED_FALLBACK, State.CANCELLED]
)
def test_a_finished_card_does_not_poll(client, project, designer, state):
    generation = generation_in(project, designer, state)
    client.force_login(designer)

    response = client.get(reverse("generation_card", args=[generation.pk]), HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert f'data-state="{state.value}"' in html
    assert 'data-live-poll=""' in html


@pytest.mark.parametrize("state", [State.IN_REVIEW, State.PREVIEW_FAILED, State.FINAL_FAILED])
def test_a_card_waiting_on_a_person_polls_slowly_so_another_persons_decision_shows_up(
    client, project, designer, state
):
    generation = generation_in(project, designer, state)
    client.force_login(designer)

    response = client.get(reverse("generation_card", args=[generation.pk]), HTTP_HX_REQUEST="true")

    assert 'data-live-poll="10"' in response.content.decode()


def test_a_card_shows_the_thumbnail_attempts_and_errors(client, project, designer):
    generation = in_review(project, designer)
    Generation.objects.filter(pk=generation.pk).update(
        waiting_reason="Retrying after overloaded", last_error="The model is overloaded."
    )
    client.force_login(designer)

    html = client.get(
        reverse("generation_card", args=[generation.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()

    image = generation.images.get()
    assert reverse("media", args=[image.pk, "thumbnail"]) in html
    assert "In review" in html
    assert "1 attempt" in html
    assert "variant 1/1" in html
    assert "Retrying after overloaded" in html
    assert "The model is overloaded." in html


def test_the_card_url_without_htmx_is_a_whole_page(client, project, designer):
    generation = generation_in(project, designer)
    client.force_login(designer)
    response = client.get(reverse("generation_card", args=[generation.pk]))
    assert b"<html" in response.content
    assert f'id="gen-{generation.pk}"'.encode() in response.content


# --- the generation page and its actions ---------------------------------------------


def test_the_generation_page_shows_images_timeline_and_attempts(
    client, project, designer, reviewer
):
    generation = delivered(project, designer, reviewer)
    client.force_login(designer)

    response = client.get(reverse("generation", args=[generation.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    preview, final = generation.images.order_by("created_at")
    assert reverse("media", args=[final.pk, "screen"]) in html
    assert reverse("media", args=[preview.pk, "screen"]) in html
    assert reverse("media", args=[final.pk, "original"]) + "?download=1" in html
    assert "Download 4K" in html
    assert "4096×4096" in html
    assert 'data-state="delivered"' in html
    assert "hx-trigger" not in html  # settled: the page does not poll
    for label in ("Preview queued", "Preview rendering", "In review", "Final queued", "Delivered"):
        assert label in html
    assert "rui" in html  # the reviewer who approved, in the timeline
    assert html.count('<td class="num">') >= 2 * 2  # two attempts rows (number + latency)
    assert "Succeeded" in html


def test_the_generation_page_shows_what_each_attempt_was_charged_and_the_total(
    client, project, designer, reviewer
):
    generation = delivered(project, designer, reviewer)
    preview_charge = generation.ledger.get(phase=Phase.PREVIEW)
    ledger_entry_insert(
        LedgerEntry(
            kind=LedgerEntry.Kind.REFUND,
            project=project,
            user=designer,
            generation=generation,
            corrects=preview_charge,
            amount_usd=-preview_charge.amount_usd,
            reason="provider credit",
            created_at=timezone.now(),
        )
    )
    client.force_login(designer)

    html = client.get(reverse("generation", args=[generation.pk])).content.decode()

    # Nano Banana Pro at list price: the preview refunded in full, the 4K final $0.24.
    assert '<td class="num nowrap" data-charged="1">$0.00<div class="muted small">corrected' in html
    assert '<td class="num nowrap" data-charged="2">$0.24</td>' in html
    assert 'data-total="charged">$0.24</td>' in html
    assert "local simulation at list price: no money moved" in html


def test_the_generation_page_polls_while_rendering_and_answers_with_the_live_part(
    client, project, designer
):
    generation = generation_in(project, designer, State.PREVIEW_QUEUED)
    client.force_login(designer)

    page = client.get(reverse("generation", args=[generation.pk]))
    live = client.get(
        reverse("generation", args=[generation.pk]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="live"
    )

    assert 'hx-trigger="every 2s"' in page.content.decode()
    assert live.status_code == 200
    assert live.content.decode().lstrip().startswith('<section id="live"')
    assert 'data-state="preview_queued"' in live.content.decode()


def test_an_upscaled_final_is_flagged(client, project, designer, reviewer):
    generation = delivered(project, designer, reviewer)
    Image.objects.filter(generation=generation, phase="final").update(
        native=False, note="4K failed: preview upscaled locally to 4096×4096 (upscaled, not native)"
    )
    client.force_login(reviewer)

    html = client.get(reverse("generation", args=[generation.pk])).content.decode()

    assert "Upscaled, not native." in html
    assert "preview upscaled locally" in html


def test_approving_queues_the_final_and_approving_twice_says_why_not(
    client, project, designer, reviewer
):
    generation = in_review(project, designer)
    client.force_login(reviewer)
    url = reverse("generation_approve", args=[generation.pk])

    first = client.post(url, {"note": "lovely"}, follow=True)
    second = client.post(url, follow=True)

    generation.refresh_from_db()
    assert generation.state == State.FINAL_QUEUED
    assert generation.transitions.last().reason == "lovely"
    assert any("Approved" in m for m in messages_of(first))
    assert first.redirect_chain[-1][0] == reverse("generation", args=[generation.pk])
    assert second.status_code == 200
    assert any("Final queued" in m for m in errors_of(second))
    assert generation.transitions.filter(to_state=State.FINAL_QUEUED).count() == 1


def test_approving_with_htmx_answers_with_the_live_part_and_the_message(
    client, project, designer, reviewer
):
    generation = in_review(project, designer)
    client.force_login(reviewer)

    response = client.post(
        reverse("generation_approve", args=[generation.pk]), HTTP_HX_REQUEST="true"
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="live"')
    assert 'data-state="final_queued"' in html
    assert 'hx-trigger="every 2s"' in html  # the final is on its way: keep following it
    assert "Approved: the 4K final is queued." in html


def test_designers_cannot_approve(client, project, designer):
    generation = in_review(project, designer)
    client.force_login(designer)

    page = client.get(reverse("generation", args=[generation.pk]))
    response = client.post(reverse("generation_approve", args=[generation.pk]), follow=True)

    assert reverse("generation_approve", args=[generation.pk]) not in page.content.decode()
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW
    assert any("may not approve" in m for m in errors_of(response))


def test_rejecting_needs_a_comment(client, project, designer, reviewer):
    generation = in_review(project, designer)
    client.force_login(reviewer)
    url = reverse("generation_reject", args=[generation.pk])

    empty = client.post(url, {"comment": "  "})
    htmx_empty = client.post(url, {"comment": ""}, HTTP_HX_REQUEST="true")
    done = client.post(url, {"comment": "too dark"}, follow=True)

    assert empty.status_code == 400
    assert "Say why you reject it" in empty.content.decode()
    assert htmx_empty.status_code == 200
    assert "Say why you reject it" in htmx_empty.content.decode()
    generation.refresh_from_db()
    assert generation.state == State.REJECTED
    assert generation.transitions.last().reason == "too dark"
    assert any("Rejected" in m for m in messages_of(done))


def test_cancelling_and_retrying(client, project, designer):
    queued = submit(project, designer).generations.get()
    failed = generation_in(project, designer, State.PREVIEW_FAILED)
    client.force_login(designer)

    client.post(reverse("generation_cancel", args=[queued.pk]))
    client.post(reverse("generation_retry", args=[failed.pk]))
    again = client.post(reverse("generation_cancel", args=[queued.pk]), follow=True)

    queued.refresh_from_db()
    failed.refresh_from_db()
    assert queued.state == State.CANCELLED
    assert failed.state == State.PREVIEW_QUEUED
    assert any("Cancelled" in m for m in errors_of(again))


def test_retrying_something_that_did_not_fail_is_a_message_not_an_error(client, project, designer):
    generation = generation_in(project, designer, State.IN_REVIEW)
    client.force_login(designer)

    response = client.post(reverse("generation_retry", args=[generation.pk]), follow=True)

    assert response.status_code == 200
    assert any("In review" in m for m in errors_of(response))


def test_the_buttons_follow_the_state_and_the_role(client, project, designer, reviewer):
    generation = in_review(project, designer)
    approve = reverse("generation_approve", args=[generation.pk])
    cancel = reverse("generation_cancel", args=[generation.pk])
    revise = reverse("generation_revise", args=[generation.pk])

    client.force_login(reviewer)
    as_reviewer = client.get(reverse("generation", args=[generation.pk])).content.decode()
    client.force_login(designer)
    as_designer = client.get(reverse("generation", args=[generation.pk])).content.decode()

    assert approve in as_reviewer and cancel not in as_reviewer and revise not in as_reviewer
    assert approve not in as_designer and cancel in as_designer and revise in as_designer


def test_revising_creates_a_linked_submission(client, project, designer):
    generation = in_review(project, designer)
    client.force_login(designer)

    response = client.post(
        reverse("generation_revise", args=[generation.pk]),
        {
            "prompt": "the kite, but at night",
            "aspect_ratio": "1:1",
            "preview_size": "1K",
            "variants": 2,
        },
    )
    empty = client.post(
        reverse("generation_revise", args=[generation.pk]),
        {"prompt": "", "aspect_ratio": "1:1", "preview_size": "1K", "variants": 1},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("project", args=[project.slug])
    revision = Submission.objects.get(parent=generation)
    assert revision.generations.count() == 2
    assert empty.status_code == 400
    assert "Write a prompt." in empty.content.decode()

    child = revision.generations.first()
    child_page = client.get(reverse("generation", args=[child.pk])).content.decode()
    parent_page = client.get(reverse("generation", args=[generation.pk])).content.decode()
    assert "Revision of" in child_page
    assert reverse("generation", args=[generation.pk]) in child_page
    assert reverse("generation", args=[child.pk]) in parent_page


# --- review list ---------------------------------------------------------------------


def test_the_review_list_shows_what_waits_for_me_oldest_first(
    client, project, designer, reviewer, outsider
):
    older = in_review(project, designer)
    newer = in_review(project, designer)
    generation_in(project, designer, State.PREVIEW_RENDERING)

    client.force_login(reviewer)
    html = client.get(reverse("review")).content.decode()
    assert [int(pk) for pk in CARD.findall(html)] == [older.pk, newer.pk]
    assert reverse("review_decide", args=[older.pk]) in html

    response = client.post(
        reverse("generation_approve", args=[older.pk]), {"next": reverse("review")}
    )
    assert response["Location"] == reverse("review")

    client.force_login(designer)
    assert CARD.findall(client.get(reverse("review")).content.decode()) == []
    client.force_login(outsider)
    assert CARD.findall(client.get(reverse("review")).content.decode()) == []


def test_an_offsite_next_is_ignored(client, project, designer, reviewer):
    generation = in_review(project, designer)
    client.force_login(reviewer)
    response = client.post(
        reverse("generation_approve", args=[generation.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("generation", args=[generation.pk])


# --- media ---------------------------------------------------------------------------


def test_the_media_view_serves_each_kind_with_private_caching(client, project, designer, reviewer):
    generation = delivered(project, designer, reviewer)
    final = generation.images.get(phase="final")
    client.force_login(reviewer)

    original = client.get(reverse("media", args=[final.pk, "original"]))
    download = client.get(reverse("media", args=[final.pk, "original"]) + "?download=1")
    screen = client.get(reverse("media", args=[final.pk, "screen"]))
    thumbnail = client.get(reverse("media", args=[final.pk, "thumbnail"]))

    assert original.status_code == 200
    assert original["Content-Type"] == final.mime_type
    assert original["Content-Disposition"].startswith("inline")
    assert download["Content-Disposition"] == (
        f'attachment; filename="acme-g{generation.pk}-final-4096x4096.png"'
    )
    assert b"".join(download.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    for response, kind in ((screen, "screen"), (thumbnail, "thumbnail")):
        assert response.status_code == 200
        assert response["Content-Type"] == "image/webp"
        assert b"".join(response.streaming_content)[8:12] == b"WEBP"
        assert response["ETag"] == f'"{final.sha256}-{kind}"'
    assert original["Cache-Control"] == "private, max-age=3600"
    assert original["ETag"] == f'"{final.sha256}-original"'

    again = client.get(
        reverse("media", args=[final.pk, "thumbnail"]),
        HTTP_IF_NONE_MATCH=f'"{final.sha256}-thumbnail"',
    )
    assert again.status_code == 304
    assert client.get(f"/media/{final.pk}/secret").status_code == 404


def test_the_media_view_hides_images_from_outsiders(client, project, designer, outsider):
    generation = in_review(project, designer)
    image = generation.images.get()
    client.force_login(outsider)

    response = client.get(reverse("media", args=[image.pk, "original"]))

    assert response.status_code == 404
    assert "ETag" not in response


def test_superusers_see_everything(client, project, designer):
    generation = in_review(project, designer)
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "x")
    client.force_login(boss)
    image = generation.images.get()
    assert client.get(reverse("media", args=[image.pk, "screen"])).status_code == 200
    assert client.get(reverse("generation", args=[generation.pk])).status_code == 200


# --- queries -------------------------------------------------------------------------


def _queries_for(client, url, django_assert_max_num_queries, limit: int) -> None:
    with django_assert_max_num_queries(limit):
        assert client.get(url).status_code == 200


def test_the_project_page_uses_a_constant_number_of_queries(
    client, project, designer, django_assert_max_num_queries
):
    client.force_login(designer)
    url = reverse("project", args=[project.slug])
    submit(project, designer, variants=1)
    in_review(project, designer)

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(6):
        in_review(project, designer)
        submit(project, designer, variants=4)

    _queries_for(client, url, django_assert_max_num_queries, len(few.captured_queries))


def test_the_generation_page_uses_a_constant_number_of_queries(
    client, project, designer, reviewer, django_assert_max_num_queries
):
    client.force_login(designer)
    generation = delivered(project, designer, reviewer)
    services.generation_revise(generation_id=generation.pk, user=designer, prompt="again")
    url = reverse("generation", args=[generation.pk])
    with CaptureQueriesContext(connection) as few:
        client.get(url)

    for _ in range(3):
        services.generation_revise(
            generation_id=generation.pk, user=designer, prompt="more", variants=3
        )
        in_review(project, designer)
    _queries_for(client, url, django_assert_max_num_queries, len(few.captured_queries))


def test_the_review_page_uses_a_constant_number_of_queries(
    client, project, designer, reviewer, django_assert_max_num_queries
):
    client.force_login(reviewer)
    in_review(project, designer)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("review"))
    for _ in range(5):
        in_review(project, designer)
    _queries_for(
        client, reverse("review"), django_assert_max_num_queries, len(few.captured_queries)
    )
