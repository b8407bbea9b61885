"""Forms parse and type what people send; the rules themselves live in the services,
whose ValidationErrors are attached back to these fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from generations import catalog, offpeak
from generations.lanes import Lane
from generations.models import (
    BudgetPeriod,
    FallbackPolicy,
    Project,
    Role,
    TokenScope,
    WebhookDelivery,
    WebhookEvent,
)
from generations.projects import project_default_model, project_default_preview_size, project_models
from generations.quality.drift import METRICS, report_range
from generations.services import MAX_VARIANTS
from generations.sizes import ASPECT_RATIOS, PREVIEW_SIZES
from generations.states import State
from generations.strategies import Strategy
from generations.types import User
from generations.widgets import BoundedDateField, DateInput

VARIANT_CHOICES = [(n, str(n)) for n in range(1, MAX_VARIANTS + 1)]
_ASPECT_HINTS = {
    "1:1": "square",
    "16:9": "landscape",
    "9:16": "portrait",
    "21:9": "ultrawide",
}


def _aspect_choices() -> list[tuple[str, str]]:
    offered = {ratio for model in catalog.all_models() for ratio in model.aspect_ratios}
    ordered = [r for r in ASPECT_RATIOS if r in offered] + sorted(offered - set(ASPECT_RATIOS))
    return [(r, f"{r} · {_ASPECT_HINTS[r]}" if r in _ASPECT_HINTS else r) for r in ordered]


def _model_choices() -> list[tuple[str, str]]:
    return [(model.key, model.label) for model in catalog.all_models()]


def _size_choices() -> list[tuple[str, str]]:
    offered = {size for model in catalog.all_models() for size in model.preview_sizes}
    return [(s, s) for s in PREVIEW_SIZES if s in offered]


class ModelSelect(forms.Select):
    """Each model option says which aspect ratios and preview sizes it offers, so the
    page can grey out the others (static/js/studio.js); the service still checks."""

    def create_option(
        self,
        name: str,
        value: Any,
        label: Any,
        selected: bool,
        index: int,
        subindex: int | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        try:
            model = catalog.get_model(str(value))
        except LookupError:
            return option
        option["attrs"]["data-aspect-ratios"] = " ".join(model.aspect_ratios)
        option["attrs"]["data-preview-sizes"] = " ".join(model.preview_sizes)
        # The final models its previews may feed ("" = the same model; catalog pairs).
        finals = [m.key for m in catalog.final_models_for(model.key) if m.key != model.key]
        option["attrs"]["data-final-models"] = " ".join(["", *finals])
        return option


def _final_model_choices() -> list[tuple[str, str]]:
    """The same model, and every model that renders finals bigger than its previews; the
    page greys out those the chosen preview model does not feed (the service says why)."""
    finals = [(m.key, m.label) for m in catalog.all_models() if m.can_escalate]
    return [("", "Same as the preview"), *finals]


class VariantsField(forms.IntegerField):
    widget = forms.Select(choices=VARIANT_CHOICES)


class TokensField(forms.Field):
    """Picture tokens ("u12", "i34"), one input each (chips, picker checkboxes); their
    meaning is generations.references' to check."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        return [str(item)[:40] for item in values if str(item).strip()][:64]


