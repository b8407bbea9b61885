"""Compare 2–4 images side by side, with a slider or by flipping; and favourites.

The URL holds the selection (`/compare/?images=12,13`), so a link can be shared — and
opens only for someone who may view every image in it (else 404, nothing of any image).
Approve and reject post to the generation's own action URLs with `next` back here.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from generations.forms import ApproveForm, RejectForm
from generations.review import comparison
from generations.views.common import page_with_actions, render_partials, safe_next
from generations.views.types import HtmxHttpRequest

TEMPLATE = "generations/compare.html"


@page_with_actions
@require_GET
def compare_page(request: HtmxHttpRequest) -> HttpResponse:
    try:
        ids = comparison.parse_image_ids(request.GET.get("images", ""))
    except comparison.BadSelection as error:
        return render(request, TEMPLATE, {"error": str(error)}, status=400)
    images = comparison.images_for_compare(user=request.user, ids=ids)  # 404 if any is hidden
    context = {
        "comparison": comparison.comparison_build(user=request.user, images=images),
        "approve_form": ApproveForm(),
        "reject_form": RejectForm(),
    }
    return render(request, TEMPLATE, context)


@require_POST
@vary_on_headers("HX-Request")
def favourite_toggle(request: HtmxHttpRequest, image_id: int) -> HttpResponse:
    """Mark (favourite=1) or unmark an image. With htmx: the button and the metadata
    table of the compare it was pressed in (`images`), fresh."""
    comparison.favourite_set(
        image_id=image_id, user=request.user, favourite=request.POST.get("favourite") == "1"
    )
    if request.htmx:
        try:
            ids = comparison.parse_image_ids(request.POST.get("images", ""))
        except comparison.BadSelection:
            ids = [image_id]
        if image_id not in ids:
            ids = [image_id]
        images = comparison.images_for_compare(user=request.user, ids=ids)
        built = comparison.comparison_build(user=request.user, images=images)
        item = next(item for item in built.items if item.image.pk == image_id)
        names = ["favourite"] if len(ids) < comparison.MIN_IMAGES else ["favourite", "meta"]
        context = {"comparison": built, "item": item, "oob": True}
        return render_partials(request, TEMPLATE, names, context, with_messages=False)
    target = safe_next(request)
    if target is None:
        image = comparison.images_for_compare(user=request.user, ids=[image_id])[0]
        target = reverse("generation", args=[image.generation_id])
    return redirect(target)
