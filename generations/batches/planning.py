"""From what a designer uploads or writes to the rows a batch will create.

Two sources, one result:
- a CSV file with the header `prompt,aspect_ratio,variants,model,preview_size` and an
  optional `reference_image_ids` column (any order; "aspect ratio" or "model_key" are
  read too; comma, semicolon or tab separated; UTF-8);
- a prompt matrix: a template such as "{product} on a {surface}, {light}", a list of
  values per placeholder, and a list of aspect ratios — every combination is a row.

`Plan.problems` are what make the input unusable as a whole (not text, a wrong header,
too many rows, a matrix that expands past the limit): no rows at all then. Otherwise
every row is checked on its own with the submit form's rules
(services.submission_validate) and lands either in `rows` (what queueing will create)
or in `refused` with its reasons. Nothing here writes.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from generations import catalog
from generations.models import Project
from generations.services import MAX_PROMPT_CHARS, MAX_VARIANTS, prompt_clean, submission_validate
from generations.sizes import PREVIEW_SIZES, SIZES

MAX_FILE_BYTES = 4 * 1024 * 1024
COLUMNS = ("prompt", "aspect_ratio", "variants", "model", "preview_size", "reference_image_ids")
REQUIRED = COLUMNS[:5]
HEADER_HINT = "prompt,aspect_ratio,variants,model,preview_size[,reference_image_ids]"
_ALIASES = {"model_key": "model", "aspect": "aspect_ratio", "size": "preview_size"}
_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx or .numbers spreadsheet?)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls?)"),
)
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def max_rows() -> int:
    return int(settings.STUDIO_BATCH_MAX_ROWS)


@dataclass(frozen=True)
class Row:
    """One submission the batch will create."""

    row: int  # 1-based, in the order of the file or the expansion
    prompt: str
    model_key: str
    aspect_ratio: str
    preview_size: str
    variants: int
    reference_image_ids: tuple[str, ...] = ()
    line: int | None = None  # where the row starts in the file (CSV only)

    def as_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "line": self.line,
            "prompt": self.prompt,
            "model_key": self.model_key,
            "aspect_ratio": self.aspect_ratio,
            "preview_size": self.preview_size,
            "variants": self.variants,
            "reference_image_ids": list(self.reference_image_ids),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(
            row=int(data["row"]),
            line=data.get("line"),
            prompt=str(data["prompt"]),
            model_key=str(data["model_key"]),
            aspect_ratio=str(data["aspect_ratio"]),
            preview_size=str(data["preview_size"]),
            variants=int(data["variants"]),
            reference_image_ids=tuple(data.get("reference_image_ids") or ()),
        )


@dataclass(frozen=True)
class Refused:
    """A row that will not be created, with what it said and why."""

    row: int
    cells: dict[str, str]
    errors: list[str]
    line: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "line": self.line, "cells": self.cells, "errors": self.errors}


@dataclass
class Plan:
    rows: list[Row] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the input as a whole is unusable

    @property
    def ok(self) -> bool:
        return not self.problems and not self.refused and bool(self.rows)


# --- checking one row ------------------------------------------------------------------


class RowChecker:
    """The submit form's rules for one row at a time, with the catalogue's answers kept
    (a thousand rows ask about the same few models)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._known: dict[tuple[str, str, str], list[str]] = {}
        self._models = {model.key for model in catalog.all_models()}

    def check(
        self,
        row: int,
        cells: dict[str, str],
        *,
        line: int | None = None,
        errors: list[str] | None = None,
    ) -> Row | Refused:
        errors = list(errors or [])
        prompt = prompt_clean(cells.get("prompt", ""))
        model_key = cells.get("model", "").strip()
        aspect_ratio = cells.get("aspect_ratio", "").strip()
        preview_size = cells.get("preview_size", "").strip().upper()
        raw_variants = cells.get("variants", "").strip()
        if not prompt:
            errors.append("The prompt is empty.")
        elif len(prompt) > MAX_PROMPT_CHARS:
            errors.append(
                f"The prompt has {len(prompt):,} characters; at most {MAX_PROMPT_CHARS:,}."
            )
        variants = int(raw_variants) if raw_variants.isdecimal() else 0
        if not 1 <= variants <= MAX_VARIANTS:
            errors.append(
                f"Variants must be a whole number from 1 to {MAX_VARIANTS}, not “{raw_variants}”."
            )
        if not model_key:
            errors.append("No model.")
        elif model_key not in self._models:
            known = ", ".join(sorted(self._models))
            errors.append(f"Unknown model “{model_key}” (known: {known}).")
        if not aspect_ratio:
            errors.append("No aspect ratio.")
        if not preview_size:
            errors.append("No preview size.")
        elif preview_size not in SIZES:
            sizes = f"{', '.join(PREVIEW_SIZES[:-1])} or {PREVIEW_SIZES[-1]}"
            errors.append(f"Unknown preview size “{preview_size}” (use {sizes}).")
        if model_key in self._models and aspect_ratio and preview_size in SIZES:
            errors.extend(self._rules(model_key, aspect_ratio, preview_size))
        references = tuple(
            ref for ref in re.split(r"[\s,;|]+", cells.get("reference_image_ids", "")) if ref
        )
        refusal = references_refusal(references, project=self.project)
        if refusal:
            errors.append(refusal)
        if errors:
            return Refused(row=row, line=line, cells=cells, errors=errors)
        return Row(
            row=row,
            line=line,
            prompt=prompt,
            model_key=model_key,
            aspect_ratio=aspect_ratio,
            preview_size=preview_size,
            variants=variants,
            reference_image_ids=references,
        )

    def _rules(self, model_key: str, aspect_ratio: str, preview_size: str) -> list[str]:
        """What the submit form's rules say of a model × ratio × size here (variants and
        the prompt are checked above)."""
        key = (model_key, aspect_ratio, preview_size)
        if key not in self._known:
            try:
                submission_validate(
                    project=self.project,
                    prompt="-",
                    model_key=model_key,
                    aspect_ratio=aspect_ratio,
                    preview_size=preview_size,
                    variants=1,
                )
            except ValidationError as invalid:
                self._known[key] = [m for ms in invalid.message_dict.values() for m in ms]
            else:
                self._known[key] = []
        return self._known[key]