class SubmissionForm(forms.Form):
    prompt = forms.CharField(
        max_length=4000,
        required=False,  # the service says what is missing
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": "Describe the image: subject, setting, light, style…",
                "autofocus": True,
                "dir": "auto",  # Arabic and Hebrew prompts read right to left
            }
        ),
    )
    # Callables: the choices follow settings.STUDIO_MODELS at every use.
    model_key = forms.ChoiceField(label="Model", choices=_model_choices, widget=ModelSelect)
    aspect_ratio = forms.ChoiceField(label="Aspect ratio", choices=_aspect_choices)
    preview_size = forms.ChoiceField(label="Preview size", choices=_size_choices)
    variants = VariantsField(label="Variants")
    # Cross-model previews: the final on another model (the catalogue says which pairs).
    final_model_key = forms.ChoiceField(
        label="Final on", choices=_final_model_choices, required=False
    )
    references = TokensField(required=False)

    def __init__(self, *args: Any, project: Project | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if project is not None and project.allowed_models:
            # Only the models the project allows (the service checks it too).
            self.fields["model_key"].choices = [  # type: ignore[attr-defined]
                (model.key, model.label) for model in project_models(project)
            ]
            self.fields["final_model_key"].choices = [  # type: ignore[attr-defined]
                (key, label)
                for key, label in _final_model_choices()
                if not key or key in project.allowed_models
            ]

    @staticmethod
    def defaults(project: Project | None = None) -> dict[str, object]:
        if project is not None:
            model_key = project_default_model(project)
            return {
                "model_key": model_key,
                "aspect_ratio": "1:1",
                "preview_size": project_default_preview_size(project, model_key),
                "variants": 2,
            }
        sizes = [size for size, _ in _size_choices()]
        return {
            "model_key": settings.STUDIO_DEFAULT_MODEL,
            "aspect_ratio": "1:1",
            "preview_size": "2K" if "2K" in sizes else sizes[0],
            "variants": 2,
        }


class ApproveForm(forms.Form):
    note = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Note (optional)"}),
    )
    # How the final is made; empty = the project's escalation strategy.
    strategy = forms.ChoiceField(
        label="Final", choices=[("", "The project's"), *Strategy.choices], required=False
    )
    # The lane: now, economy (the Batch API) or off-peak (now's price, in the model's good
    # hours: generations.offpeak); empty = the project's default lane.
    lane = forms.ChoiceField(label="Lane", choices=offpeak.APPROVAL_LANES, required=False)


class BulkApproveForm(forms.Form):
    """ "Approve selected": one strategy and lane for every selected item (empty: each
    project's); an item whose model has no economy lane is refused on its own."""

    strategy = forms.ChoiceField(
        label="Final", choices=[("", "The project's way"), *Strategy.choices], required=False
    )
    lane = forms.ChoiceField(
        label="Lane",
        choices=[("", "The project's lane"), *offpeak.APPROVAL_LANES[1:]],
        required=False,
    )


class FinalDiffersForm(forms.Form):
    """A reviewer's answer to a final that differs from the approved preview."""

    choice = forms.ChoiceField(
        choices=[("accept", "Accept"), ("rerender", "Re-render"), ("upscale", "Upscale")]
    )
    note = forms.CharField(max_length=500, required=False)


class RejectForm(forms.Form):
    comment = forms.CharField(
        max_length=2000,
        required=False,  # the service insists on it, with its own message
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why? The designer sees this."}),
    )


class RevisionForm(forms.Form):
    prompt = forms.CharField(
        max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 4, "dir": "auto"})
    )
    aspect_ratio = forms.ChoiceField(label="Aspect ratio", choices=_aspect_choices)
    preview_size = forms.ChoiceField(label="Preview size", choices=_size_choices)
    variants = VariantsField(label="Variants")
    keep_seed = forms.BooleanField(
        label="Keep the seed",
        required=False,
        help_text="Same composition, changed prompt: the first variant keeps this seed; "
        "unticked, every variant draws a new one.",
    )


# --- review workflow -------------------------------------------------------------------


class DecisionForm(forms.Form):
    """A reviewer's decision from the review queue: approve, request changes, reject."""

    DECISIONS = [("approve", "Approve"), ("changes", "Request changes"), ("reject", "Reject")]
    decision = forms.ChoiceField(choices=DECISIONS)
    comment = forms.CharField(
        max_length=2000,
        required=False,  # the service insists on it for reject and request changes
        widget=forms.Textarea(attrs={"rows": 1}),
    )
    # How an approval makes the final; empty = the project's escalation strategy.
    strategy = forms.ChoiceField(choices=[("", "The project's"), *Strategy.choices], required=False)
    # Its lane (now, economy or off-peak); empty = the project's default.
    lane = forms.ChoiceField(choices=offpeak.APPROVAL_LANES, required=False)


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        max_length=4000,
        required=False,  # the service says what is missing
        widget=forms.Textarea(
            attrs={
                "rows": 2,
                "dir": "auto",
                "placeholder": "Comment… (click the image to pin it to a spot)",
            }
        ),
    )
    # A pin: which image, and where as fractions of its width and height (0–1).
    image = forms.IntegerField(required=False, widget=forms.HiddenInput)
    x = forms.FloatField(required=False, min_value=0, max_value=1, widget=forms.HiddenInput)
    y = forms.FloatField(required=False, min_value=0, max_value=1, widget=forms.HiddenInput)


