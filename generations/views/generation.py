"""A generation: its page, its live card, and the actions people take on it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from generations import catalog, references, selectors, services
from generations.forms import (
    ApproveForm,
    CommentForm,
    FinalDiffersForm,
    RejectForm,
    RequestChangesForm,
    RevisionForm,
)
from generations.lanes import ECONOMY_WAIT, Lane
from generations.models import Comment, Generation, Phase, Transition
from generations.permissions import Action, can
from generations.review import conversation, decisions
from generations.review.comparison import compare_url_query
from generations.review.selectors import approval_escalation, approval_lanes
from generations.spend import budgets
from generations.states import SETTLED, TRANSITIONS, State, TransitionError
from generations.strategies import Strategy
from generations.types import User
from generations.views.common import (
    attach_errors,
    comment_submit,
    flash_error,
    page_with_actions,
    render_partials,
    safe_next,
)
from generations.views.types import HtmxHttpRequest

TEMPLATE = "generations/generation.html"
# The region of the generation page that follows the state; htmx targets it by id.
LIVE = "live"


@page_with_actions
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def generation_page(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    generation = selectors.generation_detail(user=request.user, pk=pk)
    context = _context(request, generation)
    if request.htmx and request.htmx.target == LIVE:
        return render(request, f"{TEMPLATE}#{LIVE}", context)
    return render(request, TEMPLATE, context)


@require_GET
@vary_on_headers("HX-Request")
def generation_card(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    generation = selectors.generation_card(user=request.user, pk=pk)
    template = "generations/card.html"
    if request.htmx:
        template += "#card"
    return render(request, template, {"generation": generation})


@require_POST
def generation_approve(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    form = ApproveForm(request.POST)
    valid = form.is_valid()
    note = form.cleaned_data["note"] if valid else ""
    strategy = form.cleaned_data["strategy"] if valid else ""
    lane = form.cleaned_data["lane"] if valid else ""
    return _act(
        request,
        pk,
        lambda: decisions.generation_approve(
            generation_id=pk, user=request.user, note=note, strategy=strategy, lane=lane
        ),
        success=_approved_message(lane),
        form=("approve_form", form),
    )


def _approved_message(lane: str) -> str:
    if lane == Lane.BATCH:
        return (
            f"Approved: the final goes by the economy lane (Batch API, half price, {ECONOMY_WAIT})."
        )
    return "Approved: the 4K final is queued."


_DIFFERS_DONE = {
    "accept": "Accepted: the final is delivered as it is.",
    "rerender": "Queued again: the final is re-rendered from the approved preview.",
    "upscale": "Queued: the approved preview is upscaled and delivered (not native 4K).",
}


@require_POST
def generation_final_differs(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A reviewer's answer to a final held because it differs from the approved preview."""
    form = FinalDiffersForm(request.POST)
    choice = form.cleaned_data["choice"] if form.is_valid() else ""
    note = form.cleaned_data["note"] if form.is_valid() else ""
    return _act(
        request,
        pk,
        lambda: decisions.final_differs_decide(
            generation_id=pk, user=request.user, choice=choice, note=note
        ),
        success=_DIFFERS_DONE.get(choice, ""),
    )