def references_refusal(ids: Sequence[str], *, project: Project) -> str | None:
    """Reference images per row. The seam for when they exist: look the ids up among the
    project's images here, and pass them on with the row (Row.reference_image_ids) to
    the submission. Until then a row that names any is refused."""
    if ids:
        return "Reference images are not supported yet: leave reference_image_ids empty."
    return None


def check_rows(
    project: Project,
    cells: Iterable[tuple[int, int | None, dict[str, str]]],
    *,
    errors: dict[int, list[str]] | None = None,
) -> Plan:
    """Check every row; `errors` adds what the caller found (by row number)."""
    checker = RowChecker(project)
    plan = Plan()
    for number, line, row_cells in cells:
        checked = checker.check(number, row_cells, line=line, errors=(errors or {}).get(number))
        if isinstance(checked, Row):
            plan.rows.append(checked)
        else:
            plan.refused.append(checked)
    return plan


# --- CSV ---------------------------------------------------------------------------------


def plan_csv(project: Project, data: bytes) -> Plan:
    text, problem = _as_text(data)
    if text is None:
        return Plan(problems=[problem])
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
    except csv.Error as error:
        return Plan(problems=[f"Line {reader.line_num}: {error}. Is this a CSV file?"])
    if header is None:
        return Plan(problems=["The file is empty."])
    columns, problems = _columns(header)
    if problems:
        return Plan(problems=problems)
    limit = max_rows()
    found: list[tuple[int, int | None, dict[str, str]]] = []
    shape_errors: dict[int, list[str]] = {}
    total = 0
    try:
        while True:
            line = reader.line_num + 1
            cells = next(reader, None)
            if cells is None:
                break
            if not any(cell.strip() for cell in cells):
                continue
            total += 1
            if total > limit:
                continue  # counted for the message, not kept
            if len(cells) != len(columns):
                shape_errors[total] = [
                    f"It has {len(cells)} value{'s' if len(cells) != 1 else ''} but the header "
                    f"has {len(columns)} columns."
                ]
            values = dict(zip(columns, cells, strict=False))
            found.append((total, line, {key: values.get(key, "") for key in columns}))
    except csv.Error as error:
        return Plan(problems=[f"Line {reader.line_num}: {error}."])
    if total == 0:
        return Plan(problems=["The file has a header but no rows."])
    if total > limit:
        return Plan(
            problems=[
                f"The file has {total:,} rows; a batch takes at most {limit:,}. "
                "Split it into several files."
            ]
        )
    return check_rows(project, found, errors=shape_errors)


def size_refusal(size: int) -> str | None:
    """Why a file of `size` bytes is not read at all, or None."""
    if size <= MAX_FILE_BYTES:
        return None
    return (
        f"The file is {size / 1024 / 1024:.1f} MB; a batch file may be at most "
        f"{MAX_FILE_BYTES // 1024 // 1024} MB."
    )