def _preview_size_choices() -> list[tuple[str, str]]:
    return [("", "The model’s default"), *_size_choices()]


def _default_model_choices() -> list[tuple[str, str]]:
    return [("", "The site’s default"), *_model_choices()]


class ProjectSettingsForm(forms.Form):
    review_required = forms.BooleanField(
        label="Review required",
        required=False,
        help_text="Off: every preview is approved automatically and rendered as a final.",
    )
    four_eyes = forms.BooleanField(
        label="Four eyes",
        required=False,
        help_text="Nobody may approve a generation they submitted themselves.",
    )
    allowed_models = forms.MultipleChoiceField(
        label="Allowed models",
        choices=_model_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Ticking every model also allows models configured later.",
    )
    default_model_key = forms.ChoiceField(
        label="Default model", choices=_default_model_choices, required=False
    )
    default_preview_size = forms.ChoiceField(
        label="Default preview size", choices=_preview_size_choices, required=False
    )
    final_size = forms.ChoiceField(
        label="Final size", choices=[("2K", "2K"), ("4K", "4K")], initial="4K"
    )
    fallback_policy = forms.ChoiceField(
        label="When the final fails",
        choices=FallbackPolicy.choices,
        widget=forms.RadioSelect,
    )
    escalation_strategy = forms.ChoiceField(
        label="How a final is made",
        choices=Strategy.choices,
        required=False,  # not sent: left as it is
        widget=forms.RadioSelect,
        help_text="Reviewers can choose another way when they approve. A model that takes "
        "no input images renders from the prompt and seed instead, and the approval says so.",
    )
    final_lane = forms.ChoiceField(
        label="Lane of an approved final",
        choices=Lane.choices,
        required=False,  # not sent: left as it is
        widget=forms.RadioSelect,
        help_text="Economy: Gemini's Batch API, half the price, up to 24 h (Gemini models "
        "only; others render now). Reviewers can pick the other lane when they approve.",
    )
    fidelity_threshold = forms.FloatField(
        label="Fidelity threshold",
        min_value=0,
        max_value=1,
        required=False,  # not sent: left as it is
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text="A final less similar than this to its approved preview (SSIM, 0–1) is "
        "not delivered: it waits for a reviewer.",
    )

    @staticmethod
    def initial_for(project: Project) -> dict[str, object]:
        allowed = project.allowed_models or [model.key for model in catalog.all_models()]
        return {
            "review_required": project.review_required,
            "four_eyes": project.four_eyes,
            "allowed_models": allowed,
            "default_model_key": project.default_model_key,
            "default_preview_size": project.default_preview_size,
            "final_size": project.final_size,
            "fallback_policy": project.fallback_policy,
            "escalation_strategy": project.escalation_strategy,
            "fidelity_threshold": project.fidelity_threshold,
            "final_lane": project.final_lane,
        }


class BudgetForm(forms.Form):
    username = forms.CharField(
        label="Person",
        max_length=150,
        required=False,
        help_text="Empty: the whole project’s budget. A member’s username: their own.",
    )
    period = forms.ChoiceField(label="Period", choices=BudgetPeriod.choices, initial="monthly")
    amount_usd = forms.DecimalField(
        label="Amount (USD)",
        min_value=0,
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text="Empty removes the budget.",
    )
    soft_threshold_pct = forms.IntegerField(
        label="Tell admins at (%)", min_value=1, max_value=100, initial=80
    )


class MemberForm(forms.Form):
    username = forms.CharField(label="Username", max_length=150)
    roles = forms.MultipleChoiceField(
        label="Roles", choices=Role.choices, required=False, widget=forms.CheckboxSelectMultiple
    )


