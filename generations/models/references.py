"""Pictures people bring into a project (uploads) and the input images a submission sends
with its prompt (references: uploads or images of the project, in order)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from generations.models.core import Image, Project, Submission


class Upload(models.Model):
    """A picture someone uploaded to a project: checked, turned upright and stripped of
    every metadata chunk before it was stored (generations.imaging.uploads). Private like
    generated images: served only by the permission-checked media view."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="uploads")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="uploads"
    )
    filename = models.CharField(max_length=120, blank=True)  # as sent, for people only
    original = models.FileField(upload_to="uploads/", max_length=255)
    thumbnail = models.FileField(upload_to="uploads/", max_length=255, blank=True)
    screen = models.FileField(upload_to="uploads/", max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)  # of the stored (cleaned) bytes
    mime_type = models.CharField(max_length=40)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveBigIntegerField()
    placeholder = models.TextField(blank=True)
    # What the checks changed: "turned upright (EXIF orientation 6)", "16-bit → 8-bit"…
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # The same picture uploaded twice to a project is one upload.
            models.UniqueConstraint(fields=["project", "sha256"], name="one_upload_per_picture")
        ]

    def __str__(self) -> str:
        return f"upload {self.pk} {self.width}×{self.height} in {self.project_id}"

    @property
    def token(self) -> str:
        return f"u{self.pk}"


class ReferenceRole(models.TextChoices):
    REFERENCE = "reference", "Reference"
    # The picture an edit is made from ("make the sky stormy"): always the first input.
    SOURCE = "source", "Edited image"


class Reference(models.Model):
    """One input image of a submission, sent on every render of it in `position` order:
    an upload or an image (preview or final) of the same project."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="references")
    position = models.PositiveSmallIntegerField()
    role = models.CharField(
        max_length=12, choices=ReferenceRole.choices, default=ReferenceRole.REFERENCE
    )
    # One of the two. SET_NULL: a held final that a reviewer discards takes its row with
    # it; the reference then says it is gone and is not sent.
    image = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="referenced_by"
    )
    upload = models.ForeignKey(
        Upload, null=True, blank=True, on_delete=models.SET_NULL, related_name="referenced_by"
    )

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "position"], name="unique_reference"),
            models.CheckConstraint(
                condition=~models.Q(image__isnull=False, upload__isnull=False),
                name="reference_one_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"reference {self.position} of #{self.submission_id}"

    @property
    def picture(self) -> Image | Upload | None:
        return self.image or self.upload