@require_POST
def generation_reject(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    form = RejectForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    return _act(
        request,
        pk,
        lambda: decisions.generation_reject(generation_id=pk, user=request.user, comment=comment),
        success="Rejected. The designer sees your comment.",
        form=("reject_form", form),
    )


@require_POST
def generation_request_changes(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    form = RequestChangesForm(request.POST, prefix="changes")
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    return _act(
        request,
        pk,
        lambda: decisions.generation_request_changes(
            generation_id=pk, user=request.user, comment=comment
        ),
        success="Changes requested. The designer sees your comment and can revise.",
        form=("changes_form", form),
    )


@require_POST
def comment_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A comment, optionally pinned to a point of one of the generation's images. With
    htmx: a fresh form, and the live part (timeline and markers) out of band."""
    selectors.generation_card(user=request.user, pk=pk)  # 404 if not visible
    form = comment_submit(request, pk, success="Comment added.")
    generation = selectors.generation_detail(user=request.user, pk=pk)
    context = _context(request, generation, comment_form=form)
    if request.htmx:
        return render_partials(
            request, TEMPLATE, ["comment-form", LIVE], {**context, "live_oob": True}
        )
    if form.errors:
        return render(request, TEMPLATE, context, status=400)
    return redirect(reverse("generation", args=[pk]) + "#timeline")


@require_POST
def generation_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda: services.generation_cancel(generation_id=pk, user=request.user),
        success="Cancelled.",
    )


@require_POST
def generation_retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda: services.generation_retry(generation_id=pk, user=request.user),
        success="Queued again for a fresh round of attempts.",
    )


@require_POST
def generation_revise(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    generation = selectors.generation_detail(user=request.user, pk=pk)
    form = RevisionForm(request.POST)
    if form.is_valid():
        try:
            submission = services.generation_revise(
                generation_id=pk, user=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            attach_errors(form, error)
        except (PermissionDenied, TransitionError) as error:
            flash_error(request, error)
            return redirect("generation", pk=pk)
        else:
            count = submission.variants
            messages.success(
                request,
                f"Revision of #{pk} queued: {count} preview{'s' if count != 1 else ''}.",
            )
            return redirect("project", slug=generation.project.slug)
    context = _context(request, generation, revise_form=form)
    return render(request, TEMPLATE, context, status=400)


def _act(
    request: HtmxHttpRequest,
    pk: int,
    action: Callable[[], Generation],
    *,
    success: str,
    form: tuple[str, forms.Form] | None = None,
) -> HttpResponse:
    """Run a service; show what happened (or why not) and where the generation is now."""
    selectors.generation_card(user=request.user, pk=pk)  # 404 if not visible
    if form is not None and not form[1].is_valid():
        # Bad input (a note over the limit): nothing is done, the form says why.
        return _form_errors(request, pk, form)
    try:
        action()
    except ValidationError as error:
        if form is None:
            flash_error(request, error)
        else:
            attach_errors(form[1], error)
            return _form_errors(request, pk, form)
    except (TransitionError, PermissionDenied) as error:
        flash_error(request, error)
    else:
        messages.success(request, success)
    if request.htmx:
        generation = selectors.generation_detail(user=request.user, pk=pk)
        return render_partials(request, TEMPLATE, [LIVE], _context(request, generation))
    return redirect(safe_next(request) or reverse("generation", args=[pk]))


def _form_errors(request: HtmxHttpRequest, pk: int, form: tuple[str, forms.Form]) -> HttpResponse:
    """The page again with the form's errors beside its fields and what was typed kept."""
    generation = selectors.generation_detail(user=request.user, pk=pk)
    context = _context(request, generation, **{form[0]: form[1]})
    if request.htmx:
        return render_partials(request, TEMPLATE, [LIVE], context)
    return render(request, TEMPLATE, context, status=400)


def allowed_actions(user: User, generation: Generation) -> dict[str, bool]:
    """Which action buttons to show: allowed for this user and from this state."""
    state = generation.state
    return {
        "approve": state == State.IN_REVIEW and can(user, Action.APPROVE, generation),
        "reject": state == State.IN_REVIEW and can(user, Action.REJECT, generation),
        "request_changes": state == State.IN_REVIEW
        and can(user, Action.REQUEST_CHANGES, generation),
        "comment": can(user, Action.COMMENT, generation),
        "cancel": (state, State.CANCELLED) in TRANSITIONS and can(user, Action.CANCEL, generation),
        "retry": (state == State.PREVIEW_FAILED and can(user, Action.RETRY_PREVIEW, generation))
        or (state == State.FINAL_FAILED and can(user, Action.RETRY_FINAL, generation)),
        "revise": can(user, Action.REVISE, generation),
        "final_differs": state == State.FINAL_DIFFERS and can(user, Action.APPROVE, generation),
    }


def _context(
    request: HtmxHttpRequest, generation: Generation, **forms_: forms.Form
) -> dict[str, Any]:
    submission = generation.submission
    images = {image.phase: image for image in generation.images.all()}
    comments = list(generation.comments.all())
    pins = conversation.pins_of(comments)
    preview, final = images.get(Phase.PREVIEW), images.get(Phase.FINAL)
    attempts = list(generation.attempts.all())
    charges = selectors.generation_charges(attempts=attempts)
    escalation = approval_escalation(submission=submission, project=generation.project)
    lanes = approval_lanes(submission=submission, project=generation.project)
    refs = list(submission.references.all())
    edits = references.edit_links(
        user=request.user, generation=generation, images=list(images.values()), refs=refs
    )
    context: dict[str, Any] = {
        "refs": refs,
        "edits": edits,
        "compare_edit": compare_url_query(edits.compare_ids) if edits.compare_ids else "",
        "generation": generation,
        "submission": submission,
        "project": generation.project,
        "preview": preview,
        "final": final,
        "preview_pins": pins.get(preview.pk, []) if preview else [],
        "final_pins": pins.get(final.pk, []) if final else [],
        "timeline": timeline(generation, comments),
        "attempt_rows": [(attempt, charges.by_attempt.get(attempt.pk)) for attempt in attempts],
        "charges": charges,
        "decision": _decision(generation),
        "lineage": selectors.generation_lineage(generation=generation),
        "approval_price": lanes.options[0].price
        if lanes.default == Lane.STANDARD
        else lanes.economy.price,
        "escalation": escalation,
        "lanes": lanes,
        # A held final can be re-rendered from the preview only by a model that takes it.
        "can_rerender": not catalog.escalation(
            asked=Strategy.FROM_PREVIEW,
            model_key=submission.final_model,
            preview_key=submission.model_key,
        ).fell_back,
        "budget": budgets.headroom(
            project_id=generation.project_id, user_id=submission.created_by_id
        ),
        "actions": allowed_actions(request.user, generation),
        "settled": generation.state in SETTLED,
        "approve_form": ApproveForm(),
        "reject_form": RejectForm(),
        "changes_form": RequestChangesForm(prefix="changes"),
        "comment_form": CommentForm(),
        "revise_form": RevisionForm(
            initial={
                "prompt": submission.prompt,
                "aspect_ratio": submission.aspect_ratio,
                "preview_size": submission.preview_size,
                "variants": submission.variants,  # as many as the original asked for
            }
        ),
    }
    context.update(forms_)
    return context


@dataclass(frozen=True)
class Entry:
    """One line of a generation's timeline: a state change or a comment."""

    at: dt.datetime
    transition: Transition | None = None
    comment: Comment | None = None
    pin: int | None = None  # the comment's marker number, if pinned


def timeline(generation: Generation, comments: list[Comment]) -> list[Entry]:
    """State changes and comments together, in the order they happened."""
    numbers = conversation.pin_numbers(comments)
    entries = [Entry(t.created_at, transition=t) for t in generation.transitions.all()]
    entries += [Entry(c.created_at, comment=c, pin=numbers.get(c.pk)) for c in comments]
    return sorted(entries, key=lambda entry: entry.at)


def _decision(generation: Generation) -> Transition | None:
    """The decision that ended the review, shown with the state (reject, changes)."""
    if generation.state not in (State.REJECTED, State.CHANGES_REQUESTED):
        return None
    moves = [t for t in generation.transitions.all() if t.to_state == generation.state]
    return moves[-1] if moves else None


@require_POST
def picture_edit(request: HtmxHttpRequest) -> HttpResponse:
    """Edit a picture (preview, final or upload) with an instruction: a new submission
    whose first input is the picture; its page opens (or the refusal, back where asked)."""
    try:
        submission = services.picture_edit(
            user=request.user,
            token=request.POST.get("picture", ""),
            instruction=request.POST.get("instruction", ""),
        )
    except (ValidationError, PermissionDenied) as error:
        flash_error(request, error)
        return redirect(safe_next(request) or "home")
    messages.success(request, "Edit queued: its preview renders, then it goes to review.")
    return redirect("generation", pk=submission.generations.order_by("variant")[0].pk)
