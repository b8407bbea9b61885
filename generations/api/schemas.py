"""What the API takes and gives, as pydantic schemas: the OpenAPI document is generated
from these. Money is a decimal string ("0.1340"): exact, as the ledger keeps it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from ninja import Field, Schema
from pydantic import BaseModel

from generations.review.decisions import DiffersChoice
from generations.services import MAX_SUBMISSIONS_AT_ONCE, MAX_VARIANTS
from generations.states import State
from generations.strategies import Strategy


class Out(BaseModel):
    """What the API answers with. Plain pydantic, not Ninja's Schema: the answers are
    built as dicts (generations.api.represent), and Schema's per-object wrapper for
    reading ORM attributes took a quarter of a list page's time."""


# --- errors ------------------------------------------------------------------------------


class ErrorDetail(Out):
    code: str = Field(description="Stable, for programs: see the API section of the README.")
    message: str = Field(description="For people: what went wrong and what to do.")
    fields: dict[str, list[str]] | None = Field(
        None, description="Per field (dotted path), when the request's fields are at fault."
    )


class ErrorOut(Out):
    error: ErrorDetail


# --- who is asking ---------------------------------------------------------------------------


class TokenOut(Out):
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    scope: Literal["read", "write"]
    created_at: dt.datetime
    last_used_at: dt.datetime | None


class MeOut(Out):
    username: str
    token: TokenOut


class ModelOut(Out):
    key: str
    label: str
    aspect_ratios: list[str]
    preview_sizes: list[str]
    final_size: str
    simulated: bool = Field(description="Rendered by the local provider (no key configured).")


class ProjectOut(Out):
    slug: str
    name: str
    roles: list[Literal["designer", "reviewer", "admin"]]
    review_required: bool
    four_eyes: bool
    final_size: str
    default_model_key: str
    default_preview_size: str
    models: list[ModelOut] = Field(description="The models this project allows.")


# --- submissions ---------------------------------------------------------------------------


class SubmissionIn(Schema):
    prompt: str = Field(min_length=1, max_length=4000)
    model_key: str | None = Field(None, description="Default: the project's default model.")
    aspect_ratio: str = "1:1"
    preview_size: str | None = Field(
        None, description="Default: the model's largest preview size below the project's final."
    )
    variants: int = Field(1, ge=1, le=MAX_VARIANTS)
    final_model_key: str | None = Field(
        None,
        description="The model approved previews become finals on (cross-model previews: a "
        "pair the catalogue declares, e.g. nano-banana-2 previews for nano-banana-pro "
        "finals). Default: the preview's model.",
    )


class SubmissionBatchIn(Schema):
    submissions: list[SubmissionIn] = Field(min_length=1, max_length=MAX_SUBMISSIONS_AT_ONCE)


class GenerationRef(Out):
    id: int
    variant: int
    state: State
    url: str


class SubmissionOut(Out):
    id: int
    project: str
    prompt: str
    model_key: str
    final_model_key: str
    aspect_ratio: str
    preview_size: str
    final_size: str
    variants: int
    created_by: str
    created_at: dt.datetime
    parent_generation_id: int | None
    generations: list[GenerationRef]


class SubmissionBatchOut(Out):
    submissions: list[SubmissionOut]


# --- generations ---------------------------------------------------------------------------


class ChargeOut(Out):
    charged_usd: Decimal = Field(description="The charge with its corrections (refunds < 0).")
    unit_price_usd: Decimal | None
    simulated: bool
    corrected: bool


class AttemptOut(Out):
    number: int
    phase: Literal["preview", "final"]
    size: str
    provider: str
    model_id: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str
    latency_ms: int | None
    error_kind: str
    error_message: str
    retryable: bool | None
    strategy: str = Field(
        description='How a final was made: from_preview, from_prompt or upscale; "" for a preview.'
    )
    input_images: int = Field(description="Images the request carried (e.g. the approved preview).")
    charge: ChargeOut | None = Field(description="What the ledger charged; null: not charged.")


class ChargesOut(Out):
    total_usd: Decimal
    simulated: bool


class DownloadsOut(Out):
    original: str
    screen: str | None = Field(description="WebP rendition; null until made.")
    thumbnail: str | None = Field(description="WebP rendition; null until made.")


class FidelityOut(Out):
    ssim: float = Field(description="Structural similarity on luma at 256 px: 1.0 is identical.")
    hash_distance: int | None = Field(description="Perceptual-hash bits that differ (of 64).")


