"""The review canvas (issue 17): one item of the review queue at a time, large, with the
variants of its prompt as a strip and the decision, price, pins and comment beside it.
Who may open and post what, what it shows, where a decision leads, and the filters."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generations.batches import services as batch_services
from generations.models import Budget, Comment, Generation, Role
from generations.states import State
from tests.support.factories import GenerationFactory, ProjectFactory, SubmissionFactory
from tests.support.review import in_review, member, waiting

pytestmark = pytest.mark.django_db

CANVAS = "/review/canvas/"
SHOWN = re.compile(r'<div id="review-canvas"[^>]*data-pk="(\d+)"')
STRIP = re.compile(r'data-strip-pk="(\d+)"')
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "review-canvas"}


def shown(response) -> int | None:
    found = SHOWN.search(response.content.decode())
    return int(found.group(1)) if found else None


def decide_url(generation: Generation) -> str:
    return reverse("review_canvas_decide", args=[generation.pk])


# --- access ------------------------------------------------------------------------------


def test_anonymous_people_are_sent_to_sign_in(client, project, designer):
    (generation,) = waiting(project, designer)
    for method, url in [
        ("get", CANVAS),
        ("post", decide_url(generation)),
        ("post", reverse("review_canvas_comment", args=[generation.pk])),
    ]:
        response = getattr(client, method)(url, {"decision": "approve", "body": "hi"})
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW


def test_another_projects_item_is_404_on_the_canvas_and_its_endpoints(
    client, project, designer, reviewer
):
    elsewhere = ProjectFactory(name="Elsewhere Co", slug="elsewhere")
    stranger = member(elsewhere, "sam", Role.DESIGNER)
    (theirs,) = waiting(elsewhere, stranger, prompt="their secret prompt")
    (ours,) = waiting(project, designer)
    client.force_login(reviewer)

    assert client.get(CANVAS, {"at": theirs.pk}).status_code == 404
    for url, data in [
        (decide_url(theirs), {"decision": "approve"}),
        (decide_url(theirs), {"decision": "reject", "comment": "no"}),
        (reverse("review_canvas_comment", args=[theirs.pk]), {"body": "hello"}),
    ]:
        response = client.post(url, data, **HTMX)
        assert response.status_code == 404, url
        assert b"their secret prompt" not in response.content
    theirs.refresh_from_db()
    assert theirs.state == State.IN_REVIEW and not theirs.transitions.exists()
    assert not Comment.objects.exists()

    # Their own canvas shows only what waits in our project.
    page = client.get(CANVAS)
    assert shown(page) == ours.pk
    assert "their secret prompt" not in page.content.decode()


def test_outsiders_and_designers_see_no_item_of_the_project(
    client, project, designer, reviewer, outsider
):
    (generation,) = waiting(project, designer, prompt="a lighthouse at dusk")
    for person in (outsider, designer):
        client.force_login(person)
        page = client.get(CANVAS)
        assert page.status_code == 200
        assert shown(page) is None
        assert "You review in no project." in page.content.decode()
        assert client.get(CANVAS, {"at": generation.pk}).status_code == 404
        assert client.post(decide_url(generation), {"decision": "approve"}).status_code in {
            302,
            404,
        }
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW


def test_a_designer_cannot_decide_from_the_canvas_endpoint(client, project, designer):
    (generation,) = waiting(project, designer)
    client.force_login(designer)
    response = client.post(decide_url(generation), {"decision": "approve", "next": CANVAS})
    assert response.status_code == 302
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW


# --- what it shows -------------------------------------------------------------------------


def test_the_canvas_shows_the_oldest_item_large_with_its_variants_price_and_place(
    client, project, designer, reviewer, price_list
):
    lighthouse = in_review(project, designer, variants=3, prompt="a lighthouse, oil painting")
    crane = in_review(project, designer, variants=1, prompt="a paper crane")
    client.force_login(reviewer)

    page = client.get(CANVAS)
    html = page.content.decode()
    assert shown(page) == lighthouse[0].pk
    assert STRIP.findall(html) == [str(g.pk) for g in lighthouse]
    assert (
        'id="canvas-stage"' in html and f'data-pin-image="{lighthouse[0].images.get().pk}"' in html
    )
    assert "/screen" in html  # the large picture is the screen rendition, not a thumbnail
    assert re.search(
        r"<strong>1</strong> of <span id=\"queue-count\" class=\"count\">4</span>", html
    )
    assert re.search(r'class="decide__price">\$0\.24<', html)
    assert "All my projects" in html
    assert "a lighthouse, oil painting" in html and "a paper crane" not in html
    # J goes to the next item waiting; the last one has no next.
    assert "data-canvas-next" in html and f"at={lighthouse[1].pk}" in html
    last = client.get(CANVAS, {"at": crane[0].pk}).content.decode()
    assert "data-canvas-next" not in last and "data-canvas-previous" in last
    assert re.search(r"<strong>4</strong> of", last)


def test_approve_is_disabled_with_the_reason_when_the_budget_cannot_pay(
    client, project, designer, reviewer, project_admin, price_list
):
    (generation,) = waiting(project, designer)
    Budget.objects.create(project=project, amount_usd=Decimal("0.10"))
    client.force_login(reviewer)

    html = client.get(CANVAS).content.decode()
    button = re.search(r'<button type="submit" name="decision" value="approve"[^>]*>', html)
    assert button and " disabled" in button.group(0)
    assert 'aria-describedby="approve-blocked"' in button.group(0)
    blocked = re.search(r'<p id="approve-blocked"[^>]*>(.*?)</p>', html, re.S)
    assert blocked
    reason = " ".join(blocked.group(1).split())
    assert "Not enough budget to approve: approving costs $0.24" in reason
    assert "Acme Launch’s monthly budget has $0.10 left" in reason
    assert "Ask ada to raise it" in reason

    # A budget with nothing left says so, not "−$0.00 left".
    Budget.objects.filter(project=project).update(amount_usd=Decimal("0.00"))
    html = client.get(CANVAS).content.decode()
    assert "monthly budget is used up ($0.00 of $0.00)" in " ".join(html.split())

    # With room in the budget, approve is live again.
    Budget.objects.filter(project=project).update(amount_usd=Decimal("5.00"))
    html = client.get(CANVAS).content.decode()
    button = re.search(r'<button type="submit" name="decision" value="approve"[^>]*>', html)
    assert button and " disabled" not in button.group(0)
    assert "approve-blocked" not in html
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW


# --- decisions -----------------------------------------------------------------------------


def test_approving_with_htmx_shows_the_next_item_waiting(
    client, project, designer, reviewer, price_list
):
    first, second = waiting(project, designer, variants=2, minutes_ago=5)
    (third,) = waiting(project, designer, prompt="a paper crane")
    client.force_login(reviewer)

    response = client.post(
        decide_url(first), {"decision": "approve", "next": f"{CANVAS}?at={first.pk}"}, **HTMX
    )
    assert response.status_code == 200
    assert shown(response) == second.pk
    assert response["HX-Push-Url"] == f"{CANVAS}?at={second.pk}"
    html = response.content.decode()
    assert f"Approved #{first.pk}: the final is queued." in html
    assert '<span id="queue-count" class="count">2</span>' in html
    first.refresh_from_db()
    assert first.state == State.FINAL_QUEUED

    # Rejecting needs a reason: without one the item stays, with the error and its mode.
    response = client.post(decide_url(second), {"decision": "reject", "comment": " "}, **HTMX)
    assert shown(response) == second.pk
    assert 'data-mode="reject"' in response.content.decode()
    assert "Say why you reject it" in response.content.decode()
    response = client.post(
        decide_url(second), {"decision": "reject", "comment": "too dark"}, **HTMX
    )
    assert shown(response) == third.pk

    # The last one decided: all caught up.
    response = client.post(decide_url(third), {"decision": "changes", "comment": "warmer"}, **HTMX)
    assert shown(response) is None
    assert "All caught up." in response.content.decode()
    assert response["HX-Push-Url"] == CANVAS
    states = Generation.objects.in_bulk([second.pk, third.pk])
    assert states[second.pk].state == State.REJECTED
    assert states[third.pk].state == State.CHANGES_REQUESTED


def test_without_javascript_a_decision_redirects_to_the_next_item(
    client, project, designer, reviewer, price_list
):
    first, second = waiting(project, designer, variants=2)
    client.force_login(reviewer)

    response = client.post(decide_url(first), {"decision": "approve", "next": CANVAS})
    assert response.status_code == 302
    assert response["Location"] == f"{CANVAS}?after={first.pk}"
    assert shown(client.get(response["Location"])) == second.pk

    response = client.post(decide_url(second), {"decision": "reject", "next": CANVAS})
    assert response["Location"] == f"{CANVAS}?at={second.pk}"
    page = client.get(response["Location"])
    assert shown(page) == second.pk
    assert "Say why you reject it" in page.content.decode()


def test_the_decided_item_says_who_decided_it(client, project, designer, reviewer, price_list):
    (generation,) = waiting(project, designer)
    client.force_login(reviewer)
    client.post(decide_url(generation), {"decision": "reject", "comment": "too dark"})
    html = client.get(CANVAS, {"at": generation.pk}).content.decode()
    assert 'id="canvas-decide"' not in html  # no decision form for a decided item
    assert "rejected it" in html and "too dark" in html


def test_approve_selected_comes_back_to_the_canvas(client, project, designer, reviewer, price_list):
    first, second = waiting(project, designer, variants=2)
    client.force_login(reviewer)
    response = client.post(
        reverse("review_approve_selected"),
        {"ids": [first.pk, second.pk], "next": f"{CANVAS}?after={second.pk}"},
    )
    assert response["Location"] == f"{CANVAS}?after={second.pk}"
    page = client.get(response["Location"])
    assert "All caught up." in page.content.decode()
    assert "Approved 2 generations" in page.content.decode()


def test_a_comment_from_the_canvas_is_pinned_to_the_picture_and_keeps_the_item(
    client, project, designer, reviewer, price_list
):
    (generation,) = in_review(project, designer)
    image = generation.images.get()
    client.force_login(reviewer)

    response = client.post(
        reverse("review_canvas_comment", args=[generation.pk]),
        {"body": "this dune looks flat", "image": image.pk, "x": "0.25", "y": "0.6"},
        **HTMX,
    )
    assert shown(response) == generation.pk
    html = response.content.decode()
    assert 'class="pin" style="left: 25.000%; top: 60.000%"' in html
    assert "this dune looks flat" in html
    comment = Comment.objects.get()
    assert (comment.author, comment.image_id) == (reviewer, image.pk)
    generation.refresh_from_db()
    assert generation.state == State.IN_REVIEW

    response = client.post(
        reverse("review_canvas_comment", args=[generation.pk]), {"body": "  "}, **HTMX
    )
    assert 'class="comment-form canvas__comment has-error"' in response.content.decode()
    assert Comment.objects.count() == 1


# --- filters -------------------------------------------------------------------------------


def test_the_batch_filter_walks_the_batch_in_row_order(
    client, project, designer, reviewer, price_list, monkeypatch
):
    monkeypatch.setattr("generations.dispatch.kick_batch", lambda batch_id: None)
    monkeypatch.setattr("generations.dispatch.kick", lambda pk: None)
    (older,) = waiting(project, designer, prompt="not in the batch", minutes_ago=60)
    batch = batch_services.batch_plan_csv(
        project=project,
        user=designer,
        filename="a.csv",
        data=(
            b"prompt,aspect_ratio,variants,model,preview_size\n"
            b"row one,1:1,2,nano-banana-pro,1K\nrow two,1:1,1,nano-banana-pro,1K\n"
        ),
    )
    batch_services.batch_queue(batch_id=batch.pk, user=designer)
    ours = list(Generation.objects.filter(submission__batch=batch).order_by("pk"))
    Generation.objects.filter(pk__in=[g.pk for g in ours]).update(state=State.IN_REVIEW)
    client.force_login(reviewer)

    assert shown(client.get(CANVAS)) == older.pk
    page = client.get(CANVAS, {"batch": batch.pk})
    html = page.content.decode()
    assert shown(page) == ours[0].pk
    assert f'Batch <a href="/batches/{batch.pk}/">#{batch.pk}' in html
    assert '<span id="queue-count" class="count">3</span>' in html
    # Deciding walks on in row order, staying in the batch.
    seen = [ours[0].pk]
    for generation in ours:
        response = client.post(
            decide_url(generation),
            {"decision": "approve", "next": f"{CANVAS}?batch={batch.pk}&at={generation.pk}"},
            **HTMX,
        )
        nxt = shown(response)
        if nxt is not None:
            seen.append(nxt)
            assert response["HX-Push-Url"] == f"{CANVAS}?batch={batch.pk}&at={nxt}"
    assert seen == [g.pk for g in ours]
    assert "All caught up." in response.content.decode()
    older.refresh_from_db()
    assert older.state == State.IN_REVIEW


def test_the_designer_and_project_filters_narrow_the_canvas(
    client, project, designer, reviewer, price_list
):
    other_designer = member(project, "dora", Role.DESIGNER)
    (danas,) = waiting(project, designer, minutes_ago=10)
    (doras,) = waiting(project, other_designer)
    client.force_login(reviewer)

    assert shown(client.get(CANVAS)) == danas.pk
    page = client.get(CANVAS, {"designer": "dora"}, **HTMX)
    assert shown(page) == doras.pk
    assert "data-canvas-previous" not in page.content.decode()
    assert shown(client.get(CANVAS, {"project": "acme", "designer": "dana"})) == danas.pk
    assert shown(client.get(CANVAS, {"project": "nope"})) == danas.pk  # a bad filter: ignored


def test_a_preview_waiting_for_its_screen_image_looks_again(client, project, designer, reviewer):
    submission = SubmissionFactory(project=project, created_by=designer)
    generation = GenerationFactory(submission=submission, state=State.IN_REVIEW)
    client.force_login(reviewer)
    html = client.get(CANVAS).content.decode()
    assert shown(client.get(CANVAS)) == generation.pk
    assert "No picture yet" in html
    stage = client.get(
        CANVAS, {"at": generation.pk}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="canvas-stage"
    )
    assert stage.content.decode().lstrip().startswith('<div id="canvas-stage"')


def test_the_canvas_costs_the_same_queries_whatever_the_queue_and_the_strip_hold(
    client, project, designer, reviewer, price_list
):
    (one,) = in_review(project, designer, prompt="alone")
    client.force_login(reviewer)
    with CaptureQueriesContext(connection) as few:
        assert shown(client.get(CANVAS, {"at": one.pk})) == one.pk
    many = in_review(project, designer, variants=4, prompt="four of them")
    for n in range(3):
        waiting(project, member(project, f"d{n}", Role.DESIGNER), variants=2)
    Budget.objects.create(project=project, amount_usd=Decimal("50.00"))
    with CaptureQueriesContext(connection) as more:
        page = client.get(CANVAS, {"at": many[1].pk})
    assert shown(page) == many[1].pk
    assert len(STRIP.findall(page.content.decode())) == 4
    # The budget adds its own standing (budget rows and the ledger), nothing per item.
    # (20 and 22 today: one item per variant more would be 4 more.)
    assert len(more.captured_queries) <= len(few.captured_queries) + 3
