"""Batches: many submissions planned from a CSV or a prompt matrix, queued together."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from generations.models.core import Project


class Batch(models.Model):
    """A plan of submissions (one per row) and, once queued, the group they belong to.

    A draft holds the planned rows and the refused ones (generations.batches); queueing
    creates one Submission per row (Submission.batch, .batch_row) in one transaction,
    reserved against the budget as a whole, and empties `rows`: from then on the
    submissions are the truth."""

    class Source(models.TextChoices):
        CSV = "csv", "CSV upload"
        MATRIX = "matrix", "Prompt matrix"

    class Status(models.TextChoices):
        DRAFT = "draft", "Planned, not queued"
        QUEUED = "queued", "Queued"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="batches"
    )
    source = models.CharField(max_length=8, choices=Source.choices)
    name = models.CharField(max_length=200)  # the file's name, or the matrix's template
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    # Draft only: the rows that will be created and those refused (with why), as planned.
    rows = models.JSONField(default=list, blank=True)
    refused = models.JSONField(default=list, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    generation_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["project", "-created_at"], name="batch_project_recent_idx")]

    def __str__(self) -> str:
        return f"batch #{self.pk} ({self.row_count} rows, {self.status})"

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT
