"""Django admin: read-mostly views of the flow. State changes go through the services,
never through an edit form, so the admin shows state and audit rows read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.utils import timezone

from generations.models import (
    Attempt,
    Budget,
    Comment,
    EconomyJob,
    Generation,
    Image,
    LedgerEntry,
    Membership,
    ModelPause,
    Notification,
    PriceEntry,
    PriceKind,
    Project,
    Reservation,
    Transition,
)
from generations.rendering import limits
from generations.spend import ledger, pricing


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "review_required", "four_eyes", "fallback_policy", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


class TransitionInline(admin.TabularInline):
    model = Transition
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "created_at",
        "from_state",
        "to_state",
        "actor_kind",
        "actor",
        "reason",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "number", "phase", "size", "provider", "model_id", "outcome", "latency_ms",
        "error_kind", "error_message", "worker", "started_at", "finished_at",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "state", "variant", "attempt_count", "created_at"]
    list_filter = ["state", "project"]
    search_fields = ["submission__prompt"]
    list_select_related = ["project"]
    readonly_fields = [field.name for field in Generation._meta.fields]
    inlines = [AttemptInline, TransitionInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["id", "generation", "phase", "width", "height", "byte_size", "native"]
    list_filter = ["phase", "native", "mime_type"]
    readonly_fields = [field.name for field in Image._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    """Comments are the record of a conversation: shown, never edited here."""

    list_display = ["id", "generation", "author", "created_at", "image", "pin_x", "pin_y"]
    list_select_related = ["author"]
    search_fields = ["body"]
    readonly_fields = [field.name for field in Comment._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "recipient", "kind", "text", "created_at", "read_at"]
    list_filter = ["kind"]
    list_select_related = ["recipient"]
    readonly_fields = [field.name for field in Notification._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ModelPause)
class ModelPauseAdmin(admin.ModelAdmin):
    """Models paused for a used-up daily quota. Lifting a pause (after raising the quota)
    is the one action; the rows are made by the workers."""

    list_display = ["model_key", "until", "reason", "created_at"]
    readonly_fields = [field.name for field in ModelPause._meta.fields]
    actions = ["lift"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Lift the pause now (the quota was raised)")
    def lift(self, request: HttpRequest, queryset: Any) -> None:
        for key in sorted(set(queryset.values_list("model_key", flat=True))):
            jobs = limits.model_pause_lift(model_key=key)
            self.message_user(request, f"{key}: pause lifted; {jobs} waiting job(s) resume.")


# --- Spend ------------------------------------------------------------------------------


class CorrectionForm(forms.ModelForm):
    """The only way to add to the ledger by hand: a refund of one charge (its full
    remaining amount) or an adjustment of a project's spend, always with a reason."""

    class Meta:
        model = LedgerEntry
        fields = ["kind", "corrects", "project", "user", "amount_usd", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [  # type: ignore[attr-defined]
            (LedgerEntry.Kind.REFUND, "Refund of a charge"),
            (LedgerEntry.Kind.ADJUSTMENT, "Adjustment (signed amount)"),
        ]
        charges = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE)
        self.fields["corrects"].queryset = charges  # type: ignore[attr-defined]
        self.fields["corrects"].help_text = "Refund: the charge to refund."
        self.fields["project"].required = False
        self.fields["project"].help_text = "Adjustment: the project whose spend changes."
        self.fields["user"].help_text = "Adjustment: the person, for per-person budgets."
        self.fields["amount_usd"].required = False
        self.fields["amount_usd"].help_text = "Adjustment: positive adds spend, negative credits."
        self.fields["reason"].required = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == LedgerEntry.Kind.REFUND and not data.get("corrects"):
            self.add_error("corrects", "Choose the charge to refund.")
        if data.get("kind") == LedgerEntry.Kind.ADJUSTMENT:
            if not data.get("project"):
                self.add_error("project", "Choose the project.")
            if not data.get("amount_usd"):
                self.add_error("amount_usd", "Give a non-zero amount.")
        return data

    def _post_clean(self) -> None:
        pass  # the services build and validate the row; the form's instance is never saved


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """Append-only: rows are shown read-only; "add" makes a correction through the
    ledger services (generations.spend.ledger), never an edit."""

    list_display = [
        "id", "created_at", "kind", "project", "user", "model_key", "size", "phase",
        "amount_usd", "waste", "simulated", "reason",
    ]  # fmt: skip
    list_filter = ["kind", "waste", "simulated", "project", "model_key", "size"]
    list_select_related = ["project", "user"]
    date_hierarchy = "created_at"
    form = CorrectionForm

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in LedgerEntry._meta.fields] if obj else []

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is not None:  # an existing row is only shown
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        user = request.user
        if not user.is_authenticated:  # the admin site signs people in first
            raise PermissionDenied("Sign in to correct the ledger.")
        if data["kind"] == LedgerEntry.Kind.REFUND:
            entry = ledger.ledger_refund(entry=data["corrects"], reason=data["reason"], user=user)
        else:
            entry = ledger.ledger_adjust(
                project=data["project"],
                amount=data["amount_usd"],
                reason=data["reason"],
                user=user,
                person=data.get("user"),
            )
        obj.__dict__.update(entry.__dict__)  # what the admin logs and redirects to

    def add_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().add_view(request, *args, **kwargs)
        except (ValidationError, PermissionDenied) as error:
            text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
            messages.error(request, text)
            return HttpResponseRedirect(request.path)


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ["id", "generation", "phase", "project", "user", "amount_usd", "status",
                    "created_at", "closed_at", "closed_reason"]  # fmt: skip
    list_filter = ["status", "phase", "project"]
    list_select_related = ["project", "user"]
    readonly_fields = [field.name for field in Reservation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "period", "amount_usd", "soft_threshold_pct"]
    list_filter = ["period", "project"]
    list_select_related = ["project", "user"]


