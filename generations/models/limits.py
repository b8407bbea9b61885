"""Shared provider rate limits when no Redis is configured."""

from __future__ import annotations

from django.db import models


class RateLimitState(models.Model):
    """Per model, for the database limiter (generations.rendering.limits): the cooldown every worker
    honours after a 429, and how far the effective RPM is reduced. Its row is the lock
    that makes workers take turns deciding."""

    model_key = models.CharField(max_length=64, unique=True)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    penalty = models.FloatField(default=0)  # halvings of the RPM; decays with time
    penalized_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"limits of {self.model_key}"


class RateLimitCall(models.Model):
    """One provider call as the database limiter counts it: in flight until `expires_at`
    (the attempt's lease, so a killed worker's slot frees itself; a release sets it to the
    release time), and against the RPM for a minute after `started_at`."""

    model_key = models.CharField(max_length=64)
    holder = models.CharField(max_length=64)  # the attempt's lease token
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_key", "holder"], name="unique_limit_holder")
        ]
        indexes = [
            models.Index(fields=["model_key", "expires_at"], name="limit_call_expiry_idx"),
            models.Index(fields=["model_key", "started_at"], name="limit_call_start_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model_key} call {self.holder}"


class ModelPause(models.Model):
    """A model no worker may call until `until`: the provider said its daily quota is used
    up (generations.rendering.limits.model_pause). One row per model and quota window, so
    workers that hit the quota at once make one pause and one notice to the admins."""

    model_key = models.CharField(max_length=64)
    until = models.DateTimeField()
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-until"]
        constraints = [
            models.UniqueConstraint(fields=["model_key", "until"], name="unique_model_pause")
        ]

    def __str__(self) -> str:
        return f"{self.model_key} paused until {self.until:%Y-%m-%d %H:%M}"
