"""Template helpers for compare: links into it, and the word diff of prompts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.urls import reverse

from generations.models import Generation, Image, Phase
from generations.review.comparison import MAX_IMAGES, compare_url_query

register = template.Library()


@dataclass(frozen=True)
class CompareLink:
    label: str
    url: str
    testid: str = ""


def compare_url(ids: list[int], *, fragment: str = "") -> str:
    return f"{reverse('compare')}?{compare_url_query(ids)}{'#' + fragment if fragment else ''}"


@register.simple_tag
def compare_links(
    generation: Generation, preview: Image | None, final: Image | None
) -> list[CompareLink]:
    """Preview ↔ final once the final exists; the variants of its submission when
    several have an image (the final where there is one, else the preview)."""
    links = []
    if preview is not None and final is not None:
        links.append(
            CompareLink(
                "Compare preview ↔ final",
                compare_url([preview.pk, final.pk]),
                testid="preview-final",
            )
        )
    if generation.submission.variants > 1:
        best: dict[int, tuple[int, int]] = {}  # generation id -> (rank, image id)
        rows = (
            Image.objects.filter(generation__submission_id=generation.submission_id)
            .order_by("generation__variant")
            .values_list("generation_id", "phase", "pk")
        )
        for generation_id, phase, pk in rows:
            rank = 1 if phase == Phase.FINAL else 0
            if generation_id not in best or rank > best[generation_id][0]:
                best[generation_id] = (rank, pk)
        ids = [pk for _, pk in best.values()][:MAX_IMAGES]
        if len(ids) > 1:
            links.append(
                CompareLink(f"Compare the {len(ids)} variants", compare_url(ids), "variants")
            )
    return links


@register.filter
def segment_tag(op: str) -> str:
    """The element a word-diff run is shown in."""
    return {"insert": "ins", "delete": "del"}.get(op, "span")


@register.filter
def css_ratio(item: Any) -> str:
    return f"{item.image.width} / {item.image.height}"
