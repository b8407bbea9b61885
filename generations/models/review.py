"""The conversation around a generation: comments (with pins) and notifications."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from generations.models.core import Generation, Image, Submission


class Comment(models.Model):
    """A remark on a generation, shown in its timeline; optionally pinned to a point of one
    of its images. The point is stored as fractions of the image's width and height, so
    the marker sits on the same spot of every rendition (thumbnail, screen, original)."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(max_length=4000)
    image = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.CASCADE, related_name="pins"
    )
    pin_x = models.FloatField(null=True, blank=True)
    pin_y = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["generation", "created_at"], name="comment_gen_idx")]
        constraints = [
            models.CheckConstraint(
                name="comment_pin_complete",
                condition=(
                    models.Q(image__isnull=True, pin_x__isnull=True, pin_y__isnull=True)
                    | models.Q(
                        image__isnull=False,
                        pin_x__gte=0,
                        pin_x__lte=1,
                        pin_y__gte=0,
                        pin_y__lte=1,
                    )
                ),
            )
        ]

    def __str__(self) -> str:
        return f"comment on #{self.generation_id}: {self.body[:40]}"

    @property
    def pinned(self) -> bool:
        return self.image_id is not None


class Notification(models.Model):
    """An in-app note to one person, written in the same transaction as its event."""

    class Kind(models.TextChoices):
        PREVIEW_READY = "preview_ready", "Preview ready"
        PREVIEW_FAILED = "preview_failed", "Preview failed"
        REVIEW_REQUESTED = "review_requested", "Awaits your review"
        APPROVED = "approved", "Approved"
        AUTO_APPROVED = "auto_approved", "Approved automatically"
        REJECTED = "rejected", "Rejected"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        DELIVERED = "delivered", "Final delivered"
        DELIVERED_FALLBACK = "delivered_fallback", "Final delivered (fallback)"
        FINAL_FAILED = "final_failed", "Final failed"
        FINAL_DIFFERS = "final_differs", "Final differs from what was approved"
        COMMENTED = "commented", "New comment"
        BUDGET_THRESHOLD = "budget_threshold", "Budget threshold reached"
        QUALITY_DRIFT = "quality_drift", "Quality drift"
        WEBHOOK_DISABLED = "webhook_disabled", "Webhook endpoint disabled"
        MODEL_PAUSED = "model_paused", "Model paused (daily quota)"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    generation = models.ForeignKey(
        Generation, null=True, on_delete=models.CASCADE, related_name="notifications"
    )
    # One note per person, kind and submission: its variants' events update it (`count`,
    # the latest generation, the text) instead of adding a note each.
    submission = models.ForeignKey(
        Submission, null=True, on_delete=models.CASCADE, related_name="notifications"
    )
    count = models.PositiveIntegerField(default=1)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    # A note that asks something of its reader (a review) is resolved, and read, once
    # what it asked is done: nothing is left waiting on them.
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["recipient", "-created_at", "-id"], name="notification_recent_idx"
            ),
            models.Index(
                fields=["recipient"],
                name="notification_unread_idx",
                condition=models.Q(read_at__isnull=True),
            ),
            models.Index(
                fields=["submission", "kind"],
                name="notification_submission_idx",
                condition=models.Q(submission__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"to {self.recipient_id}: {self.text}"


# --- Spend (issue 6): prices, the ledger, reservations, budgets -------------------------
