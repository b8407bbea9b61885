"""Projects, people's roles in them, submissions, generations (the state machine's rows),
their audit trail, attempts and images."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from generations.lanes import Lane
from generations.states import Actor, State
from generations.strategies import DEFAULT_THRESHOLD, Strategy


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
    # How an approved preview becomes its final (generations.strategies), unless the
    # approval says otherwise; and the SSIM under which a final waits for the reviewer.
    escalation_strategy = models.CharField(
        max_length=16, choices=Strategy.choices, default=Strategy.FROM_PREVIEW
    )
    fidelity_threshold = models.FloatField(
        default=DEFAULT_THRESHOLD, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    # The lane an approval sends a final by unless the reviewer picks another
    # (generations.lanes): now, or the economy lane (Batch API, half price, up to 24 h).
    final_lane = models.CharField(max_length=8, choices=Lane.choices, default=Lane.STANDARD)
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
    # The model the previews are rendered on; the final may be another one (cross-model
    # previews, generations.catalog.pairing_refusal): "" = the same model.
    model_key = models.CharField(max_length=64)
    final_model_key = models.CharField(max_length=64, blank=True)
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
    # A row of a batch (generations.batches): which batch, and its row number there.
    batch = models.ForeignKey(
        "Batch", null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    batch_row = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.prompt[:40]}"

    @property
    def final_model(self) -> str:
        """The model key the final is rendered (and priced) on."""
        return self.final_model_key or self.model_key

    def model_of(self, phase: str) -> str:
        """The model key of a phase's attempts: the preview model, or the final's."""
        return self.final_model if phase == "final" else self.model_key


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
    # range"). Set with the charge by generations.spend.rollups; derived from the ledger.
    previewed_at = models.DateTimeField(null=True, blank=True)
    # The approval's escalation strategy ("" = the project's), set when the final is
    # queued (approval, or a reviewer's choice on a final that differs).
    escalation_strategy = models.CharField(max_length=16, choices=Strategy.choices, blank=True)
    # An off-peak final (generations.offpeak): queued, but no worker takes it before this
    # time (the model's good hours, or the deadline the reviewer saw). Set by the approval.
    not_before = models.DateTimeField(null=True, blank=True)
    # The lane of the final, set when it is queued (the approval's choice, else the
    # project's): an economy final waits for the economy poller (rendering.economy),
    # which sends it in a Batch API job; no render worker claims it.
    final_lane = models.CharField(max_length=8, choices=Lane.choices, default=Lane.STANDARD)

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
            # The review queue: only what waits for review, oldest first; with the
            # project, so the queue's count reads this index alone (PostgreSQL).
            models.Index(
                fields=["created_at", "id"],
                name="gen_review_queue_idx",
                condition=models.Q(state="in_review"),
                include=["project"],
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
    # A final's escalation strategy as used (after any fall-back), and how many input
    # images the request carried (charged at the price list's input_image figure).
    strategy = models.CharField(max_length=16, choices=Strategy.choices, blank=True)
    input_images = models.PositiveSmallIntegerField(default=0)
    # The fidelity of the final this attempt made (as on its Image, which a re-render
    # replaces): what the quality page sums by model × strategy.
    fidelity_ssim = models.FloatField(null=True, blank=True)
    fidelity_hash_distance = models.PositiveSmallIntegerField(null=True, blank=True)
    # The lane the call went by (charged at that lane's price), and for the economy lane
    # the batch job that carries it (its metadata key is this attempt's lease token).
    lane = models.CharField(max_length=8, choices=Lane.choices, default=Lane.STANDARD)
    economy_job = models.ForeignKey(
        "EconomyJob", null=True, blank=True, on_delete=models.PROTECT, related_name="attempts"
    )

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
    # A final's fidelity to its approved preview (generations.imaging.fidelity): SSIM of
    # the luma at a common small size (0–1, 1 = the same picture) and the distance of
    # their 64-bit perceptual hashes (0–64, 0 = the same).
    fidelity_ssim = models.FloatField(null=True, blank=True)
    fidelity_hash_distance = models.PositiveSmallIntegerField(null=True, blank=True)
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
    """A designer's pick among images they compare (generations.review.comparison)."""

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
