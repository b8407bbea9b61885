"""The review workflow's pages and htmx endpoints: who may open and post what (every page,
endpoint and image), what they answer, and how many queries they cost."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generations import services
from generations.models import (
    Comment,
    Generation,
    Membership,
    Notification,
    Project,
    Role,
    Submission,
)
from generations.review import conversation
from generations.review.decisions import (
    generation_approve,
    generation_reject,
    generation_request_changes,
)
from generations.selectors import GalleryFilters, gallery_page
from generations.states import State
from tests.support.factories import ProjectFactory
from tests.support.review import in_review, member, submit, waiting

pytestmark = pytest.mark.django_db

ITEM = re.compile(r'<div id="review-(\d+)" class="review-item')
CARD = re.compile(r'<article id="gen-(\d+)"')
HTMX = {"HTTP_HX_REQUEST": "true"}


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- access: every page and endpoint ------------------------------------------------------


def urls_of(project: Project, generation: Generation, notification_id: int):
    """(method, url) of every page and endpoint this issue adds."""
    return [
        ("get", reverse("review")),
        ("get", reverse("gallery")),
        ("get", reverse("notifications")),
        ("get", reverse("notification_badge")),
        ("get", reverse("project_settings", args=[project.slug])),
        ("get", reverse("project_members", args=[project.slug])),
        ("post", reverse("project_settings", args=[project.slug])),
        ("post", reverse("project_members", args=[project.slug])),
        ("post", reverse("review_decide", args=[generation.pk])),
        ("post", reverse("review_approve_selected")),
        ("post", reverse("generation_request_changes", args=[generation.pk])),
        ("post", reverse("comment_create", args=[generation.pk])),
        ("post", reverse("notification_read_all")),
        ("post", reverse("notification_open", args=[notification_id])),
    ]


def test_anonymous_people_are_sent_to_sign_in_from_every_page_and_endpoint(
    client, project, designer, reviewer
):
    (generation,) = waiting(project, designer)
    generation_reject(generation_id=generation.pk, user=reviewer, comment="no")
    note = Notification.objects.get()
    for method, url in urls_of(project, generation, note.pk):
        response = getattr(client, method)(url, {"decision": "approve", "ids": [generation.pk]})
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    assert Notification.objects.get().read_at is None


def test_outsiders_get_404_for_the_project_its_generations_and_others_notifications(
    client, project, designer, reviewer, outsider
):
    (generation,) = waiting(project, designer)
    generation_reject(generation_id=generation.pk, user=reviewer, comment="no")
    note = Notification.objects.get()
    client.force_login(outsider)

    for method, url in urls_of(project, generation, note.pk):
        if url in {
            reverse("review"),
            reverse("gallery"),
            reverse("notifications"),
            reverse("notification_badge"),
            reverse("review_approve_selected"),
            reverse("notification_read_all"),
        }:
            continue  # their own pages: tested below to show nothing of the project
        response = getattr(client, method)(url, {"decision": "approve", "body": "hi"})
        assert response.status_code == 404, url
        assert b"Acme" not in response.content, url

    assert ITEM.findall(client.get(reverse("review")).content.decode()) == []
    assert CARD.findall(client.get(reverse("gallery")).content.decode()) == []
    client.post(reverse("review_approve_selected"), {"ids": [generation.pk]})
    client.post(reverse("notification_read_all"))
    generation.refresh_from_db()
    assert generation.state == State.REJECTED and generation.transitions.count() == 1
    assert Notification.objects.get().read_at is None, "not theirs to mark read"
    assert not Comment.objects.exists()


@pytest.mark.parametrize("role", ["designer", "reviewer"])
def test_only_project_admins_open_settings_and_members(client, project, role, request):
    client.force_login(request.getfixturevalue(role))
    for name in ("project_settings", "project_members"):
        url = reverse(name, args=[project.slug])
        assert client.get(url).status_code == 403
        assert client.post(url, {"username": "dana", "roles": ["admin"]}).status_code == 403
    assert not Membership.objects.filter(role=Role.ADMIN).exists()


def test_designers_cannot_decide_from_the_queue_endpoint(client, project, designer):
    (generation,) = waiting(project, designer)
    client.force_login(designer)

    response = client.post(
        reverse("review_decide", args=[generation.pk]),
        {"decision": "approve", "next": reverse("review")},
        follow=True,
    )

    assert any("may not approve" in m for m in messages_of(response))
    assert Generation.objects.get(pk=generation.pk).state == State.IN_REVIEW


def test_images_follow_membership(client, project, designer, reviewer):
    (generation,) = in_review(project, designer)
    image = generation.images.get()
    url = reverse("media", args=[image.pk, "screen"])
    client.force_login(reviewer)
    assert client.get(url).status_code == 200

    Membership.objects.filter(user=reviewer).delete()
    assert client.get(url).status_code == 404


# --- the review queue ------------------------------------------------------------------------


def test_the_queue_groups_by_prompt_and_shows_the_price_of_approving(
    client, project, designer, reviewer
):
    first = waiting(project, designer, variants=2, prompt="a harbour at dawn", minutes_ago=5)
    second = waiting(
        project, designer, variants=1, prompt="a forest in fog", model_key="nano-banana-2"
    )
    client.force_login(reviewer)

    html = client.get(reverse("review")).content.decode()

    assert [int(pk) for pk in ITEM.findall(html)] == [g.pk for g in first + second]
    assert html.count('class="queue-group"') == 2
    assert html.index("a harbour at dawn") < html.index("a forest in fog")
    assert "$0.24" in html and "all 2: $0.48" in html  # Nano Banana Pro 4K
    assert "$0.15" in html  # Nano Banana 2 4K
    assert '<span id="queue-count" class="count">3</span>' in html
    for key in ("J", "K", "A", "R", "C", "X", "⇧A", "Z", "?"):
        assert f"<kbd>{key}</kbd>" in html
    assert 'id="review-keys"' in html and 'id="review-zoom"' in html


def test_the_queue_filters_by_project_and_designer_with_htmx(client, project, designer, reviewer):
    dee = member(project, "dee", Role.DESIGNER)
    second = ProjectFactory(name="Second", slug="second")
    Membership.objects.create(project=second, user=reviewer, role=Role.REVIEWER)
    mine = waiting(project, designer)
    hers = waiting(project, dee)
    there = waiting(second, member(second, "sam", Role.DESIGNER))
    client.force_login(reviewer)

    def shown(params, **headers) -> list[int]:
        return [
            int(pk)
            for pk in ITEM.findall(
                client.get(reverse("review"), params, **headers).content.decode()
            )
        ]

    assert shown({}) == [g.pk for g in mine + hers + there]
    assert shown({"project": "second"}) == [there[0].pk]
    assert shown({"designer": "dee"}) == [hers[0].pk]
    partial = client.get(
        reverse("review"), {"designer": "dana"}, HTTP_HX_TARGET="review-queue", **HTMX
    )
    assert partial.content.decode().lstrip().startswith('<div id="review-queue"')
    assert "HX-Request" in partial["Vary"]
    # A project I do not review is not a filter I can use: the choice is refused.
    refused = client.get(reverse("review"), {"project": "elsewhere"})
    assert "Select a valid choice" in refused.content.decode()


def test_the_queue_pages_forward_without_splitting_a_prompt(
    client, project, designer, reviewer, monkeypatch
):
    monkeypatch.setattr("generations.review.selectors.REVIEW_PER_PAGE", 3)
    groups = [waiting(project, designer, variants=2, minutes_ago=10 - i) for i in range(3)]
    client.force_login(reviewer)

    first = client.get(reverse("review")).content.decode()
    assert [int(pk) for pk in ITEM.findall(first)] == [g.pk for g in groups[0] + groups[1]]
    after = re.search(r'href="\?after=([\d.]+)"', first).group(1)
    second = client.get(reverse("review"), {"after": after}).content.decode()
    assert [int(pk) for pk in ITEM.findall(second)] == [g.pk for g in groups[2]]
    assert "back to the oldest" in second


def test_approving_from_the_queue_with_htmx_answers_the_decided_item_and_the_count(
    client, project, designer, reviewer
):
    first, second = waiting(project, designer, variants=2)
    client.force_login(reviewer)

    response = client.post(
        reverse("review_decide", args=[first.pk]),
        {"decision": "approve", "comment": "", "next": reverse("review")},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<div id="review-{first.pk}" class="review-item is-decided"')
    assert 'data-decided="1"' in html
    assert "You</strong>" in html and "approved it" in html
    assert '<span id="queue-count" class="count" hx-swap-oob="true">1</span>' in html
    assert f"Approved #{first.pk}: the final is queued." in html
    assert Generation.objects.get(pk=first.pk).state == State.FINAL_QUEUED


@pytest.mark.parametrize(
    ("decision", "state"), [("reject", State.REJECTED), ("changes", State.CHANGES_REQUESTED)]
)
def test_rejecting_or_asking_for_changes_needs_a_comment_and_keeps_the_item_open(
    client, project, designer, reviewer, decision, state
):
    (generation,) = waiting(project, designer)
    client.force_login(reviewer)
    url = reverse("review_decide", args=[generation.pk])

    empty = client.post(url, {"decision": decision, "comment": "  "}, **HTMX).content.decode()
    assert 'data-decided="0"' in empty
    assert "has-error" in empty and f'data-mode="{decision}"' in empty
    assert Generation.objects.get(pk=generation.pk).state == State.IN_REVIEW

    done = client.post(url, {"decision": decision, "comment": "the sky is flat"}, **HTMX)
    assert 'data-decided="1"' in done.content.decode()
    generation.refresh_from_db()
    assert generation.state == state
    assert generation.transitions.get().reason == "the sky is flat"


def test_a_decision_someone_else_made_first_is_explained(client, project, designer, reviewer):
    (generation,) = waiting(project, designer)
    vera = member(project, "vera", Role.REVIEWER)
    generation_reject(generation_id=generation.pk, user=vera, comment="no")
    client.force_login(reviewer)

    html = client.post(
        reverse("review_decide", args=[generation.pk]), {"decision": "approve"}, **HTMX
    ).content.decode()

    assert "vera rejected it at" in html
    assert "vera</strong>" in html and 'data-decided="1"' in html


def test_without_javascript_a_decision_redirects_back_to_the_queue_with_its_filters(
    client, project, designer, reviewer
):
    (generation,) = waiting(project, designer)
    client.force_login(reviewer)
    back = reverse("review") + "?designer=dana"

    response = client.post(
        reverse("review_decide", args=[generation.pk]),
        {"decision": "reject", "comment": "", "next": back},
    )
    assert response["Location"] == back
    response = client.post(
        reverse("review_decide", args=[generation.pk]),
        {"decision": "reject", "comment": "meh", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("review")


def test_approving_the_selection(client, project, designer, reviewer, outsider):
    first, second, third = waiting(project, designer, variants=3)
    hidden = waiting(outsider.memberships.get().project, outsider)[0]
    client.force_login(reviewer)

    response = client.post(
        reverse("review_approve_selected"),
        {"ids": [first.pk, third.pk, hidden.pk], "next": reverse("review")},
        **HTMX,
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<form id="bulk-form"')
    assert f'<div id="review-{first.pk}" class="review-item is-decided"' in html
    assert 'hx-swap-oob="true"' in html
    assert f"Approved 2 generations: #{first.pk}, #{third.pk}." in html
    assert f"No such generation #{hidden.pk}." in html
    states = dict(Generation.objects.values_list("pk", "state"))
    assert (states[first.pk], states[second.pk], states[third.pk], states[hidden.pk]) == (
        State.FINAL_QUEUED,
        State.IN_REVIEW,
        State.FINAL_QUEUED,
        State.IN_REVIEW,
    )


def test_the_zoom_shows_the_screen_image_with_its_pins(client, project, designer, reviewer):
    (generation,) = in_review(project, designer)
    image = generation.images.get()
    conversation.comment_create(
        generation_id=generation.pk, user=designer, body="look", image_id=image.pk, x=0.5, y=0.25
    )
    client.force_login(reviewer)

    html = client.get(reverse("review")).content.decode()

    zoom = html.split("<template data-zoom>")[1].split("</template>")[0]
    assert reverse("media", args=[image.pk, "screen"]) in zoom
    assert 'style="left: 50.000%; top: 25.000%"' in zoom and ">1</span>" in zoom
    assert "1 pinned comment" in html


# --- the generation page: request changes, comments, pins, history ---------------------


def test_a_reviewer_requests_changes_from_the_generation_page(client, project, designer, reviewer):
    (generation,) = in_review(project, designer)
    client.force_login(reviewer)
    url = reverse("generation_request_changes", args=[generation.pk])
    page = client.get(reverse("generation", args=[generation.pk])).content.decode()
    assert url in page and "costs $0.24" in page

    empty = client.post(url, {"changes-comment": ""}, **HTMX)
    assert "Say what should change" in empty.content.decode()
    done = client.post(url, {"changes-comment": "warmer light"}, **HTMX).content.decode()
    assert 'data-state="changes_requested"' in done
    assert "asked for changes" in done and "warmer light" in done

    client.force_login(designer)
    mine = client.get(reverse("generation", args=[generation.pk])).content.decode()
    assert '<details id="revise" class="panel revise" open>' in mine


def test_comments_and_pins_appear_in_the_timeline_and_on_the_image(
    client, project, designer, reviewer
):
    (generation,) = in_review(project, designer)
    image = generation.images.get()
    client.force_login(reviewer)
    url = reverse("comment_create", args=[generation.pk])

    plain = client.post(url, {"body": "nice colours"}, **HTMX).content.decode()
    pinned = client.post(
        url, {"body": "this edge", "image": image.pk, "x": "0.1", "y": "0.9"}, **HTMX
    ).content.decode()
    invalid = client.post(url, {"body": "", "image": image.pk, "x": "7", "y": "0.5"}, **HTMX)

    assert plain.lstrip().startswith('<form id="comment-form"')
    assert '<section id="live"' in plain and 'hx-swap-oob="true"' in plain
    assert "nice colours" in plain
    assert 'style="left: 10.000%; top: 90.000%"' in pinned
    assert "Pinned comment" in pinned and "this edge" in pinned
    assert "Ensure this value is less than or equal to 1" in invalid.content.decode()
    assert Comment.objects.count() == 2

    page = client.get(reverse("generation", args=[generation.pk])).content.decode()
    assert f'data-pin-image="{image.pk}"' in page
    first, second = Comment.objects.order_by("pk")
    assert page.index(f'id="comment-{first.pk}"') < page.index(f'id="comment-{second.pk}"')
    without_js = client.post(url, {"body": "third"})
    assert without_js["Location"] == reverse("generation", args=[generation.pk]) + "#timeline"


def test_the_history_shows_the_chain_of_revisions(client, project, designer, reviewer):
    (first,) = waiting(project, designer, prompt="a kite")
    generation_request_changes(generation_id=first.pk, user=reviewer, comment="bigger")
    child = services.generation_revise(
        generation_id=first.pk, user=designer, prompt="a big kite"
    ).generations.get()
    client.force_login(designer)

    html = client.get(reverse("generation", args=[child.pk])).content.decode()

    assert "History" in html
    assert "Changes requested by rui: “bigger”" in html
    assert reverse("generation", args=[first.pk]) in html


# --- the gallery ----------------------------------------------------------------------------


def test_the_gallery_shows_what_i_may_see_with_filters_and_search(
    client, project, designer, reviewer, outsider
):
    kite = waiting(project, designer, prompt="a red kite")
    boat = waiting(project, designer, prompt="a boat", state=State.DELIVERED)
    waiting(outsider.memberships.get().project, outsider, prompt="a secret kite")
    client.force_login(reviewer)

    def shown(params, **headers) -> list[int]:
        return [
            int(pk)
            for pk in CARD.findall(
                client.get(reverse("gallery"), params, **headers).content.decode()
            )
        ]

    assert shown({}) == [boat[0].pk, kite[0].pk]
    assert shown({"q": "kite"}) == [kite[0].pk]
    assert shown({"state": "delivered"}) == [boat[0].pk]
    assert shown({"designer": "dana", "project": "acme", "model": "nano-banana-pro"}) == [
        boat[0].pk,
        kite[0].pk,
    ]
    partial = client.get(
        reverse("gallery"), {"q": "boat"}, HTTP_HX_TARGET="gallery-results", **HTMX
    )
    assert partial.content.decode().lstrip().startswith('<section id="gallery-results"')
    html = client.get(reverse("gallery")).content.decode()
    assert "dana" in html and "In review" in html and "Nano Banana Pro" in html


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigram index exists on PostgreSQL only"
)
def test_prompt_search_can_find_a_word_through_the_trigram_index(project, designer, reviewer):
    """The index is on the expression Django's icontains compares; if either drifts, the
    search falls back to reading every prompt and this plan loses the index."""
    kite = waiting(project, designer, prompt="a red kite over the zeppelin hangar")
    waiting(project, designer, prompt="a boat")
    page = gallery_page(user=reviewer, filters=GalleryFilters(q="ZEPPELIN"))
    assert [g.pk for g in page.items] == [kite[0].pk]
    # The gallery's own WHERE on prompts, asked of the submissions table alone (at a few
    # rows the planner would rather walk the other joins' indexes).
    search = Submission.objects.filter(prompt__icontains="zeppelin").values("pk").query
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = search.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "submission_prompt_trgm_idx" in plan, plan


def test_the_gallery_pages_through_everything_with_links(client, project, designer):
    made = [g.pk for _ in range(30) for g in waiting(project, designer)]
    client.force_login(designer)

    seen, url = [], reverse("gallery")
    while url:
        html = client.get(url).content.decode()
        seen += [int(pk) for pk in CARD.findall(html)]
        older = re.search(r'href="(\?[^"]*after=[^"]+)" rel="next"', html)
        url = reverse("gallery") + older.group(1).replace("&amp;", "&") if older else None
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    assert "← Newer" in html


# --- notifications ---------------------------------------------------------------------------


def test_the_header_counts_unread_notifications_and_opening_one_marks_it_read(
    client, project, designer, reviewer
):
    first, second = waiting(project, designer, variants=2)
    generation_approve(generation_id=first.pk, user=reviewer)
    generation_reject(generation_id=second.pk, user=reviewer, comment="too dark")
    client.force_login(designer)

    page = client.get(reverse("gallery")).content.decode()
    assert '<span class="bell__count">2</span>' in page
    listing = client.get(reverse("notifications")).content.decode()
    assert f"rui rejected #{second.pk}: too dark" in listing
    assert listing.count("is-unread") == 2

    note = Notification.objects.get(kind=Notification.Kind.REJECTED)
    opened = client.post(reverse("notification_open", args=[note.pk]))
    assert opened["Location"] == reverse("generation", args=[second.pk])
    badge = client.get(reverse("notification_badge")).content.decode()
    assert '<span class="bell__count">1</span>' in badge and "hx-trigger" not in badge

    read_all = client.post(reverse("notification_read_all"), **HTMX).content.decode()
    assert read_all.lstrip().startswith('<ul id="notification-list"')
    assert 'id="bell"' in read_all and 'hx-swap-oob="true"' in read_all
    assert "is-unread" not in read_all
    assert not Notification.objects.filter(read_at__isnull=True).exists()


# --- project settings and members --------------------------------------------------------------


def test_an_admin_edits_the_project_settings_in_the_site(client, project, project_admin):
    client.force_login(project_admin)
    url = reverse("project_settings", args=[project.slug])
    page = client.get(url).content.decode()
    assert 'name="review_required"' in page and 'name="four_eyes"' in page
    assert 'name="allowed_models"' in page and 'name="fallback_policy"' in page

    saved = client.post(
        url,
        {
            "four_eyes": "on",
            "allowed_models": ["nano-banana-pro", "local"],
            "default_model_key": "local",
            "default_preview_size": "1K",
            "final_size": "4K",
            "fallback_policy": "deliver_preview",
        },
        follow=True,
    )
    project.refresh_from_db()
    assert (project.review_required, project.four_eyes) == (False, True)
    assert project.allowed_models == ["nano-banana-pro", "local"]
    assert (project.default_model_key, project.fallback_policy) == ("local", "deliver_preview")
    assert any("Saved the settings" in m for m in messages_of(saved))

    bad = client.post(
        url,
        {
            "allowed_models": ["local"],
            "default_model_key": "nano-banana-2",
            "final_size": "4K",
            "fallback_policy": "fail",
        },
    )
    assert bad.status_code == 400
    assert "must be one of the allowed models" in bad.content.decode()

    studio = client.get(reverse("project", args=[project.slug])).content.decode()
    assert reverse("project_settings", args=[project.slug]) in studio


def test_an_admin_manages_members_in_the_site(client, project, project_admin, designer):
    member(ProjectFactory(slug="x"), "newbie")
    client.force_login(project_admin)
    url = reverse("project_members", args=[project.slug])
    assert "dana" in client.get(url).content.decode()

    client.post(url, {"add-username": "newbie", "add-roles": ["reviewer"]})
    client.post(url, {"username": "dana", "roles": ["designer", "reviewer"]})
    unknown = client.post(url, {"add-username": "ghost", "add-roles": ["designer"]})
    last = client.post(url, {"username": "ada", "roles": []}, follow=True)

    roles = set(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {
        ("ada", "admin"),
        ("dana", "designer"),
        ("dana", "reviewer"),
        ("newbie", "reviewer"),
    }
    assert unknown.status_code == 400 and "No user named" in unknown.content.decode()
    assert any("needs an admin" in m for m in messages_of(last))


def test_an_admin_who_steps_down_lands_where_they_still_may_be(client, project, project_admin):
    member(project, "boss", Role.ADMIN)
    Membership.objects.create(project=project, user=project_admin, role=Role.DESIGNER)
    client.force_login(project_admin)

    response = client.post(
        reverse("project_members", args=[project.slug]), {"username": "ada", "roles": ["designer"]}
    )

    assert response["Location"] == reverse("project", args=[project.slug])


# --- queries ------------------------------------------------------------------------------------


def _max_queries(client, url, django_assert_max_num_queries, limit: int) -> None:
    with django_assert_max_num_queries(limit):
        assert client.get(url).status_code == 200


def test_the_review_queue_uses_a_constant_number_of_queries(
    client, project, designer, reviewer, django_assert_max_num_queries
):
    client.force_login(reviewer)
    (one,) = in_review(project, designer)
    conversation.comment_create(
        generation_id=one.pk, user=reviewer, body="x", image_id=one.images.get().pk, x=0, y=0
    )
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("review"))
    for i in range(4):
        generations = in_review(project, member(project, f"d{i}", Role.DESIGNER), variants=2)
        conversation.comment_create(
            generation_id=generations[0].pk,
            user=reviewer,
            body="y",
            image_id=generations[0].images.get().pk,
            x=0.5,
            y=0.5,
        )
    second = ProjectFactory(slug="second")
    Membership.objects.create(project=second, user=reviewer, role=Role.REVIEWER)
    waiting(second, member(second, "sam", Role.DESIGNER), variants=3)

    _max_queries(
        client, reverse("review"), django_assert_max_num_queries, len(few.captured_queries)
    )


def test_the_gallery_costs_the_same_queries_on_any_page(
    client, project, designer, django_assert_max_num_queries
):
    client.force_login(designer)
    for _ in range(30):
        waiting(project, designer, variants=2)
    with CaptureQueriesContext(connection) as first_page:
        html = client.get(reverse("gallery")).content.decode()
    older = re.search(r'href="(\?after=[^"]+)" rel="next"', html).group(1)
    filtered = reverse("gallery") + "?q=lighthouse&state=in_review&designer=dana&project=acme"

    for url in (reverse("gallery") + older, filtered):
        _max_queries(client, url, django_assert_max_num_queries, len(first_page.captured_queries))


def test_the_notifications_page_uses_a_constant_number_of_queries(
    client, project, designer, reviewer, django_assert_max_num_queries
):
    client.force_login(designer)
    (generation,) = waiting(project, designer)
    generation_approve(generation_id=generation.pk, user=reviewer)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("notifications"))
    for generation in waiting(project, designer, variants=4):
        generation_reject(generation_id=generation.pk, user=reviewer, comment="no")

    _max_queries(
        client, reverse("notifications"), django_assert_max_num_queries, len(few.captured_queries)
    )


def test_submitting_still_works_with_project_defaults(client, project, designer):
    project.default_model_key = "nano-banana-2"
    project.save()
    client.force_login(designer)
    page = client.get(reverse("project", args=[project.slug])).content.decode()
    assert '<option value="nano-banana-2"' in page and 'value="nano-banana-2" selected' in page
    submit(project, designer)


def test_approving_the_selection_into_the_economy_lane_refuses_only_what_cannot_go(
    client, project, designer, reviewer
):
    gemini, upscaled = waiting(project, designer, variants=2)
    client.force_login(reviewer)
    page = client.get(reverse("review")).content.decode()
    assert 'name="lane"' in page and 'value="batch"' in page  # the bulk bar offers it

    response = client.post(
        reverse("review_approve_selected"),
        {"ids": [gemini.pk], "lane": "batch", "strategy": "", "next": reverse("review")},
        **HTMX,
    )
    also = client.post(
        reverse("review_approve_selected"),
        {"ids": [upscaled.pk], "lane": "batch", "strategy": "upscale"},
        **HTMX,
    )

    assert f"Approved 1 generation: #{gemini.pk}." in response.content.decode()
    assert f"#{upscaled.pk} not approved: An upscale calls no model" in also.content.decode()
    assert '<option value="batch" selected>' in also.content.decode()  # the choice is kept
    states = dict(Generation.objects.values_list("pk", "final_lane"))
    assert states[gemini.pk] == "batch"
    assert Generation.objects.get(pk=upscaled.pk).state == State.IN_REVIEW


def test_a_tampered_bulk_lane_approves_nothing_and_says_so(client, project, designer, reviewer):
    (generation,) = waiting(project, designer)
    client.force_login(reviewer)

    response = client.post(
        reverse("review_approve_selected"), {"ids": [generation.pk], "lane": "overnight"}, **HTMX
    )

    assert "Nothing approved: choose a listed final and lane." in response.content.decode()
    assert Generation.objects.get(pk=generation.pk).state == State.IN_REVIEW
