"""Uploads (pictures people bring into a project) and references (the input images a
submission sends with its prompt): storing, finding, checking and reading them.

A picture is named on forms by a token: "u12" (upload 12) or "i34" (image 34, a preview
or final). Either is resolved only within one project and only among what the person
may see; anything else — another project's, a missing one, a forged id — gets the same
refusal, which says nothing about whether it exists.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.http import Http404

from generations import catalog
from generations.imaging import uploads
from generations.imaging.codec import ImageRejected
from generations.models import (
    Generation,
    Image,
    Project,
    Reference,
    ReferenceRole,
    Submission,
    Upload,
)
from generations.permissions import Action, acting_role, require_project_role, visible_generations
from generations.providers.base import InputImage, InputRole
from generations.spend import pricing
from generations.types import User

logger = logging.getLogger(__name__)

Picture = Image | Upload
_TOKEN: Final = re.compile(r"^([ui])(\d{1,18})$")
MAX_UPLOADS_AT_ONCE: Final = 14


def max_bytes() -> int:
    return int(getattr(settings, "STUDIO_UPLOAD_MAX_BYTES", uploads.DEFAULT_MAX_BYTES))


def max_pixels() -> int:
    return int(getattr(settings, "STUDIO_UPLOAD_MAX_PIXELS", uploads.DEFAULT_MAX_PIXELS))


# --- uploads ---------------------------------------------------------------------------


def upload_create(*, project: Project, user: User, data: bytes, filename: str = "") -> Upload:
    """Check, clean and store one uploaded picture (ValidationError with what to do when
    it is refused). Files are written only after every check passed, and removed again
    if the row cannot be saved: nothing half-stored remains. The same picture uploaded
    twice to a project is the same upload."""
    require_project_role(user, Action.SUBMIT, project)
    try:
        cleaned = uploads.upload_clean(data, max_bytes=max_bytes(), max_pixels=max_pixels())
    except ImageRejected as refused:
        name = f"{_short(filename)}: " if filename else ""
        raise ValidationError({"references": f"{name}{refused.message}"}) from None
    existing = Upload.objects.filter(project=project, sha256=cleaned.sha256).first()
    if existing is not None:
        return existing
    stem = f"p{project.pk}/uploads/{cleaned.sha256[:24]}"
    written: list[str] = []
    try:
        with transaction.atomic():
            for suffix, content in (
                (f".{cleaned.extension}", cleaned.data),
                ("-thumbnail.webp", cleaned.thumbnail),
            ):
                written.append(default_storage.save(stem + suffix, ContentFile(content)))
            original, thumbnail = written
            screen = original  # no larger than a screen rendition: served as it is
            return Upload.objects.create(
                project=project,
                uploaded_by=user,
                filename=_short(filename),
                original=original,
                thumbnail=thumbnail,
                screen=screen,
                sha256=cleaned.sha256,
                mime_type=cleaned.mime_type,
                width=cleaned.width,
                height=cleaned.height,
                byte_size=len(cleaned.data),
                placeholder=cleaned.placeholder,
                note="; ".join(cleaned.notes)[:300],
            )
    except BaseException as exc:
        for name in written:
            default_storage.delete(name)
        if isinstance(exc, IntegrityError):  # the same picture, uploaded at the same moment
            found = Upload.objects.filter(project=project, sha256=cleaned.sha256).first()
            if found is not None:
                return found
        raise


def upload_create_many(
    *, project: Project, user: User, files: Sequence[tuple[str, bytes]]
) -> list[Upload]:
    """Several uploads; the first refusal stops them (those before it are kept: each is
    a whole, valid picture of the project)."""
    if len(files) > MAX_UPLOADS_AT_ONCE:
        raise ValidationError(
            {"references": f"Upload at most {MAX_UPLOADS_AT_ONCE} pictures at once."}
        )
    return [
        upload_create(project=project, user=user, data=data, filename=name) for name, data in files
    ]


def upload_create_from_files(
    *, project: Project, user: User, files: Sequence[UploadedFile]
) -> list[Upload]:
    """`upload_create_many` for files a browser sent: each one's size is checked before
    its bytes are read into memory."""
    require_project_role(user, Action.SUBMIT, project)
    read: list[tuple[str, bytes]] = []
    if len(files) > MAX_UPLOADS_AT_ONCE:
        raise ValidationError(
            {"references": f"Upload at most {MAX_UPLOADS_AT_ONCE} pictures at once."}
        )
    for file in files:
        refusal = uploads.upload_refusal_for_size(file.size or 0, max_bytes=max_bytes())
        if refusal:
            raise ValidationError({"references": f"{_short(file.name or '')}: {refusal}"})
        read.append((file.name or "", file.read()))
    return upload_create_many(project=project, user=user, files=read)


def upload_get(*, user: User, pk: int) -> Upload:
    """An upload the user may view (a member of its project), or 404."""
    upload = Upload.objects.select_related("project").filter(pk=pk).first()
    if upload is None or acting_role(user, Action.VIEW, project=upload.project) is None:
        raise Http404("No such image.")
    return upload


def _short(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(char for char in name if char.isprintable())[:120]


# --- naming and finding pictures ----------------------------------------------------------


def token_of(picture: Picture) -> str:
    return f"u{picture.pk}" if isinstance(picture, Upload) else f"i{picture.pk}"


def parse_tokens(raw: Sequence[str]) -> list[tuple[str, int]]:
    """ "u12", "i34" -> [("u", 12), ("i", 34)]: distinct, in order. ValidationError for
    anything else."""
    parsed: list[tuple[str, int]] = []
    for item in raw:
        for part in str(item).replace(",", " ").split():
            match = _TOKEN.match(part.strip())
            if match is None:
                raise ValidationError({"references": "That is not a picture of this project."})
            key = (match.group(1), int(match.group(2)))
            if key not in parsed:
                parsed.append(key)
    return parsed


def pictures_resolve(*, user: User, project: Project, tokens: Sequence[str]) -> list[Picture]:
    """The pictures the tokens name, in order, each one the user may see in `project`;
    else ValidationError (the same words for another project's and a missing one)."""
    parsed = parse_tokens(tokens)
    upload_ids = [pk for kind, pk in parsed if kind == "u"]
    image_ids = [pk for kind, pk in parsed if kind == "i"]
    found_uploads = {
        upload.pk: upload for upload in Upload.objects.filter(project=project, pk__in=upload_ids)
    }
    found_images = {
        image.pk: image
        for image in Image.objects.select_related("generation").filter(
            pk__in=image_ids,
            generation__project=project,
            generation__in=visible_generations(user),
        )
    }
    may_see = acting_role(user, Action.VIEW, project=project) is not None
    pictures: list[Picture] = []
    for kind, pk in parsed:
        picture = (found_uploads if kind == "u" else found_images).get(pk)
        if picture is None or not may_see:
            raise ValidationError(
                {"references": "One of the chosen pictures is not in this project (or no "
                               "longer exists): pick it again from this project."}
            )  # fmt: skip
        pictures.append(picture)
    return pictures


def picture_get(*, user: User, token: str) -> Picture:
    """One picture the user may see, by token, in any of their projects; else 404."""
    try:
        (kind, pk), *_ = parse_tokens([token])
    except (ValidationError, ValueError):
        raise Http404("No such image.") from None
    if kind == "u":
        return upload_get(user=user, pk=pk)
    image = (
        Image.objects.select_related("generation__project", "generation__submission")
        .filter(pk=pk, generation__in=visible_generations(user))
        .first()
    )
    if image is None:
        raise Http404("No such image.")
    return image


def label_of(picture: Picture) -> str:
    """ "Final #12", "Preview #12" or "upload “boat.jpg”": how pages and reasons name it."""
    if isinstance(picture, Upload):
        return f"upload “{picture.filename}”" if picture.filename else f"upload {picture.pk}"
    return f"{picture.get_phase_display()} #{picture.generation_id}"


def with_inputs(count: int) -> str:
    return f" with {count} input image{'s' if count != 1 else ''}" if count else ""


PICKABLE: Final = 24


def pickable(*, user: User, project: Project, limit: int = PICKABLE) -> list[Picture]:
    """What the submit form offers to pick: the project's newest uploads and images (with
    renditions) the user may see, newest first; two queries."""
    if acting_role(user, Action.VIEW, project=project) is None:
        return []
    found: list[Picture] = list(Upload.objects.filter(project=project).order_by("-pk")[:limit])
    found += list(
        Image.objects.select_related("generation")
        .filter(generation__project=project, generation__in=visible_generations(user))
        .exclude(thumbnail="")
        .order_by("-created_at", "-pk")[:limit]
    )
    found.sort(key=lambda picture: picture.created_at, reverse=True)
    return found[:limit]


def chosen(*, user: User, project: Project, tokens: Sequence[str]) -> list[Picture]:
    """The pictures a form already holds, for showing them again (nothing refused: a token
    that no longer resolves is left out)."""
    try:
        return pictures_resolve(user=user, project=project, tokens=tokens)
    except ValidationError:
        kept = []
        for token in tokens:
            try:
                kept += pictures_resolve(user=user, project=project, tokens=[token])
            except ValidationError:
                continue
        return kept


def project_of(picture: Picture) -> int:
    return picture.project_id if isinstance(picture, Upload) else picture.generation.project_id


# --- how many a model takes, and what they cost -------------------------------------------


def references_validate(*, model_key: str, count: int) -> None:
    """Refuse more references than the model takes (ValidationError on `references`)."""
    if not count:
        return
    try:
        model = catalog.get_model(model_key)
    except LookupError:
        return  # the model's own error says it
    limit = model.max_input_images
    if limit == 0:
        raise ValidationError(
            {"references": f"{model.label} takes no reference images: remove them, or "
                           "choose a model that takes them."}
        )  # fmt: skip
    if count > limit:
        raise ValidationError(
            {"references": f"{model.label} takes at most {limit} reference image"
                           f"{'s' if limit != 1 else ''}; {count} are attached. Remove "
                           f"{count - limit}, or choose a model that takes more."}
        )  # fmt: skip


@dataclass(frozen=True)
class ReferenceTerms:
    """What the submit form says about references for one model."""

    limit: int
    unit: Decimal | None  # the input_image price of one reference on one render

    def cost(self, *, count: int, variants: int) -> Decimal:
        return (self.unit or Decimal(0)) * count * variants


def reference_terms(*, model_key: str) -> ReferenceTerms:
    try:
        limit = catalog.get_model(model_key).max_input_images
    except LookupError:
        limit = 0
    entry = pricing.input_image_price(model_key=model_key)
    return ReferenceTerms(limit=limit, unit=None if entry is None else entry.usd_per_image)


# --- a submission's references ---------------------------------------------------------


def references_attach(
    *, submission: Submission, pictures: Sequence[Picture], source: Picture | None = None
) -> list[Reference]:
    """Store the submission's input images in order (the edited image first)."""
    rows = []
    ordered: list[tuple[Picture, str]] = []
    if source is not None:
        ordered.append((source, ReferenceRole.SOURCE))
    ordered += [(picture, ReferenceRole.REFERENCE) for picture in pictures if picture != source]
    for position, (picture, role) in enumerate(ordered):
        rows.append(
            Reference(
                submission=submission,
                position=position,
                role=role,
                image=picture if isinstance(picture, Image) else None,
                upload=picture if isinstance(picture, Upload) else None,
            )
        )
    return Reference.objects.bulk_create(rows)


def references_of(submission: Submission) -> list[Reference]:
    return list(submission.references.select_related("image", "upload").order_by("position"))


def any_of_submission() -> Exists:
    """Whether a generation's submission has references (an annotation on a Generation
    query: the worker's claim reads them only when there are some)."""
    return Exists(Reference.objects.filter(submission_id=OuterRef("submission_id")))


def input_images(references: Sequence[Reference]) -> tuple[tuple[InputImage, ...], list[str]]:
    """What the worker sends: each reference's stored bytes, in order; and notes on any
    that are gone (a discarded final) and so not sent."""
    images, notes = [], []
    for reference in references:
        picture = reference.picture
        if picture is None:
            notes.append(f"reference {reference.position + 1} is gone and was not sent")
            continue
        with picture.original.open("rb") as handle:
            images.append(InputImage.from_bytes(handle.read(), role=InputRole.REFERENCE))
    return tuple(images), notes


# --- edits on the generation page ------------------------------------------------------


@dataclass(frozen=True)
class EditLinks:
    """What a generation page shows of edits: the picture it was edited from (with the
    compare of source ↔ edit when both are images), and what may be edited from here."""

    source: Picture | None
    compare_ids: tuple[int, int] | None
    editable: list[Picture]


def edit_links(
    *, user: User, generation: Generation, images: Sequence[Image], refs: Sequence[Reference]
) -> EditLinks:
    """From the references and images a page already holds: no query."""
    source = next(
        (ref.picture for ref in refs if ref.role == ReferenceRole.SOURCE and ref.picture), None
    )
    made = sorted(images, key=lambda image: image.phase != "final")  # the final first
    compare = (source.pk, made[0].pk) if isinstance(source, Image) and made else None
    editable: list[Picture] = []
    if acting_role(user, Action.SUBMIT, project=generation.project_id) is not None:
        editable = [*made, *(ref.upload for ref in refs if ref.upload is not None)]
    return EditLinks(source=source, compare_ids=compare, editable=editable)
