"""Compare 2–4 images: which ones a user may open, what the metadata table shows (with
the differences marked, the prompt diffed word by word), and designers' favourites.

Reads (`images_for_compare`, `comparison_build`) and the one write (`favourite_set`)
follow the selectors/services conventions; the views in generations.views.compare only
parse the request and call these.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Final

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404
from django.template.defaultfilters import filesizeformat

from generations import catalog, references, selectors, strategies
from generations.imaging.codec import SCREEN_EDGE
from generations.models import Attempt, Favourite, Image, Phase, Reference, ReferenceRole, Role
from generations.permissions import Action, can, roles_in, visible_generations
from generations.spend.money import money
from generations.states import State
from generations.types import User

MIN_IMAGES: Final = 2
MAX_IMAGES: Final = 4
# Who may mark a favourite. Kept here until permissions' table grows an action for it.
FAVOURITE_ROLES: Final = frozenset({Role.DESIGNER, Role.ADMIN})
_MAX_ID_DIGITS: Final = 18  # fits a 64-bit key; longer is not an id of ours


class BadSelection(ValueError):
    """The `images` parameter does not name 2–4 distinct images."""


def parse_image_ids(raw: str) -> list[int]:
    """ "12,13, 14" -> [12, 13, 14]: distinct ids in the order given, 2 to 4 of them."""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not all(
        part.isdecimal() and part.isascii() and len(part) <= _MAX_ID_DIGITS for part in parts
    ):
        raise BadSelection("Image ids are whole numbers separated by commas, e.g. ?images=12,13.")
    ids = list(dict.fromkeys(int(part) for part in parts))
    if not MIN_IMAGES <= len(ids) <= MAX_IMAGES:
        raise BadSelection(
            f"Compare takes {MIN_IMAGES} to {MAX_IMAGES} different images; "
            f"this link names {len(ids)}."
        )
    return ids


def compare_url_query(ids: Sequence[int]) -> str:
    return "images=" + ",".join(str(pk) for pk in ids)


# --- reads -----------------------------------------------------------------------------


def images_for_compare(*, user: User, ids: Sequence[int]) -> list[Image]:
    """The images, in the order asked, or 404 if the user may not view ANY of them.

    Literally the media view's rule (selectors.image_get, then the VIEW action) for each
    id, and the same answer for an image that does not exist: nothing says which failed.
    """
    for pk in ids:
        image = selectors.image_get(user=user, pk=pk)
        if not can(user, Action.VIEW, image.generation):
            raise Http404("No such image.")
    found = {
        image.pk: image
        for image in Image.objects.select_related(
            "generation",
            "generation__submission",
            "generation__submission__created_by",
            "generation__project",
            "attempt",
        )
        .prefetch_related(
            Prefetch("generation__attempts", queryset=Attempt.objects.order_by("number")),
            Prefetch("favourites", queryset=Favourite.objects.select_related("user")),
            Prefetch(
                "generation__submission__references",
                queryset=Reference.objects.select_related("image", "upload").order_by("position"),
            ),
        )
        .filter(generation__in=visible_generations(user), pk__in=list(ids))
    }
    if any(pk not in found or not can(user, Action.VIEW, found[pk].generation) for pk in ids):
        raise Http404("No such image.")
    return [found[pk] for pk in ids]


def can_favourite(user: User, image: Image) -> bool:
    return bool(roles_in(user, image.generation.project_id) & FAVOURITE_ROLES)


@dataclass(frozen=True)
class Segment:
    """A run of a word diff: "equal", "insert" (only in this prompt) or "delete"."""

    op: str
    text: str


@dataclass(frozen=True)
class Cell:
    text: str
    detail: str = ""
    key: Any = None  # what is compared across the row (the text when None)
    segments: tuple[Segment, ...] = ()
    vs_first: str = ""  # e.g. "×16" against the first image
    changed: bool = False  # differs from the first image
    pictures: tuple[Any, ...] = ()  # thumbnails shown in the cell (input images)

    @property
    def compared(self) -> Any:
        return self.text if self.key is None else self.key


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    cells: tuple[Cell, ...]

    @property
    def differs(self) -> bool:
        return len({cell.compared for cell in self.cells}) > 1


@dataclass(frozen=True)
class Compared:
    """One image in a compare, with what its pane and column show."""

    image: Image
    number: int  # 1-based: its pane's keyboard shortcut
    title: str  # "Preview #12"
    screen_width: int  # the screen rendition's pixel size: above it, the original loads
    screen_height: int
    can_approve: bool
    can_reject: bool
    can_favourite: bool
    is_favourite: bool
    favourite_of: tuple[str, ...] = field(default=())

    @property
    def generation(self) -> Any:
        return self.image.generation

    @property
    def phase_label(self) -> str:
        return Phase(self.image.phase).label


@dataclass(frozen=True)
class Comparison:
    items: tuple[Compared, ...]
    rows: tuple[Row, ...]
    ids: tuple[int, ...]

    @property
    def query(self) -> str:
        return compare_url_query(self.ids)

    @property
    def differing(self) -> int:
        return sum(row.differs for row in self.rows)


def comparison_build(*, user: User, images: Sequence[Image]) -> Comparison:
    """Everything the compare page shows of `images` (already permission-checked)."""
    items = tuple(_compared(user, number, image) for number, image in enumerate(images, 1))
    rows = tuple(_mark_changes(row) for row in _rows(images))
    return Comparison(items=items, rows=rows, ids=tuple(image.pk for image in images))


def _compared(user: User, number: int, image: Image) -> Compared:
    generation = image.generation
    in_review = generation.state == State.IN_REVIEW
    screen = _rendition_size(image)
    names = tuple(favourite.user.get_username() for favourite in image.favourites.all())
    return Compared(
        image=image,
        number=number,
        title=f"{Phase(image.phase).label} #{generation.pk}",
        screen_width=screen[0],
        screen_height=screen[1],
        can_approve=in_review and can(user, Action.APPROVE, generation),
        can_reject=in_review and can(user, Action.REJECT, generation),
        can_favourite=can_favourite(user, image),
        is_favourite=any(favourite.user_id == user.pk for favourite in image.favourites.all()),
        favourite_of=names,
    )


def _rendition_size(image: Image) -> tuple[int, int]:
    """The pixel size of what /media/<id>/screen returns (imaging: never upscaled; the
    original itself when no rendition is stored)."""
    scale = SCREEN_EDGE / max(image.width, image.height)
    if not image.screen.name or scale >= 1:
        return image.width, image.height
    return max(1, round(image.width * scale)), max(1, round(image.height * scale))


# --- the metadata table ----------------------------------------------------------------


def _rows(images: Sequence[Image]) -> list[Row]:
    reference_prompt = images[0].generation.submission.prompt
    spend = image_spend(images)
    specs: list[tuple[str, str, Callable[[Image], Cell]]] = [
        ("state", "State", _state_cell),
        ("model", "Model", _model_cell),
        ("size", "Requested size", _size_cell),
        ("pixels", "Pixel dimensions", _pixels_cell),
        ("bytes", "File size", _bytes_cell),
        ("bpp", "Bytes per pixel", _bpp_cell),
        ("native", "Native or upscaled", _native_cell),
        ("fidelity", "Fidelity to the approved preview", _fidelity_cell),
        ("attempts", "Attempts", _attempts_cell),
        ("latency", "Latency", _latency_cell),
        ("cost", "Cost", lambda image: _cost_cell(image, spend)),
        ("seed", "Seed", lambda image: Cell(str(image.generation.seed))),
        ("prompt", "Prompt", lambda image: _prompt_cell(reference_prompt, image)),
        ("inputs", "Input images", _inputs_cell),
        ("favourite", "Favourite of", _favourite_cell),
    ]
    rows = [Row(key, label, tuple(make(image) for image in images)) for key, label, make in specs]
    _add_ratios(rows, images)
    return rows


def _mark_changes(row: Row) -> Row:
    first = row.cells[0].compared
    cells = tuple(
        replace(cell, changed=index > 0 and cell.compared != first)
        for index, cell in enumerate(row.cells)
    )
    return Row(row.key, row.label, cells)


def _state_cell(image: Image) -> Cell:
    return Cell(State(image.generation.state).label, key=image.generation.state)


def _model_cell(image: Image) -> Cell:
    # The image's own model (a final may come from another model than its preview).
    model_key = image.model_key or image.generation.submission.model_key
    try:
        label = catalog.get_model(model_key).label.split(" (")[0]
    except LookupError:
        label = model_key
    attempt = image.attempt
    detail = f"{attempt.model_id} · {attempt.provider}" if attempt else ""
    return Cell(label, detail=detail, key=(model_key, detail))


def _requested_size(image: Image) -> str:
    if image.attempt is not None:
        return image.attempt.size
    submission = image.generation.submission
    return submission.preview_size if image.phase == Phase.PREVIEW else submission.final_size


def _size_cell(image: Image) -> Cell:
    size, ratio = _requested_size(image), image.generation.submission.aspect_ratio
    return Cell(size, detail=f"aspect {ratio}", key=(size, ratio))


def _pixels_cell(image: Image) -> Cell:
    megapixels = image.width * image.height / 1_000_000
    return Cell(
        f"{image.width} × {image.height}",
        detail=f"{megapixels:.1f} MP",
        key=(image.width, image.height),
    )


def _bytes_cell(image: Image) -> Cell:
    return Cell(
        str(filesizeformat(image.byte_size)),
        detail=f"{image.byte_size:,} B · {image.mime_type.removeprefix('image/').upper()}",
        key=image.byte_size,
    )


def _bpp_cell(image: Image) -> Cell:
    return Cell(f"{image.bytes_per_pixel:.2f}", key=round(image.bytes_per_pixel, 2))


def _native_cell(image: Image) -> Cell:
    if image.native:
        return Cell("native", detail=image.note, key=True)
    return Cell("upscaled, not native", detail=image.note, key=False)


def _fidelity_cell(image: Image) -> Cell:
    """A final's similarity to its approved preview (SSIM 0–1, hash distance 0–64) and
    how it was made; a preview is the reference itself."""
    if image.fidelity_ssim is None:
        return Cell("—", detail="the approved preview" if image.phase == Phase.PREVIEW else "")
    attempt = image.attempt
    made = strategies.label(attempt.strategy).lower() if attempt and attempt.strategy else ""
    detail = " · ".join(filter(None, [f"hash distance {image.fidelity_hash_distance}", made]))
    return Cell(f"{image.fidelity_ssim:.2f}", detail=detail, key=round(image.fidelity_ssim, 2))


def _attempts_cell(image: Image) -> Cell:
    attempts = [a for a in image.generation.attempts.all() if a.phase == image.phase]
    failed = sum(a.outcome == Attempt.Outcome.FAILED for a in attempts)
    detail = f"{failed} failed" if failed else ""
    return Cell(str(len(attempts)), detail=detail, key=(len(attempts), failed))


def _latency_cell(image: Image) -> Cell:
    latency = image.attempt.latency_ms if image.attempt else None
    if latency is None:
        return Cell("—", key=None)
    text = f"{latency} ms" if latency < 1000 else f"{latency / 1000:.1f} s"
    return Cell(text, key=latency)


def image_spend(images: Sequence[Image]) -> dict[int, selectors.Spend]:
    """image id -> its charge from the ledger, for all the images in one query. An image
    without a charge (a fallback final: no call of its own) is absent."""
    by_attempt = {image.attempt_id: image.pk for image in images if image.attempt_id}
    spend = selectors.attempt_spend(attempt_ids=list(by_attempt))
    return {by_attempt[attempt_id]: found for attempt_id, found in spend.items()}


def _cost_cell(image: Image, spend: dict[int, selectors.Spend]) -> Cell:
    found = spend.get(image.pk)
    if found is None:
        why = "no render of its own" if image.attempt_id is None else "not charged"
        return Cell(money(0), detail=why, key=(Decimal(0), None))
    details = []
    if found.unit_price is None:
        details.append("no price in the list")
    if found.simulated:
        details.append("local simulation at list price: no money moved")
    if found.corrected:
        details.append(f"corrected from {money(found.unit_price or 0)}")
    detail = " · ".join(details) or "charged"
    return Cell(money(found.charged), detail=detail, key=(found.charged, found.simulated))


def _inputs_cell(image: Image) -> Cell:
    """The submission's input images (references; an edit's source first), in order."""
    refs = list(image.generation.submission.references.all())
    if not refs:
        return Cell("none", key=())
    names = tuple(
        ("edited: " if ref.role == ReferenceRole.SOURCE else "")
        + (references.label_of(ref.picture) if ref.picture else "gone")
        for ref in refs
    )
    return Cell(
        f"{len(refs)} input image{'s' if len(refs) != 1 else ''}",
        detail=" · ".join(names),
        key=tuple((ref.image_id, ref.upload_id) for ref in refs),
        pictures=tuple(ref.picture for ref in refs if ref.picture is not None),
    )


def _favourite_cell(image: Image) -> Cell:
    names = tuple(favourite.user.get_username() for favourite in image.favourites.all())
    return Cell(", ".join(names) or "—", key=names)


def _prompt_cell(reference: str, image: Image) -> Cell:
    prompt = image.generation.submission.prompt
    return Cell(prompt, segments=tuple(word_diff(reference, prompt)), key=prompt)


def _add_ratios(rows: list[Row], images: Sequence[Image]) -> None:
    """ "×16" beside the pixels, bytes and latency of every image but the first."""
    measures: dict[str, Callable[[Image], float | None]] = {
        "pixels": lambda image: image.width * image.height,
        "bytes": lambda image: image.byte_size,
        "latency": lambda image: image.attempt.latency_ms if image.attempt else None,
    }
    for index, row in enumerate(rows):
        measure = measures.get(row.key)
        if measure is None:
            continue
        first = measure(images[0])
        cells = list(row.cells)
        for position, image in enumerate(images[1:], 1):
            value = measure(image)
            if first and value is not None and value != first:
                cells[position] = replace(cells[position], vs_first=_ratio(value / first))
        rows[index] = Row(row.key, row.label, tuple(cells))


def _ratio(value: float) -> str:
    return f"×{value:.2f}".rstrip("0").rstrip(".") if value < 10 else f"×{value:.0f}"


# Words, runs of punctuation, and the whitespace between them (kept, so the prompt reads
# as written); only words and punctuation are matched.
_TOKENS = re.compile(r"\s+|\w+(?:['’-]\w+)*|[^\w\s]+")


def word_diff(reference: str, other: str) -> list[Segment]:
    """`other` against `reference`, word by word: runs of equal, inserted (only in
    `other`) and deleted (only in `reference`) text, in reading order."""
    a, b = _TOKENS.findall(reference), _TOKENS.findall(other)
    matcher = difflib.SequenceMatcher(isjunk=str.isspace, a=a, b=b, autojunk=False)
    segments: list[Segment] = []

    def emit(op: str, tokens: list[str]) -> None:
        text = "".join(tokens)
        if not text:
            return
        if op != "equal" and text.isspace():
            op = "equal"  # a changed gap is not worth a mark
        if segments and segments[-1].op == op:
            segments[-1] = Segment(op, segments[-1].text + text)
        else:
            segments.append(Segment(op, text))

    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            emit("equal", b[j1:j2])
        elif op == "insert":
            emit("insert", b[j1:j2])
        elif op == "delete":
            emit("delete", a[i1:i2])
        else:  # replace: what went, then what came
            emit("delete", a[i1:i2])
            emit("insert", b[j1:j2])
    return segments


# --- writes ----------------------------------------------------------------------------


def favourite_set(*, image_id: int, user: User, favourite: bool) -> bool:
    """Mark or unmark `image_id` as one of `user`'s favourites; returns the new state.

    404 for an image the user may not view; PermissionDenied unless they are a designer
    (or admin) in its project.
    """
    image = images_for_compare(user=user, ids=[image_id])[0]
    if not can_favourite(user, image):
        raise PermissionDenied("Only designers mark favourites.")
    if favourite:
        Favourite.objects.get_or_create(image=image, user=user)
    else:
        Favourite.objects.filter(image=image, user=user).delete()
    return favourite
