"""Live cards (views/live.py): one request for all the cards a page shows, answering only
the cards that changed since the page drew them, and a 304 when none did."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generations import selectors
from generations.models import Generation
from generations.states import State
from tests.generations.test_views import generation_in, in_review
from tests.support.factories import ProjectFactory


def _known(*generations: Generation) -> str:
    tokens = []
    for generation in generations:
        card = selectors.with_card_data(Generation.objects.filter(pk=generation.pk)).get()
        tokens.append(f"{generation.pk}.{selectors.card_token(card)}")
    return ",".join(tokens)


def _cards_in(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<article id="gen-(\d+)"', html)]


@pytest.fixture
def cards(project, designer):
    return [generation_in(project, designer, State.PREVIEW_RENDERING) for _ in range(3)]


def test_nothing_changed_answers_304_with_no_body(client, designer, cards):
    client.force_login(designer)

    response = client.get(reverse("cards_live"), {"c": _known(*cards)})

    assert response.status_code == 304
    assert response.content == b""
    assert response["Cache-Control"] == "no-store"


def test_only_the_card_that_moved_comes_back(client, designer, cards):
    client.force_login(designer)
    known = _known(*cards)
    moved = cards[1]
    Generation.objects.filter(pk=moved.pk).update(
        state=State.PREVIEW_QUEUED, version=moved.version + 1, waiting_reason="Retrying"
    )

    response = client.get(reverse("cards_live"), {"c": known})

    assert response.status_code == 200
    html = response.content.decode()
    assert _cards_in(html) == [moved.pk]
    assert "Retrying" in html
    assert "<html" not in html


def test_a_thumbnail_arriving_changes_the_card(client, project, designer):
    generation = in_review(project, designer)
    image = generation.images.get()
    known = _known(generation)
    thumbnail = image.thumbnail.name
    type(image).objects.filter(pk=image.pk).update(thumbnail="")
    client.force_login(designer)
    before = _known(generation)
    type(image).objects.filter(pk=image.pk).update(thumbnail=thumbnail)

    assert before != known
    assert _cards_in(client.get(reverse("cards_live"), {"c": before}).content.decode()) == [
        generation.pk
    ]


def test_cards_of_other_projects_are_never_answered(client, designer, outsider, cards):
    elsewhere = generation_in(ProjectFactory(), outsider, State.PREVIEW_RENDERING)
    client.force_login(designer)
    stale = f"{elsewhere.pk}.000000000000,{cards[0].pk}.000000000000"

    html = client.get(reverse("cards_live"), {"c": stale}).content.decode()

    assert _cards_in(html) == [cards[0].pk]


@pytest.mark.parametrize(
    "query",
    ["12", "12.xyz", "12.abcdef012345,oops", "-1.abcdef012345", ",".join(["1.abcdef012345"] * 201)],
)
def test_a_malformed_query_is_a_400_not_a_500(client, designer, query):
    client.force_login(designer)

    response = client.get(reverse("cards_live"), {"c": query})

    assert response.status_code == 400


def test_the_poll_costs_the_same_queries_for_2_cards_or_24(client, project, designer):
    client.force_login(designer)
    few = [generation_in(project, designer, State.PREVIEW_RENDERING) for _ in range(2)]
    many = few + [generation_in(project, designer, State.PREVIEW_RENDERING) for _ in range(22)]
    stale = ",".join(f"{g.pk}.000000000000" for g in many)
    client.get(reverse("cards_live"), {"c": stale})  # warm the session and caches

    with CaptureQueriesContext(connection) as small:
        client.get(reverse("cards_live"), {"c": ",".join(stale.split(",")[:2])})
    with CaptureQueriesContext(connection) as large:
        response = client.get(reverse("cards_live"), {"c": stale})

    assert len(_cards_in(response.content.decode())) == 24
    assert len(large.captured_queries) == len(small.captured_queries)


def test_signed_out_the_poll_goes_to_the_login_page(client, cards):
    response = client.get(reverse("cards_live"), {"c": _known(*cards)})

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_pages_tell_the_script_where_to_poll_and_cards_carry_their_tokens(
    client, project, designer, cards
):
    client.force_login(designer)

    html = client.get(reverse("project", args=[project.slug])).content.decode()

    assert f'data-live-url="{reverse("cards_live")}"' in html
    for card in cards:
        assert re.search(rf'id="gen-{card.pk}"[^>]*data-live-token="[0-9a-f]{{12}}"', html, re.S)
    assert 'hx-trigger="every' not in html  # no card polls on its own any more