class PriceEntryAdminForm(forms.ModelForm):
    """The prices page's validation (pricing.price_entry_errors): a catalogue model, a
    known size and lane, a start from now to two years ahead."""

    class Meta:
        model = PriceEntry
        fields = ["model_key", "kind", "size", "lane", "usd_per_image", "effective_from", "note"]

    # A rendered image unless said otherwise (input images are priced once per model).
    kind = forms.ChoiceField(choices=PriceKind.choices, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["kind"] = data.get("kind") or PriceKind.IMAGE
        self.instance.kind = data["kind"]
        if self.errors:
            return data  # a field that did not parse already says why
        errors = pricing.price_entry_errors(
            model_key=str(data.get("model_key", "")).strip(),
            size=str(data.get("size", "")),
            lane=str(data.get("lane", "")),
            usd_per_image=data.get("usd_per_image"),
            effective_from=data.get("effective_from"),
            exclude_pk=self.instance.pk,
            kind=str(data.get("kind", "")),
        )
        for field, texts in errors.items():
            for message in texts:
                self.add_error(field if field in self.fields else None, message)
        return data


@admin.register(PriceEntry)
class PriceEntryAdmin(admin.ModelAdmin):
    """New prices may be added at any time; an entry that has taken effect is history
    (charges point at it) and stays read-only."""

    form = PriceEntryAdminForm
    list_display = ["model_key", "size", "lane", "usd_per_image", "effective_from", "note"]
    list_filter = ["model_key", "size", "lane"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None and obj.effective_from <= timezone.now():
            return [field.name for field in PriceEntry._meta.fields]
        return ["created_by", "created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and obj.effective_from > timezone.now()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if obj.pk is not None:
            started = PriceEntry.objects.filter(pk=obj.pk, effective_from__lte=timezone.now())
            if started.exists():
                raise PermissionDenied("A price in force is history: add a new entry instead.")
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(EconomyJob)
class EconomyJobAdmin(admin.ModelAdmin):
    """The economy lane's batch jobs, read-only: the poller alone writes them."""

    list_display = [
        "key",
        "model_key",
        "status",
        "provider_state",
        "items",
        "polls",
        "recorded_at",
        "stored_at",
    ]
    list_filter = ["status", "model_key"]
    search_fields = ["key", "provider_job"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