class QueueFilterForm(forms.Form):
    """The review queue's filters; the choices are what the user may pick from."""

    project = forms.ChoiceField(label="Project", required=False)
    designer = forms.ChoiceField(label="Designer", required=False)

    def __init__(
        self, *args: Any, projects: list[Project], people: list[User], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [("", "All my projects")] + [  # type: ignore[attr-defined]
            (project.slug, project.name) for project in projects
        ]
        self.fields["designer"].choices = [("", "Everyone")] + [  # type: ignore[attr-defined]
            (person.get_username(), person.get_username()) for person in people
        ]


class ReviewFilterForm(QueueFilterForm):
    """The review queue's filters, plus the batch a link from a batch page narrows to."""

    batch = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class GalleryFilterForm(QueueFilterForm):
    q = forms.CharField(
        label="Search prompts",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Words in the prompt"}),
    )
    state = forms.ChoiceField(label="State", required=False)
    model = forms.ChoiceField(label="Model", required=False)
    date_from = BoundedDateField(label="From", required=False, widget=DateInput)
    date_to = BoundedDateField(label="To", required=False, widget=DateInput)

    field_order = ["q", "project", "state", "model", "designer", "date_from", "date_to"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [("", "Any state"), *State.choices]  # type: ignore[attr-defined]
        self.fields["model"].choices = [("", "Any model"), *_model_choices()]  # type: ignore[attr-defined]


class RequestChangesForm(forms.Form):
    comment = forms.CharField(
        max_length=2000,
        required=False,  # the service insists on it, with its own message
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What should change?"}),
    )


# The quality-drift report's filters. At most three years: the report reads every week.
DRIFT_MAX_WEEKS = 156


class DriftFilterForm(forms.Form):
    # Picked with the links above the charts; the form carries it along.
    metric = forms.ChoiceField(label="Metric", required=False, widget=forms.HiddenInput)
    project = forms.ChoiceField(label="Project", required=False)
    date_from = BoundedDateField(label="From", required=False, widget=DateInput)
    date_to = BoundedDateField(label="To", required=False, widget=DateInput)

    def __init__(self, *args: Any, projects: list[Project], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = [(m.key, m.label) for m in METRICS]  # type: ignore[attr-defined]
        self.fields["project"].choices = [("", "All projects")] + [  # type: ignore[attr-defined]
            (project.slug, project.name) for project in projects
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start or end:
            start, end = report_range(start, end)
            if end < start:
                self.add_error(None, "The end of the range comes before its start.")
            elif (end - start).days > DRIFT_MAX_WEEKS * 7:
                self.add_error(None, f"Pick a range of at most {DRIFT_MAX_WEEKS} weeks.")
        return data


# --- batches and webhooks (issue 18) -----------------------------------------------------


class BatchCsvForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
        help_text=(
            "First line: prompt,aspect_ratio,variants,model,preview_size"
            " (and optionally reference_image_ids). UTF-8; comma, semicolon or tab."
        ),
    )


class BatchMatrixForm(forms.Form):
    template = forms.CharField(
        label="Template",
        max_length=4000,
        required=False,  # the service says what is missing
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "{product} on a {surface}, {light}"}
        ),
    )
    lists = forms.CharField(
        label="Values",
        required=False,
        max_length=20000,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": (
                    "product: ceramic mug | glass bottle\n"
                    "surface: oak table | marble slab\n"
                    "light: soft morning light | hard noon sun"
                ),
            }
        ),
        help_text="One line per placeholder: name: value | value | …",
    )
    aspect_ratios = forms.MultipleChoiceField(
        label="Aspect ratios",
        choices=_aspect_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    model_key = forms.ChoiceField(label="Model", choices=_model_choices, widget=ModelSelect)
    preview_size = forms.ChoiceField(label="Preview size", choices=_size_choices)
    variants = VariantsField(label="Variants")

    def __init__(self, *args: Any, project: Project | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if project is not None and project.allowed_models:
            self.fields["model_key"].choices = [  # type: ignore[attr-defined]
                (model.key, model.label) for model in project_models(project)
            ]


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=500,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/proof-studio"}),
    )
    description = forms.CharField(label="Description", max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label="Events",
        choices=WebhookEvent.choices,
        required=False,  # the service asks for at least one
        widget=forms.CheckboxSelectMultiple,
    )


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), *WebhookDelivery.Status.choices],
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        required=False,  # the service insists on it, with its own message
        widget=forms.TextInput(attrs={"placeholder": "What will use it, e.g. “nightly batch”"}),
    )
    scope = forms.ChoiceField(
        label="Scope",
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        widget=forms.RadioSelect,
        help_text="Read: list, get and download. Read and write: also submit and decide.",
    )
