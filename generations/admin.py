"""Django admin: read-mostly views of the flow. State changes go through the services,
never through an edit form, so the admin shows state and audit rows read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from generations.models import (
    Attempt,
    Comment,
    Generation,
    Image,
    Membership,
    Notification,
    Project,
    Transition,
)


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
