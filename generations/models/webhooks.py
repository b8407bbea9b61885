"""Signed webhooks: the endpoints project admins register, and the outbox of deliveries
with their attempts (the delivery log). The rules live in generations.webhooks."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from generations.models.core import Project


class WebhookEvent(models.TextChoices):
    """What an endpoint may subscribe to; the values are wire format (the `type`)."""

    PREVIEW_READY = "preview.ready", "Preview ready"
    DECIDED = "generation.decided", "Decided (approved, rejected, changes requested)"
    DELIVERED = "final.delivered", "Final delivered"
    FAILED = "generation.failed", "Failed (preview or final)"
    BUDGET_THRESHOLD = "budget.threshold", "Budget threshold reached"


# Sent only by an admin's "Send a test event"; not something to subscribe to.
TEST_EVENT = "webhook.test"


class WebhookEndpoint(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)  # WebhookEvent values
    # Standard Webhooks' "whsec_" + base64 of 24 random bytes. It has to be readable to
    # sign with; it is shown to the project's admins only and never logged.
    secret = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Deliveries in a row that ended failed (a success resets it); at
    # STUDIO_WEBHOOK_DISABLE_AFTER the endpoint is disabled and the admins are told.
    failures_in_row = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.url} ({self.project})"


class WebhookDelivery(models.Model):
    """One message to one endpoint: the row is the truth, a Celery message only kicks it
    (lost kicks are re-sent by the sweep, expired leases returned to the queue)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40)
    msg_id = models.CharField(max_length=40)  # `webhook-id`: the same on retries and replays
    payload = models.TextField()  # the exact body sent (JSON)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    kicked_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_due_idx"),
            models.Index(fields=["status", "lease_expires_at"], name="webhook_lease_idx"),
            models.Index(fields=["endpoint", "-created_at", "-id"], name="webhook_log_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.msg_id} → endpoint {self.endpoint_id}: {self.status}"


class WebhookAttempt(models.Model):
    """One try at sending a delivery: the delivery log's rows."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    address = models.GenericIPAddressField(null=True, blank=True)  # where it was sent
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=300, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="unique_webhook_attempt")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.status_code}"
