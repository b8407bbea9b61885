"""Writes that people make: submit, approve, reject, request changes, cancel, retry,
revise — and the one the system makes for them (auto-approve, when review is off).

Each checks permission (generations.permissions), then moves the state machine
(generations.flow). Worker-side writes live in generations.rendering.
"""

from __future__ import annotations

import math
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from generations import catalog, flow, projects, references
from generations.models import Generation, Phase, Project, ReferenceRole, Submission, Upload
from generations.permissions import Action, require, require_project_role
from generations.sizes import SIZES
from generations.spend import budgets
from generations.states import IllegalTransition, State
from generations.types import User

MAX_VARIANTS = 4
MAX_PROMPT_CHARS = 4000  # Submission.prompt

# Invisible characters that change how text around them reads: bidi embeddings, overrides
# and isolates (a prompt that displays differently from what the model is sent), marks.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def prompt_clean(text: str) -> str:
    """A prompt as it is stored and sent: control characters (ESC, BEL, NUL, C1 codes)
    and bidi controls removed, line breaks kept as newlines and tabs kept; trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    kept = (
        char
        for char in text
        if char in "\n\t" or (unicodedata.category(char) != "Cc" and char not in _BIDI_CONTROLS)
    )
    return "".join(kept).strip()


def submission_create(
    *,
    project: Project,
    user: User,
    prompt: str,
    model_key: str,
    aspect_ratio: str,
    preview_size: str,
    variants: int,
    parent: Generation | None = None,
    seed: int | None = None,
    final_model_key: str = "",
    pictures: Sequence[references.Picture] = (),
    source: references.Picture | None = None,
) -> Submission:
    """Queue one preview per variant; the cards exist (and are kicked) at once. `seed`
    (a revision that keeps its parent's) is the first variant's; the others draw theirs.
    `final_model_key` ("" = `model_key`): the model approved previews become finals on
    (cross-model previews, as the catalogue allows the pair).

    `pictures` are reference images (uploads or images of this project) sent, in order,
    with every render of it; `source` is the image an edit changes (sent first). Each
    costs the model's input_image price per render, reserved with the previews."""
    actor = require_project_role(user, Action.SUBMIT, project)
    prompt = prompt_clean(prompt)
    final_model_key = final_model_key or model_key
    inputs = list(dict.fromkeys([*([source] if source is not None else []), *pictures]))
    submission_validate(
        project=project,
        prompt=prompt,
        model_key=model_key,
        aspect_ratio=aspect_ratio,
        preview_size=preview_size,
        variants=variants,
        final_model_key=final_model_key,
        references_count=len(inputs),
    )
    if any(references.project_of(picture) != project.pk for picture in inputs):
        # The form resolves pictures within the project; a caller that did not is refused.
        raise ValidationError({"references": "A reference from another project is not taken."})
    unit = budgets.phase_price(model_key=model_key, size=preview_size)
    if inputs:
        unit += references.reference_terms(model_key=model_key).cost(count=len(inputs), variants=1)
    now = timezone.now()
    with transaction.atomic():
        submission = Submission.objects.create(
            project=project,
            created_by=user,
            prompt=prompt,
            model_key=model_key,
            final_model_key=final_model_key,
            aspect_ratio=aspect_ratio,
            preview_size=preview_size,
            final_size=project.final_size,
            variants=variants,
            parent=parent,
        )
        if inputs:
            references.references_attach(
                submission=submission,
                pictures=[picture for picture in inputs if picture is not source],
                source=source,
            )
        reason = f"revision of #{parent.pk}" if parent else "submitted"
        if source is not None:
            reason = f"edit of {references.label_of(source)}"
        generations = []
        for variant in range(1, variants + 1):
            generation = Generation.objects.create(
                submission=submission,
                project=project,
                variant=variant,
                seed=seed if seed is not None and variant == 1 else secrets.randbits(31),
                state=State.PREVIEW_QUEUED,
                state_changed_at=now,
                created_at=now,
                next_attempt_at=now,
                kicked_at=now,
            )
            flow.record_creation(generation, actor=actor, user=user, reason=reason)
            generations.append(generation)
        # One reservation per preview; over budget, nothing of the submission remains.
        budgets.budget_reserve(
            generations=generations,
            phase=Phase.PREVIEW,
            project_id=project.pk,
            user_id=user.pk,
            unit=unit,
            what=f"{variants} preview{'s' if variants != 1 else ''} at {preview_size}"
            + references.with_inputs(len(inputs)),
        )
    return submission


MAX_SUBMISSIONS_AT_ONCE = 20


def submission_create_many(
    *, project: Project, user: User, requests: Sequence[Mapping[str, Any]]
) -> list[Submission]:
    """Several submissions in one transaction, all or nothing: each request holds
    submission_create's fields (prompt, model_key, aspect_ratio, preview_size, variants).
    One invalid request, or a budget the whole lot would exceed, and none is made; the
    ValidationError's fields are then "<index>.<field>" (index from 0). Kicks go out
    when the whole lot commits.

    The API's "several prompts in one call". CSV / prompt-matrix batches are a separate
    service (`batches`); when it lands, an API batch may become one of those."""
    if not 1 <= len(requests) <= MAX_SUBMISSIONS_AT_ONCE:
        raise ValidationError(
            {"submissions": f"Send 1 to {MAX_SUBMISSIONS_AT_ONCE} submissions at once."}
        )
    made: list[Submission] = []
    with transaction.atomic():
        for index, request in enumerate(requests):
            try:
                made.append(submission_create(project=project, user=user, **request))
            except ValidationError as error:
                raise ValidationError(
                    {f"{index}.{field}": messages for field, messages in error.message_dict.items()}
                    if hasattr(error, "error_dict")
                    else {f"{index}": error.messages}
                ) from error
    return made


def submission_validate(
    *,
    project: Project,
    prompt: str,
    model_key: str,
    aspect_ratio: str,
    preview_size: str,
    variants: int,
    final_model_key: str = "",
    references_count: int = 0,
) -> None:
    """What a submission asks for, checked against the catalogue and the project's rules
    (the submit form, revisions and every row of a batch): ValidationError by field.
    With a `final_model_key` other than `model_key`, the pair must be one the catalogue
    declares (catalog.pairing_refusal) and the final model must make the project's
    finals; the preview model then only has to preview."""
    errors: dict[str, str] = {}
    cross = bool(final_model_key) and final_model_key != model_key
    if cross:
        errors.update(_pair_errors(project, model_key=model_key, final_model_key=final_model_key))
    if not prompt:
        errors["prompt"] = "Write a prompt."
    try:
        model = catalog.get_model(model_key)
    except LookupError:
        errors["model_key"] = "Choose one of the listed models."
    else:
        if project.allowed_models and model_key not in project.allowed_models:
            errors["model_key"] = f"{project.name} does not allow {model.label}."
        elif not cross and not _bigger_or_same(model.final_size, project.final_size):
            # e.g. a 1K-only model: its "final" would be another preview, paid twice.
            errors["model_key"] = (
                f"{model.label} renders at most {model.final_size}, so it cannot make "
                f"{project.name}'s {project.final_size} finals."
            )
        if aspect_ratio not in model.aspect_ratios:
            errors["aspect_ratio"] = f"{model.label} does not offer {aspect_ratio}."
        if preview_size not in model.preview_sizes:
            errors["preview_size"] = f"{model.label} does not preview at {preview_size}."
        elif _bigger_or_same(preview_size, project.final_size):
            errors["preview_size"] = (
                f"{project.name} renders finals at {project.final_size}: preview smaller than that."
            )
    if not 1 <= variants <= MAX_VARIANTS:
        errors["variants"] = f"Ask for 1 to {MAX_VARIANTS} variants."
    if "model_key" not in errors:
        try:
            references.references_validate(model_key=model_key, count=references_count)
        except ValidationError as error:
            errors["references"] = error.message_dict["references"][0]
    if errors:
        raise ValidationError(errors)


def _pair_errors(project: Project, *, model_key: str, final_model_key: str) -> dict[str, str]:
    refusal = catalog.pairing_refusal(preview_key=model_key, final_key=final_model_key)
    if refusal:
        return {"final_model_key": refusal}
    final = catalog.get_model(final_model_key)
    if project.allowed_models and final_model_key not in project.allowed_models:
        return {"final_model_key": f"{project.name} does not allow {final.label}."}
    if not _bigger_or_same(final.final_size, project.final_size):
        return {
            "final_model_key": f"{final.label} renders at most {final.final_size}, so it "
            f"cannot make {project.name}'s {project.final_size} finals."
        }
    return {}


def _bigger_or_same(size: str, than: str) -> bool:
    order = {name: rank for rank, name in enumerate(SIZES)}
    return order.get(size, 0) >= order.get(than, len(SIZES))


def generation_cancel(*, generation_id: int, user: User, reason: str = "") -> Generation:
    generation = generation_load(generation_id)
    actor = require(user, Action.CANCEL, generation)
    return flow.apply(
        generation,
        State.CANCELLED,
        actor=actor,
        user=user,
        reason=reason.strip() or "cancelled",
        changes={"waiting_reason": "", "next_attempt_at": None},
    )


def generation_retry(*, generation_id: int, user: User) -> Generation:
    """Start a fresh round of attempts for a failed preview or final."""
    generation = generation_load(generation_id)
    if generation.state == State.PREVIEW_FAILED:
        action, target = Action.RETRY_PREVIEW, State.PREVIEW_QUEUED
    elif generation.state == State.FINAL_FAILED:
        action, target = Action.RETRY_FINAL, State.FINAL_QUEUED
    else:
        raise IllegalTransition(
            f"Only a failed preview or final can be retried; this one is "
            f"“{generation.state_label}”."
        )
    actor = require(user, action, generation)
    return flow.apply(
        generation,
        target,
        actor=actor,
        user=user,
        reason="retried by hand",
        changes={"tries_used": 0, "waiting_reason": ""},
    )


def generation_revise(
    *,
    generation_id: int,
    user: User,
    prompt: str,
    aspect_ratio: str | None = None,
    preview_size: str | None = None,
    variants: int = 1,
    keep_seed: bool = False,
    pictures: Sequence[references.Picture] | None = None,
) -> Submission:
    """A new submission from an edited prompt, linked to the generation it revises. With
    `keep_seed` its first variant keeps the revised one's seed ("same composition, changed
    prompt", as designers use seeds); otherwise every variant draws a new one. It keeps
    the revised one's references and edited image unless `pictures` replaces the
    references."""
    generation = generation_load(generation_id)
    require(user, Action.REVISE, generation)
    original = generation.submission
    kept = references.references_of(original)
    source = next((ref.picture for ref in kept if ref.role == ReferenceRole.SOURCE), None)
    if pictures is None:
        pictures = [
            ref.picture
            for ref in kept
            if ref.role == ReferenceRole.REFERENCE and ref.picture is not None
        ]
    return submission_create(
        project=generation.project,
        user=user,
        prompt=prompt,
        model_key=original.model_key,
        final_model_key=original.final_model,
        aspect_ratio=aspect_ratio or original.aspect_ratio,
        preview_size=preview_size or original.preview_size,
        variants=variants,
        parent=generation,
        seed=generation.seed if keep_seed else None,
        pictures=pictures,
        source=source,
    )


def generation_load(generation_id: int) -> Generation:
    """A generation with what every write checks (its submission and project)."""
    return Generation.objects.select_related("submission", "project").get(pk=generation_id)


def picture_edit(*, user: User, token: str, instruction: str, variants: int = 1) -> Submission:
    """Edit a picture the user may see (a preview, a final, an upload: `token`) with an
    instruction ("make the sky stormy, keep the boat"): a new submission in the picture's
    project whose first input image is the picture (its source, in the lineage), going
    through previews and review like any other. An image is edited with the model, ratio
    and preview size that made it; an upload with the project's default model, at the
    ratio nearest its own. 404 for a picture the user may not see."""
    picture = references.picture_get(user=user, token=token)
    if isinstance(picture, Upload):
        project = picture.project
        model_key = projects.project_default_model(project)
        preview_size = projects.project_default_preview_size(project, model_key)
        aspect_ratio = _nearest_ratio(model_key, picture.width, picture.height)
    else:
        generation = picture.generation
        project, submission = generation.project, generation.submission
        model_key, aspect_ratio = submission.model_key, submission.aspect_ratio
        preview_size = submission.preview_size
    return submission_create(
        project=project,
        user=user,
        prompt=instruction,
        model_key=model_key,
        aspect_ratio=aspect_ratio,
        preview_size=preview_size,
        variants=variants,
        source=picture,
    )


def _nearest_ratio(model_key: str, width: int, height: int) -> str:
    try:
        ratios = catalog.get_model(model_key).aspect_ratios
    except LookupError:
        return "1:1"

    def distance(ratio: str) -> float:
        across, down = (int(part) for part in ratio.split(":"))
        return abs(math.log((across / down) / (width / height)))

    return min(ratios, key=distance) if ratios else "1:1"