class ImageOut(Out):
    id: int
    phase: Literal["preview", "final"]
    width: int
    height: int
    mime_type: str
    byte_size: int
    sha256: str
    native: bool = Field(description="False for a local upscale (final's size, not detail).")
    note: str
    fidelity: FidelityOut | None = Field(
        description="A final against its approved preview; null for a preview or not measured."
    )
    downloads: DownloadsOut


class SubmissionBrief(Out):
    id: int
    prompt: str
    model_key: str
    final_model_key: str
    aspect_ratio: str
    preview_size: str
    final_size: str
    created_by: str
    parent_generation_id: int | None


class GenerationOut(Out):
    id: int
    url: str
    project: str
    submission: SubmissionBrief
    variant: int
    seed: int
    state: State
    state_label: str
    state_changed_at: dt.datetime
    created_at: dt.datetime
    attempt_count: int
    next_attempt_at: dt.datetime | None
    waiting_reason: str
    last_error: str
    escalation_strategy: str = Field(
        description='The way its final is made when the approval chose one; "": the project\'s.'
    )
    final_lane: Literal["standard", "batch"] = Field(
        description="The lane its final goes by (set at approval): standard or batch (economy)."
    )
    not_before: dt.datetime | None = Field(
        description="An off-peak final waits until then before a worker takes it; null: now."
    )
    attempts: list[AttemptOut]
    charges: ChargesOut
    images: list[ImageOut]


class TransitionOut(Out):
    from_state: str
    to_state: str
    actor_kind: str
    actor: str | None
    reason: str
    attempt: int | None
    at: dt.datetime


class GenerationDetailOut(GenerationOut):
    timeline: list[TransitionOut]


class GenerationPageOut(Out):
    items: list[GenerationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last.")
    next: str | None = Field(description="The next page's URL, same filters; null: last.")


class GenerationFilters(Schema):
    project: str | None = Field(None, description="A project's slug.")
    state: State | None = None
    model_key: str | None = None
    q: str | None = Field(None, max_length=200, description="Every word in the prompt.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")
    limit: int = Field(50, ge=1, le=100)


class NoteIn(Schema):
    note: str = Field("", max_length=2000)


class ApproveIn(NoteIn):
    strategy: Strategy | None = Field(
        None, description="How to make the final; null: the project's escalation strategy."
    )
    lane: Literal["standard", "batch", "now", "offpeak"] | None = Field(
        None,
        description="When and at what price the final is made; null: the project's default "
        "lane. standard or now: right away, at the list price; batch: the economy lane "
        "(the provider's batch API, half price, up to 24 h; Gemini models only, else 422); "
        "offpeak: the list price, held for the model's good hours up to a deadline.",
    )


class FinalDiffersIn(NoteIn):
    choice: DiffersChoice = Field(
        description="accept: deliver the held final; rerender: a new final from the preview; "
        "upscale: deliver an upscale of the preview."
    )


class CommentIn(Schema):
    comment: str = Field(max_length=2000, description="Required: the designer reads it.")


class ReasonIn(Schema):
    reason: str = Field("", max_length=500)


# --- spend ----------------------------------------------------------------------------------


# A calendar day as YYYY-MM-DD, nothing else (a bare date type would take "0" as 1970).
_DAY = r"^\d{4}-\d{2}-\d{2}$"


class SpendQuery(Schema):
    date_from: str | None = Field(
        None,
        pattern=_DAY,
        json_schema_extra={"format": "date"},
        description="First local day (YYYY-MM-DD); default: 30 days ago.",
    )
    date_to: str | None = Field(
        None,
        pattern=_DAY,
        json_schema_extra={"format": "date"},
        description="Day after the last (not included); default: tomorrow.",
    )
    project: str | None = Field(None, description="A project's slug; default: all yours.")
    grain: Literal["day", "week", "month"] = "day"


class MeasuresOut(Out):
    images: int
    charges: Decimal
    refunds: Decimal
    adjustments: Decimal
    net: Decimal
    waste: Decimal
    simulated: Decimal


class TotalsOut(MeasuresOut):
    real: Decimal = Field(description="net less simulated: money actually spent.")


class BreakdownRow(MeasuresOut):
    key: str


class BarOut(Out):
    start: dt.date
    label: str
    by_model: dict[str, Decimal]
    total: Decimal


class SpendOut(Out):
    date_from: dt.date
    date_to: dt.date
    project: str | None
    grain: Literal["day", "week", "month"]
    totals: TotalsOut
    series: list[BarOut]
    breakdowns: dict[str, list[BreakdownRow]] = Field(
        description="By project, person, model, size and lane; biggest net first."
    )
