"""Personal API tokens: a person's key to the JSON API (generations.api), created and
revoked by its owner (generations.tokens). Only a hash of the secret is stored."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TokenScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Read and write"


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.READ)
    # sha256 of the whole token, hex: how a request's token is found (generations.tokens).
    secret_hash = models.CharField(max_length=64, unique=True)
    # The token's first characters, shown to tell tokens apart; not enough to use one.
    prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.scope}) of {self.user}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
