from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models.functions import Coalesce

from generations.flow import Actor, State


class Role(models.TextChoices):
    DESIGNER = "designer", "Designer"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"


class FallbackPolicy(models.TextChoices):
    DELIVER_PREVIEW = "deliver_preview", "Deliver the preview as final"
    UPSCALE = "upscale", "Upscale the preview locally (flagged, not native)"
    FAIL = "fail", "Fail the final"


class Project(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(unique=True)
    fallback_policy = models.CharField(
        max_length=20, choices=FallbackPolicy.choices, default=FallbackPolicy.UPSCALE
    )
    # Settings project admins edit in the site (generations.projects): off = a preview
    # that lands in review is approved straight to the final by the system.
    review_required = models.BooleanField(default=True)
    # "Four eyes": nobody approves a generation they submitted, whatever their roles.
    four_eyes = models.BooleanField(default=False)
    # Defaults of the submit form; "" = the site's default (settings.STUDIO_DEFAULT_MODEL).
    default_model_key = models.CharField(max_length=64, blank=True)
    default_preview_size = models.CharField(max_length=4, blank=True)
    final_size = models.CharField(max_length=4, default="4K")
    # Model keys designers may pick here; empty = every configured model.
    allowed_models = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user", "role"], name="unique_role")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.role} · {self.project}"


class Submission(models.Model):
    """One prompt as the designer sent it; each variant becomes a Generation."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="submissions")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submissions"
    )
    prompt = models.TextField(max_length=4000)
    model_key = models.CharField(max_length=64)
    aspect_ratio = models.CharField(max_length=8)
    preview_size = models.CharField(max_length=4)
    final_size = models.CharField(max_length=4, default="4K")
    variants = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(4)]
    )
    # "Revise" links the new submission to the generation it improves on.
    parent = models.ForeignKey(
        "Generation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="revisions",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.prompt[:40]}"


class Generation(models.Model):
    """One variant of a submission, moved only through generations.flow."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="generations")
    # Copied from the submission: every permission check and list filters on it.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="generations")
    variant = models.PositiveSmallIntegerField()
    seed = models.BigIntegerField()
    state = models.CharField(max_length=24, choices=State.choices, default=State.PREVIEW_QUEUED)
    version = models.PositiveIntegerField(default=0)
    state_changed_at = models.DateTimeField()
    created_at = models.DateTimeField()

    # Attempts: `attempt_count` numbers every attempt; `tries_used` counts those of the
    # current round, which a manual retry or an approval starts afresh.
    attempt_count = models.PositiveSmallIntegerField(default=0)
    tries_used = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    kicked_at = models.DateTimeField(null=True, blank=True)
    waiting_reason = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)

    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When its first preview was charged: the savings report's cohort ("the work of a
    # range"). Set with the charge by generations.rollups; derived from the ledger.
    previewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "variant"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "variant"], name="unique_variant")
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="gen_due_idx"),
            models.Index(fields=["state", "lease_expires_at"], name="gen_lease_idx"),
            models.Index(fields=["project", "-created_at"], name="gen_project_recent_idx"),
            # The gallery (newest first, keyset on created_at, id) and its state filter.
            models.Index(fields=["-created_at", "-id"], name="gen_recent_idx"),
            models.Index(fields=["state", "-created_at", "-id"], name="gen_state_recent_idx"),
            # The review queue: only what waits for review, oldest first.
            models.Index(
                fields=["created_at", "id"],
                name="gen_review_queue_idx",
                condition=models.Q(state="in_review"),
            ),
        ]

    def __str__(self) -> str:
        return f"Generation #{self.pk} ({self.state})"

    @property
    def state_label(self) -> str:
        return State(self.state).label


class Transition(models.Model):
    """The audit trail: every state change, who or what made it, and why."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=24, blank=True)
    to_state = models.CharField(max_length=24)
    actor_kind = models.CharField(max_length=16, choices=Actor.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reason = models.TextField(blank=True)
    attempt = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["generation", "created_at"], name="transition_gen_idx")]

    def __str__(self) -> str:
        return f"{self.from_state or '∅'} → {self.to_state}"


class Phase(models.TextChoices):
    PREVIEW = "preview", "Preview"
    FINAL = "final", "Final"


class Attempt(models.Model):
    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        ABANDONED = "abandoned", "Abandoned (lease expired)"
        DISCARDED = "discarded", "Discarded (generation moved on)"

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    phase = models.CharField(max_length=8, choices=Phase.choices)
    size = models.CharField(max_length=4)
    provider = models.CharField(max_length=32)
    model_id = models.CharField(max_length=100)
    # The submission's model (copied when the attempt is written, see save): provider
    # health counts a window of attempts per model without joining a million generations.
    model_key = models.CharField(max_length=64, blank=True)
    lease_token = models.UUIDField(default=uuid.uuid4)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.RUNNING)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error_kind = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    retryable = models.BooleanField(null=True)
    # What the provider reported about the call (Gemini: usageMetadata, modelVersion,
    # responseId; OpenAI: usage, request id): for cost and support questions.
    provider_meta = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["generation", "number"], name="unique_attempt")
        ]
        indexes = [
            # Provider health over a window (the savings report's success rates): the
            # calls of one model at one size, read from the index alone.
            models.Index(
                fields=["model_key", "size", "started_at"],
                include=["outcome"],
                name="attempt_health_idx",
            )
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} ({self.phase} {self.size}): {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding and not self.model_key:
            self.model_key = (
                Submission.objects.filter(generations=self.generation_id)
                .values_list("model_key", flat=True)
                .get()
            )
        super().save(*args, **kwargs)


class Image(models.Model):
    """A stored result: the provider's original bytes plus browser renditions."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    phase = models.CharField(max_length=8, choices=Phase.choices)
    attempt = models.ForeignKey(Attempt, null=True, blank=True, on_delete=models.SET_NULL)
    original = models.FileField(upload_to="originals/%Y/%m/%d/", max_length=255)
    thumbnail = models.FileField(upload_to="renditions/%Y/%m/%d/", max_length=255, blank=True)
    screen = models.FileField(upload_to="renditions/%Y/%m/%d/", max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    mime_type = models.CharField(max_length=40)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveBigIntegerField()
    bytes_per_pixel = models.FloatField()
    # False for a local upscale: the file has the final's size but not its detail.
    native = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)
    # What rendered it, copied for the quality-drift report (per model × size, by week).
    model_key = models.CharField(max_length=64, blank=True)
    size = models.CharField(max_length=4, blank=True)
    # A tiny preview (data: URI, a few hundred bytes) shown while renditions load.
    placeholder = models.TextField(blank=True)
    # Renditions are made on the CPU queue after the original is stored; until then
    # thumbnail/screen are blank. A rendition failure is recorded here, not lost.
    renditions_error = models.CharField(max_length=300, blank=True)
    # Detail measures of the decoded pixels (native images): Shannon entropy of the
    # luminance histogram (bits, 0–8) and mean high-frequency energy (Laplacian).
    luma_entropy = models.FloatField(null=True, blank=True)
    detail_energy = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["generation", "phase"], name="one_image_per_phase")
        ]
        indexes = [
            models.Index(
                fields=["model_key", "size", "created_at"],
                name="image_drift_idx",
                condition=models.Q(native=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.phase} {self.width}×{self.height} of #{self.generation_id}"


class Favourite(models.Model):
    """A designer's pick among images they compare (generations.comparison)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="favourites")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourite_images"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["image", "user"], name="unique_favourite")]

    def __str__(self) -> str:
        return f"{self.user} ★ image {self.image_id}"


class RateLimitState(models.Model):
    """Per model, for the database limiter (generations.limits): the cooldown every worker
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
        COMMENTED = "commented", "New comment"
        BUDGET_THRESHOLD = "budget_threshold", "Budget threshold reached"
        QUALITY_DRIFT = "quality_drift", "Quality drift"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    generation = models.ForeignKey(
        Generation, null=True, on_delete=models.CASCADE, related_name="notifications"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

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
        ]

    def __str__(self) -> str:
        return f"to {self.recipient_id}: {self.text}"


# --- Spend (issue 6): prices, the ledger, reservations, budgets -------------------------


class Lane(models.TextChoices):
    STANDARD = "standard", "Standard"
    BATCH = "batch", "Batch"


class PriceEntry(models.Model):
    """USD per image of one model × size × lane from `effective_from` on, until a later
    entry for the same key takes over. Charges copy the price they used, so editing the
    list never rewrites history."""

    model_key = models.CharField(max_length=64)
    size = models.CharField(max_length=4)  # "512", "1K", "2K", "4K"
    lane = models.CharField(max_length=8, choices=Lane.choices, default=Lane.STANDARD)
    usd_per_image = models.DecimalField(
        max_digits=10, decimal_places=4, validators=[MinValueValidator(0)]
    )
    effective_from = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model_key", "size", "lane", "-effective_from"]
        verbose_name_plural = "price entries"
        constraints = [
            models.UniqueConstraint(
                fields=["model_key", "size", "lane", "effective_from"], name="unique_price_start"
            )
        ]
        indexes = [
            models.Index(
                fields=["model_key", "size", "lane", "-effective_from"], name="price_lookup_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_key} {self.size} {self.lane}: ${self.usd_per_image}"


class LedgerEntry(models.Model):
    """Append-only: one row per charge, refund or adjustment; corrections are new rows.
    Amounts are signed USD (a refund is negative)."""

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="ledger")
    # Whose work it was (the submitter), for per-person reports and budgets.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    generation = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    # A charge is for exactly one provider call: at most one charge per attempt.
    attempt = models.ForeignKey(
        Attempt, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    phase = models.CharField(max_length=8, choices=Phase.choices, blank=True)
    model_key = models.CharField(max_length=64, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    size = models.CharField(max_length=4, blank=True)
    lane = models.CharField(max_length=8, choices=Lane.choices, default=Lane.STANDARD)
    unit_price = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    price_entry = models.ForeignKey(
        PriceEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount_usd = models.DecimalField(max_digits=12, decimal_places=4)
    # A billed call that produced nothing usable (a failed attempt the provider bills).
    waste = models.BooleanField(default=False)
    # Rendered by the local simulation of a hosted model (no key configured): priced as
    # the hosted model so estimates and reports can be tried out, but no money moved.
    simulated = models.BooleanField(default=False)
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(
                fields=["attempt"],
                condition=models.Q(kind="charge"),
                name="one_charge_per_attempt",
            ),
            models.CheckConstraint(
                name="ledger_charge_has_attempt",
                condition=~models.Q(kind="charge") | models.Q(attempt__isnull=False),
            ),
            models.CheckConstraint(
                name="ledger_correction_has_reason",
                condition=models.Q(kind="charge") | ~models.Q(reason=""),
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="ledger_time_idx"),
            models.Index(fields=["project", "created_at"], name="ledger_project_time_idx"),
            models.Index(fields=["user", "created_at"], name="ledger_user_time_idx"),
            # Spend reports (generations.reports): every figure of a range is read from
            # this index alone (index-only scan), never from the table's rows.
            models.Index(
                fields=["created_at"],
                include=[
                    "project",
                    "user",
                    "model_key",
                    "size",
                    "lane",
                    "kind",
                    "amount_usd",
                    "waste",
                    "simulated",
                ],
                name="ledger_report_idx",
            ),  # fmt: skip
            # Savings: the generations previewed in a range.
            models.Index(
                fields=["created_at"],
                include=["generation"],
                condition=models.Q(kind="charge", phase="preview"),
                name="ledger_preview_time_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ${self.amount_usd} ({self.project_id})"

    # Append-only: history is corrected by new rows (generations.ledger), never edited.
    # PostgreSQL also refuses UPDATE/DELETE with a trigger (migration 0008).
    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise LedgerImmutable("Ledger entries are never changed; add a correction.")
        from generations.rollups import rollup_ledger_entry

        # A row and its daily roll-ups are one write, so that no path inserting a row
        # (services, the admin, a test fixture) can leave the reports behind.
        with transaction.atomic():
            super().save(*args, **kwargs)
            rollup_ledger_entry(entry=self)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise LedgerImmutable("Ledger entries are never deleted; add a correction.")


class LedgerImmutable(Exception):
    """An attempt to edit or delete history."""


class Reservation(models.Model):
    """Money set aside against budgets for work not yet paid: a queued preview at
    submission, an approved final at approval. Ends as a charge or released when the
    phase ends; never outlives its generation's phase."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CHARGED = "charged", "Became a charge"
        RELEASED = "released", "Released"

    generation = models.ForeignKey(
        Generation, on_delete=models.CASCADE, related_name="reservations"
    )
    phase = models.CharField(max_length=8, choices=Phase.choices)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="reservations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    amount_usd = models.DecimalField(max_digits=12, decimal_places=4)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "phase"],
                condition=models.Q(status="open"),
                name="one_open_reservation_per_phase",
            )
        ]
        indexes = [
            models.Index(
                fields=["project", "user"],
                name="reservation_open_idx",
                condition=models.Q(status="open"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.status} ${self.amount_usd} for #{self.generation_id} {self.phase}"


class BudgetPeriod(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    WEEKLY = "weekly", "Weekly"


class Budget(models.Model):
    """A spending limit for a project, or for one person within it (`user` set)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="budgets")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    period = models.CharField(
        max_length=8, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTHLY
    )
    amount_usd = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    # Share of the amount at which admins are told, once per period.
    soft_threshold_pct = models.PositiveSmallIntegerField(
        default=80, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(user__isnull=True), name="one_project_budget"
            ),
            models.UniqueConstraint(
                fields=["project", "user"],
                condition=models.Q(user__isnull=False),
                name="one_budget_per_person",
            ),
        ]

    def __str__(self) -> str:
        who = f" for {self.user}" if self.user_id else ""
        return f"{self.project}{who}: ${self.amount_usd} {self.period}"


class BudgetAlert(models.Model):
    """That admins were told a budget crossed its soft threshold in one period."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period_start = models.DateField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["budget", "period_start"], name="one_alert_per_period")
        ]

    def __str__(self) -> str:
        return f"alert for budget {self.budget_id} from {self.period_start}"


class DriftAlert(models.Model):
    """That site admins were told of a flagged quality drop: one model × size × metric in
    one week (generations.quality.drift_alerts_send)."""

    model_key = models.CharField(max_length=64)
    size = models.CharField(max_length=4)
    metric = models.CharField(max_length=32)
    week = models.DateField()  # its Monday, in settings.TIME_ZONE
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_key", "size", "metric", "week"], name="one_drift_alert_per_week"
            )
        ]

    def __str__(self) -> str:
        return f"drift of {self.model_key} {self.size} {self.metric} in week of {self.week}"


# --- Roll-ups: derived from the ledger and the generations (generations.rollups) ---------


class RollupSums(models.Model):
    """What a roll-up row adds up. Amounts are integers of ten-thousandths of a dollar (the
    ledger's precision), so sums stay exact on every database."""

    entries = models.IntegerField(default=0)  # ledger rows summed
    images = models.IntegerField(default=0)  # charges (one per billed provider call)
    charges_e4 = models.BigIntegerField(default=0)
    refunds_e4 = models.BigIntegerField(default=0)
    adjustments_e4 = models.BigIntegerField(default=0)
    waste_e4 = models.BigIntegerField(default=0)
    simulated_e4 = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class SpendRollup(RollupSums):
    """The ledger per local day × project × model × size × lane: the spend report's
    totals, chart and model / size / lane tables."""

    # Days are local days of this zone (settings.TIME_ZONE when the row was written).
    time_zone = models.CharField(max_length=64)
    day = models.DateField()
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    model_key = models.CharField(max_length=64, blank=True)
    size = models.CharField(max_length=4, blank=True)
    lane = models.CharField(max_length=8, choices=Lane.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["time_zone", "day", "project", "model_key", "size", "lane"],
                name="spend_rollup_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.project_id} {self.model_key} {self.size} {self.lane}"


class SpendPersonRollup(RollupSums):
    """The ledger per local day × project × person: the project and person tables."""

    time_zone = models.CharField(max_length=64)
    day = models.DateField()
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    # None: a correction to the project's spend, not to one person's.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        constraints = [
            # COALESCE: one row for the person-less corrections too (NULLs are distinct in a
            # unique index, so ON CONFLICT would never meet them).
            models.UniqueConstraint(
                models.F("time_zone"),
                models.F("day"),
                models.F("project"),
                Coalesce(models.F("user"), models.Value(0)),
                name="spend_person_rollup_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.project_id} {self.user_id}"


class SavingsRollup(models.Model):
    """The work of a day — generations whose first preview was charged that local day —
    per project × designer × model × final size: how many were previewed, approved and
    delivered (their state now), and what their whole ledger cost, whenever charged."""

    time_zone = models.CharField(max_length=64)
    day = models.DateField()
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    designer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    model_key = models.CharField(max_length=64)
    final_size = models.CharField(max_length=4)
    previewed = models.IntegerField(default=0)
    approved = models.IntegerField(default=0)
    delivered = models.IntegerField(default=0)
    net_e4 = models.BigIntegerField(default=0)
    waste_e4 = models.BigIntegerField(default=0)
    simulated_e4 = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["time_zone", "day", "project", "designer", "model_key", "final_size"],
                name="savings_rollup_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.project_id} {self.designer_id} {self.model_key}"
