"""The economy lane's batch jobs (generations.rendering.economy): one row per provider
batch job, written *before* the job is created at the provider, so a crash anywhere
between "recorded" and "created" is reconciled by finding the job by our own key."""

from __future__ import annotations

from django.db import models


class EconomyJob(models.Model):
    class Status(models.TextChoices):
        # Ours only: the row and its items (attempts) are written, the provider may or may
        # not have the job yet (a crash between the two): reconciled by `key`.
        RECORDED = "recorded", "Recorded (not yet created at the provider)"
        PENDING = "pending", "Pending at the provider"
        RUNNING = "running", "Running at the provider"
        # The provider's job has ended; its items' outcomes are being stored.
        SUCCEEDED = "succeeded", "Succeeded (results not all stored yet)"
        FAILED = "failed", "Failed (outcomes not all recorded yet)"
        CANCELLED = "cancelled", "Cancelled at the provider (outcomes not all recorded yet)"
        EXPIRED = "expired", "Expired (outcomes not all recorded yet)"
        # Every item's outcome is recorded: nothing more to do.
        STORED = "stored", "Done (every result stored once)"

    # Our own name for the job: the provider's displayName, so the job is found again
    # after a crash. Each item's metadata key is its attempt's lease token.
    key = models.CharField(max_length=64, unique=True)
    model_key = models.CharField(max_length=64)
    provider = models.CharField(max_length=32)  # "gemini" or "local" (the simulation)
    provider_job = models.CharField(max_length=200, blank=True)  # e.g. "batches/123"
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECORDED)
    provider_state = models.CharField(max_length=40, blank=True)  # as the provider said it
    items = models.PositiveIntegerField(default=0)
    request_bytes = models.PositiveBigIntegerField(default=0)
    responses_file = models.CharField(max_length=200, blank=True)
    # One poller at a time per job: a lease taken by a conditional update.
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    recorded_at = models.DateTimeField()
    created_at = models.DateTimeField(null=True, blank=True)  # at the provider
    finished_at = models.DateTimeField(null=True, blank=True)  # the provider's job ended
    stored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        indexes = [
            models.Index(
                fields=["next_poll_at"],
                name="economy_job_open_idx",
                condition=~models.Q(status="stored"),
            )
        ]

    def __str__(self) -> str:
        return f"economy job {self.key} ({self.status}, {self.items} items)"
