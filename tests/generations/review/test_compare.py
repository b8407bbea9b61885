"""Compare: who may open which images (404 for any hidden one), the 2–4 limit, the metadata
table and its word diff, decisions from compare, favourites, and the ways in."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from generations import services
from generations.models import (
    Favourite,
    Generation,
    Image,
    LedgerEntry,
    Membership,
    Role,
    Submission,
)
from generations.rendering.jobs import generation_render
from generations.review import comparison
from generations.review.comparison import BadSelection, Segment, parse_image_ids, word_diff
from generations.review.decisions import generation_approve
from generations.spend import ledger, pricing
from generations.states import State
from tests.support.factories import ProjectFactory, UserFactory
from tests.support.fakes import drain_cpu_queue

pytestmark = pytest.mark.django_db

MEDIA = re.compile(r"/media/(\d+)/")


def submit(project, user, *, variants: int = 2, prompt: str = "a red kite over dunes"):
    return services.submission_create(
        project=project,
        user=user,
        prompt=prompt,
        model_key="nano-banana-pro",
        aspect_ratio="1:1",
        preview_size="1K",
        variants=variants,
    )


def render(generation: Generation) -> Generation:
    generation_render(generation_id=generation.pk, worker="test")
    drain_cpu_queue()
    generation.refresh_from_db()
    return generation


def previews(project, user, *, variants: int = 2, prompt: str = "a red kite over dunes"):
    """`variants` previews in review, as Images."""
    submission = submit(project, user, variants=variants, prompt=prompt)
    images = []
    for generation in submission.generations.order_by("variant"):
        assert render(generation).state == State.IN_REVIEW
        images.append(generation.images.get())
    return images


def compare_url(*images: Image | int) -> str:
    ids = ",".join(str(getattr(image, "pk", image)) for image in images)
    return f"{reverse('compare')}?images={ids}"


def without_csrf(content: bytes) -> bytes:
    return re.sub(rb'"X-CSRFToken": "[^"]*"|name="csrfmiddlewaretoken" value="[^"]*"', b"", content)


def media_ids(response) -> set[int]:
    return {int(pk) for pk in MEDIA.findall(response.content.decode())}


# --- the selection in the URL ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "ids"),
    [("1,2", [1, 2]), (" 3 , 1,2,4 ", [3, 1, 2, 4]), ("5,5,6", [5, 6]), ("7,8,", [7, 8])],
)
def test_the_selection_is_two_to_four_distinct_ids_in_the_order_given(raw, ids):
    assert parse_image_ids(raw) == ids


@pytest.mark.parametrize(
    "raw", ["", "1", "1,1", "1,2,3,4,5", "1,x", "1,-2", "1,2.5", "1,٣", "1," + "9" * 19]
)
def test_anything_else_is_a_bad_selection(raw):
    with pytest.raises(BadSelection):
        parse_image_ids(raw)


@pytest.mark.parametrize("query", ["", "?images=", "?images=1", "?images=1,2,3,4,5", "?images=a,b"])
def test_a_bad_selection_is_a_400_page_that_says_why(client, designer, query):
    client.force_login(designer)
    response = client.get(reverse("compare") + query)
    assert response.status_code == 400
    assert b"Pick 2\xe2\x80\x934 images to compare" in response.content
    assert not media_ids(response)


def test_anonymous_users_are_sent_to_login(client, project, designer):
    first, second = previews(project, designer)
    response = client.get(compare_url(first, second))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- permission: the media view's rule, all or nothing ---------------------------------


@pytest.mark.parametrize("count", [2, 3, 4])
def test_members_compare_two_to_four_images_in_the_order_of_the_url(
    client, project, designer, reviewer, count
):
    images = previews(project, designer, variants=count)[::-1]
    for user in (designer, reviewer):
        client.force_login(user)
        response = client.get(compare_url(*images))
        assert response.status_code == 200
        panes = [int(pk) for pk in re.findall(r'data-image-id="(\d+)"', response.content.decode())]
        assert panes == [image.pk for image in images]
        assert media_ids(response) == {image.pk for image in images}
        html = response.content.decode()
        for image in images:
            # The screen rendition and thumbnail load; the original is only named, for the
            # script to fetch when the zoom needs it.
            assert f'src="/media/{image.pk}/screen"' in html
            assert f'data-src-original="/media/{image.pk}/original"' in html
            assert f'src="/media/{image.pk}/original"' not in html


def test_a_user_without_access_to_any_one_image_gets_404_and_nothing_of_the_others(
    client, project, designer, outsider
):
    mine = previews(project, designer)
    other_project = ProjectFactory(slug="other")
    stranger = UserFactory(username="stella")
    Membership.objects.create(project=other_project, user=stranger, role=Role.DESIGNER)
    theirs = previews(other_project, stranger)

    # dana sees her project only; stella hers; otto neither.
    cases = [
        (designer, [mine[0], theirs[0]]),
        (designer, [theirs[1], mine[0], mine[1]]),
        (stranger, [theirs[0], mine[1]]),
        (outsider, [mine[0], mine[1]]),
    ]
    for user, images in cases:
        client.force_login(user)
        response = client.get(compare_url(*images))
        assert response.status_code == 404, (user, images)
        assert not media_ids(response)
        for image in images:
            assert f'data-image-id="{image.pk}"' not in response.content.decode()
        # The same answer as for ids that do not exist: nothing tells which one failed.
        missing = client.get(compare_url(images[0], 987654))
        assert missing.status_code == 404
        assert missing.content.replace(b"987654", b"") == missing.content


def test_the_404_is_the_same_whether_an_image_is_hidden_or_missing(
    client, project, designer, outsider
):
    first, second = previews(project, designer)
    client.force_login(outsider)
    hidden = client.get(compare_url(first, second))
    missing = client.get(compare_url(999998, 999999))
    assert hidden.status_code == missing.status_code == 404
    assert without_csrf(hidden.content) == without_csrf(missing.content)


def test_superusers_compare_anything(client, project, designer):
    first, second = previews(project, designer)
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(admin)
    assert client.get(compare_url(first, second)).status_code == 200


def test_the_compare_page_needs_one_query_per_image_beyond_a_constant(
    client, project, designer, django_assert_max_num_queries
):
    # Each image goes through the media view's own check (one query); the rest of the
    # page — metadata, attempts, favourites, input images — is fetched in a fixed number
    # of queries.
    two = previews(project, designer, variants=2)
    four = previews(project, designer, variants=4, prompt="another prompt entirely")
    client.force_login(designer)
    with django_assert_max_num_queries(15) as two_queries:
        client.get(compare_url(*two))
    with django_assert_max_num_queries(len(two_queries.captured_queries) + 2):
        client.get(compare_url(*four))


# --- what the page shows ---------------------------------------------------------------


def delivered(project, designer, reviewer) -> Generation:
    generation = submit(project, designer, variants=1).generations.get()
    render(generation)
    generation_approve(generation_id=generation.pk, user=reviewer)
    generation = render(generation)
    assert generation.state == State.DELIVERED
    return generation


def test_preview_against_final_marks_what_differs(client, project, designer, reviewer):
    generation = delivered(project, designer, reviewer)
    preview = generation.images.get(phase="preview")
    final = generation.images.get(phase="final")
    client.force_login(reviewer)
    response = client.get(compare_url(preview, final))
    assert response.status_code == 200
    rows = {row.key: row for row in response.context["comparison"].rows}

    assert rows["pixels"].differs
    assert [cell.text for cell in rows["pixels"].cells] == ["1024 × 1024", "4096 × 4096"]
    assert rows["pixels"].cells[1].changed and rows["pixels"].cells[1].vs_first == "×16"
    assert [cell.text for cell in rows["size"].cells] == ["1K", "4K"]
    assert rows["bytes"].differs and rows["bpp"].cells[0].text != ""
    assert not rows["prompt"].differs
    assert not rows["model"].differs
    assert not rows["native"].differs
    assert [cell.text for cell in rows["attempts"].cells] == ["1", "1"]
    # Simulated locally (no API key in tests): nothing spent, the list price beside it.
    # From the ledger: the charges of the two renders (simulated here, at list price).
    assert [cell.text for cell in rows["cost"].cells] == ["$0.13", "$0.24"]
    assert rows["cost"].cells[1].detail == "local simulation at list price: no money moved"
    assert rows["cost"].differs

    html = response.content.decode()
    assert 'class="cmp-row cmp-row--pixels is-different"' in html
    assert 'class="cmp-row cmp-row--model"' in html
    assert f'data-width="{final.width}"' in html and 'data-screen-width="2048"' in html
    assert 'data-screen-width="1024"' in html  # a 1K preview's rendition is its own size


def test_variants_with_different_prompts_show_a_word_diff(client, project, designer):
    first = previews(project, designer, variants=1, prompt="a red kite over golden dunes")[0]
    second = previews(project, designer, variants=1, prompt="a blue kite over dunes at dusk")[0]
    client.force_login(designer)
    response = client.get(compare_url(first, second))
    html = response.content.decode()
    prompt_row = html[html.index('data-row="prompt"') :]
    prompt_row = prompt_row[: prompt_row.index("</tr>")]
    assert "<del>red</del><ins>blue</ins>" in prompt_row
    assert "<del>golden </del>" in prompt_row
    assert "<ins> at dusk</ins>" in prompt_row


def test_the_word_diff_keeps_the_text_and_marks_words():
    assert word_diff("a red kite", "a red kite") == [Segment("equal", "a red kite")]
    assert word_diff("a red kite, flying", "a blue kite flying") == [
        Segment("equal", "a "),
        Segment("delete", "red"),
        Segment("insert", "blue"),
        Segment("equal", " kite"),
        Segment("delete", ","),
        Segment("equal", " flying"),
    ]
    joined = "".join(s.text for s in word_diff("x y", "x y z") if s.op != "delete")
    assert joined == "x y z"


def test_the_seeded_price_list_holds_the_published_prices():
    assert pricing.list_price(model_key="nano-banana-pro", size="1K") == Decimal("0.134")
    assert pricing.list_price(model_key="nano-banana-pro", size="2K") == Decimal("0.134")
    assert pricing.list_price(model_key="nano-banana-pro", size="4K") == Decimal("0.24")
    assert pricing.list_price(model_key="nano-banana-2", size="1K") == Decimal("0.067")
    assert pricing.list_price(model_key="nano-banana-2", size="2K") == Decimal("0.101")
    assert pricing.list_price(model_key="nano-banana-2", size="4K") == Decimal("0.151")
    assert pricing.list_price(model_key="local", size="4K") == Decimal(0)
    assert pricing.list_price(model_key="unknown", size="1K") is None
    assert pricing.list_price(model_key="nano-banana-2", size="4K", lane="batch") == Decimal(
        "0.0755"
    )


def test_compare_shows_what_the_ledger_charged_refunds_included(
    client, project, designer, project_admin
):
    first, second = previews(project, designer)
    charge = LedgerEntry.objects.get(attempt=second.attempt)
    ledger.ledger_refund(entry=charge, reason="bad render", user=project_admin)
    client.force_login(designer)

    response = client.get(compare_url(first, second))

    rows = {row.key: row for row in response.context["comparison"].rows}
    assert [cell.text for cell in rows["cost"].cells] == ["$0.13", "$0.00"]
    assert "corrected from $0.13" in rows["cost"].cells[1].detail


# --- deciding from compare -------------------------------------------------------------


def test_reviewers_approve_and_reject_from_compare_and_come_back_to_it(
    client, project, designer, reviewer
):
    first, second = previews(project, designer)
    url = compare_url(first, second)
    client.force_login(reviewer)
    html = client.get(url).content.decode()
    for image in (first, second):
        assert reverse("generation_approve", args=[image.generation_id]) in html
        assert reverse("generation_reject", args=[image.generation_id]) in html
    assert f'name="next" value="{url}"' in html
    assert reverse("compare_favourite", args=[first.pk]) not in html  # reviewers don't

    back = f"{url}#mode=slider&z=3"
    approved = client.post(
        reverse("generation_approve", args=[first.generation_id]), {"next": back}
    )
    assert approved.status_code == 302 and approved["Location"] == back
    rejected = client.post(
        reverse("generation_reject", args=[second.generation_id]),
        {"next": back, "comment": "the kite is cut off"},
    )
    assert rejected.status_code == 302 and rejected["Location"] == back
    first.generation.refresh_from_db()
    second.generation.refresh_from_db()
    assert first.generation.state == State.FINAL_QUEUED
    assert second.generation.state == State.REJECTED

    page = client.get(url)
    assert [str(m) for m in page.context["messages"]][-2:] == [
        "Approved: the 4K final is queued.",
        "Rejected. The designer sees your comment.",
    ]
    # Decided: no more buttons.
    assert reverse("generation_approve", args=[first.generation_id]) not in page.content.decode()


def test_an_offsite_next_from_compare_is_ignored(client, project, designer, reviewer):
    first, _ = previews(project, designer)
    client.force_login(reviewer)
    response = client.post(
        reverse("generation_approve", args=[first.generation_id]),
        {"next": "https://evil.example/compare/"},
    )
    assert response["Location"] == reverse("generation", args=[first.generation_id])


def test_designers_see_no_decision_buttons_but_mark_favourites(client, project, designer):
    first, second = previews(project, designer)
    url = compare_url(first, second)
    client.force_login(designer)
    html = client.get(url).content.decode()
    assert reverse("generation_approve", args=[first.generation_id]) not in html
    assert "☆ Mark favourite" in html

    response = client.post(
        reverse("compare_favourite", args=[second.pk]), {"favourite": "1", "next": url}
    )
    assert response.status_code == 302 and response["Location"] == url
    assert list(Favourite.objects.values_list("image_id", "user__username")) == [
        (second.pk, "dana")
    ]
    page = client.get(url)
    row = next(row for row in page.context["comparison"].rows if row.key == "favourite")
    assert [cell.text for cell in row.cells] == ["—", "dana"] and row.differs
    assert "★ My favourite" in page.content.decode()

    # Idempotent both ways.
    client.post(reverse("compare_favourite", args=[second.pk]), {"favourite": "1"})
    assert Favourite.objects.count() == 1
    client.post(reverse("compare_favourite", args=[second.pk]), {"favourite": "0"})
    assert Favourite.objects.count() == 0


def test_favouriting_with_htmx_answers_with_the_button_and_the_table(client, project, designer):
    first, second = previews(project, designer)
    client.force_login(designer)
    response = client.post(
        reverse("compare_favourite", args=[first.pk]),
        {"favourite": "1", "images": f"{first.pk},{second.pk}"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<form method="post" action="/compare/favourite/')
    assert "★ My favourite" in html
    assert '<section id="cmp-meta" class="section cmp-meta" hx-swap-oob="true">' in html


def test_only_designers_and_admins_favourite_and_only_what_they_see(
    client, project, designer, reviewer, outsider
):
    first, _ = previews(project, designer)
    url = reverse("compare_favourite", args=[first.pk])
    client.force_login(reviewer)
    assert client.post(url, {"favourite": "1"}).status_code == 403
    client.force_login(outsider)
    assert client.post(url, {"favourite": "1"}).status_code == 404
    assert not Favourite.objects.exists()
    with pytest.raises(Exception, match="Only designers"):
        comparison.favourite_set(image_id=first.pk, user=reviewer, favourite=True)


# --- the ways in -----------------------------------------------------------------------


def test_cards_with_an_image_offer_a_compare_checkbox(client, project, designer):
    first, _ = previews(project, designer)
    waiting = submit(project, designer, variants=1).generations.get()  # no image yet
    client.force_login(designer)
    html = client.get(reverse("project", args=[project.slug])).content.decode()
    assert html.count("data-compare-pick") == 2
    assert f'data-compare-pick value="{first.pk}"' in html
    card = client.get(reverse("generation_card", args=[waiting.pk]), headers={"HX-Request": "1"})
    assert b"data-compare-pick" not in card.content
    # The picking script and its styles are on every page.
    assert 'src="/static/js/compare-pick.js"' in html


def test_the_review_list_offers_compare_on_its_cards(client, project, designer, reviewer):
    first, second = previews(project, designer)
    client.force_login(reviewer)
    html = client.get(reverse("review")).content.decode()
    assert f'data-compare-pick value="{first.pk}"' in html
    assert f'data-compare-pick value="{second.pk}"' in html


def test_a_delivered_generation_offers_preview_against_final_in_one_click(
    client, project, designer, reviewer
):
    generation = delivered(project, designer, reviewer)
    preview = generation.images.get(phase="preview")
    final = generation.images.get(phase="final")
    client.force_login(designer)
    html = client.get(reverse("generation", args=[generation.pk])).content.decode()
    assert f'href="{compare_url(preview, final)}" data-compare-link="preview-final"' in html
    assert f'data-compare-pick value="{preview.pk}"' in html
    assert f'data-compare-pick value="{final.pk}"' in html


def test_a_generation_with_sibling_variants_offers_to_compare_them(client, project, designer):
    images = previews(project, designer, variants=3)
    client.force_login(designer)
    html = client.get(reverse("generation", args=[images[1].generation_id])).content.decode()
    assert 'data-compare-link="variants"' in html
    assert compare_url(*images) in html
    assert "Compare the 3 variants" in html
    assert 'data-compare-link="preview-final"' not in html


def test_a_lone_preview_offers_no_compare_link(client, project, designer):
    (image,) = previews(project, designer, variants=1)
    client.force_login(designer)
    html = client.get(reverse("generation", args=[image.generation_id])).content.decode()
    assert "data-compare-link" not in html
    assert Submission.objects.count() == 1