def _as_text(data: bytes) -> tuple[str | None, str]:
    too_large = size_refusal(len(data))
    if too_large:
        return None, too_large
    if not data.strip():
        return None, "The file is empty."
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return None, f"This is {kind}, not a CSV text file. Export the sheet as CSV (UTF-8)."
    if b"\x00" in data:
        return None, "This is not a text file (it contains NUL bytes). Upload a CSV saved as UTF-8."
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return None, (
            f"This is not UTF-8 text (line {line:,} has bytes that cannot be read). "
            "Save the CSV as UTF-8 and upload it again."
        )


def _columns(header: list[str]) -> tuple[list[str], list[str]]:
    names = [re.sub(r"[\s\-]+", "_", cell.strip().lower()) for cell in header]
    names = [_ALIASES.get(name, name) for name in names]
    problems: list[str] = []
    unknown = [raw.strip() for raw, name in zip(header, names, strict=True) if name not in COLUMNS]
    missing = [name for name in REQUIRED if name not in names]
    repeated = sorted({name for name in names if name in COLUMNS and names.count(name) > 1})
    if missing:
        problems.append(f"The header lacks {_listed(missing)}.")
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        problems.append(f"The header has unknown column{plural} {_listed(unknown)}.")
    if repeated:
        problems.append(f"The header repeats {_listed(repeated)}.")
    if problems:
        problems.append(f"Expected a first line like: {HEADER_HINT}")
    return names, problems


def _listed(names: Sequence[str]) -> str:
    quoted = [f"“{name}”" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


# --- the prompt matrix -------------------------------------------------------------------


def parse_lists(text: str) -> tuple[dict[str, list[str]], list[str]]:
    """Lines "name: value | value | …" -> {name: [values]}, and what is wrong."""
    lists: dict[str, list[str]] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, rest = line.partition(":")
        name = name.strip().strip("{}")
        if not colon:
            problems.append(f"List line {number}: write it as “name: value | value | …”.")
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            problems.append(
                f"List line {number}: “{name}” is not a placeholder name (letters, digits, _)."
            )
            continue
        if name in lists:
            problems.append(f"The list “{name}” is given twice.")
            continue
        values = [value.strip() for value in rest.split("|") if value.strip()]
        if not values:
            problems.append(f"The list “{name}” has no values.")
            continue
        lists[name] = values
    return lists, problems


def plan_matrix(
    project: Project,
    *,
    template: str,
    lists_text: str,
    aspect_ratios: Sequence[str],
    model_key: str,
    preview_size: str,
    variants: int,
) -> Plan:
    template = template.strip()
    problems: list[str] = []
    if not template:
        problems.append("Write a template, e.g. “{product} on a {surface}, {light}”.")
    names = list(dict.fromkeys(PLACEHOLDER.findall(template)))
    if PLACEHOLDER.sub("", template).count("{") or PLACEHOLDER.sub("", template).count("}"):
        problems.append("The template has a { or } that is not part of a {placeholder}.")
    lists, list_problems = parse_lists(lists_text)
    problems.extend(list_problems)
    for name in names:
        if name not in lists and not list_problems:
            problems.append(f"The placeholder {{{name}}} has no list of values.")
    for name in lists:
        if name not in names:
            problems.append(f"The list “{name}” is not used in the template.")
    ratios = list(dict.fromkeys(ratio for ratio in aspect_ratios if ratio))
    if not ratios:
        problems.append("Pick at least one aspect ratio.")
    if problems:
        return Plan(problems=problems)
    sizes = [len(lists[name]) for name in names]
    count = math.prod(sizes) * len(ratios)
    limit = max_rows()
    if count > limit:
        factors = " × ".join(
            [f"{size} {name}" for size, name in zip(sizes, names, strict=True)]
            + [f"{len(ratios)} aspect ratio{'s' if len(ratios) != 1 else ''}"]
        )
        return Plan(
            problems=[
                f"The matrix expands to {factors} = {count:,} rows; a batch takes at most "
                f"{limit:,}. Shorten a list or pick fewer aspect ratios."
            ]
        )
    cells = []
    number = 0
    for combination in itertools.product(*(lists[name] for name in names)):
        prompt = _fill(template, dict(zip(names, combination, strict=True)))
        for ratio in ratios:
            number += 1
            cells.append(
                (
                    number,
                    None,
                    {
                        "prompt": prompt,
                        "aspect_ratio": ratio,
                        "variants": str(variants),
                        "model": model_key,
                        "preview_size": preview_size,
                    },
                )
            )
    return check_rows(project, cells)


def _fill(template: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
