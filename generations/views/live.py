"""Live cards: one request per page per interval for every card on it.

The page sends the cards it shows with the token each was rendered with; the answer holds
only the cards that changed since, or is a 304 when none did (static/js/live.js)."""

from __future__ import annotations

import re

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from generations import selectors
from generations.views.types import HtmxHttpRequest

# A page shows a few dozen cards; a query naming more is not from one of our pages.
MAX_CARDS = 200
_ENTRY = re.compile(r"^(\d{1,12})\.([0-9a-f]{12})$")


@require_GET
def cards_live(request: HtmxHttpRequest) -> HttpResponse:
    known = _known_cards(request.GET.get("c", ""))
    if known is None:
        return HttpResponseBadRequest("c: up to 200 entries of <id>.<token>, comma-separated.")
    changed = selectors.cards_changed(user=request.user, known=known)
    if not changed:
        response = HttpResponse(status=304)
    else:
        response = render(request, "generations/cards_live.html", {"generations": changed})
    response["Cache-Control"] = "no-store"
    return response


def _known_cards(query: str) -> dict[int, str] | None:
    entries = [entry for entry in query.split(",") if entry]
    if len(entries) > MAX_CARDS:
        return None
    known: dict[int, str] = {}
    for entry in entries:
        match = _ENTRY.match(entry)
        if match is None:
            return None
        known[int(match.group(1))] = match.group(2)
    return known
