"""Money: the price list, the append-only ledger, reservations, budgets and the daily roll-
ups the reports read."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Coalesce

from generations.lanes import Lane
from generations.models.core import Attempt, Generation, Phase, Project


class PriceKind(models.TextChoices):
    IMAGE = "image", "Rendered image"
    # Each input image a request carries (e.g. the approved preview of a final made from
    # it): Gemini bills them as input tokens. Entries of this kind have no size ("").
    INPUT_IMAGE = "input_image", "Input image"


class PriceEntry(models.Model):
    """USD per image of one model × size × lane from `effective_from` on, until a later
    entry for the same key takes over. Charges copy the price they used, so editing the
    list never rewrites history."""

    model_key = models.CharField(max_length=64)
    size = models.CharField(max_length=4, blank=True)  # "512", "1K", "2K", "4K"; "" input
    kind = models.CharField(max_length=12, choices=PriceKind.choices, default=PriceKind.IMAGE)
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
            # Spend reports (generations.spend.reports): every figure of a range is read from
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

    # Append-only: history is corrected by new rows (generations.spend.ledger, whose
    # ledger_entry_insert also writes the roll-ups), never edited. PostgreSQL also refuses
    # UPDATE/DELETE with a trigger (migration 0008).
    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise LedgerImmutable("Ledger entries are never changed; add a correction.")
        super().save(*args, **kwargs)

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
    per project × designer × path (preview model × preview size → final model × final
    size): how many were previewed, approved and delivered (their state now), and what
    their whole ledger cost, whenever charged. `model_key` is the final's model (whose
    price "every variant straight at the final size" uses)."""

    time_zone = models.CharField(max_length=64)
    day = models.DateField()
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    designer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    model_key = models.CharField(max_length=64)
    final_size = models.CharField(max_length=4)
    preview_model_key = models.CharField(max_length=64, default="")
    preview_size = models.CharField(max_length=4, default="")
    previewed = models.IntegerField(default=0)
    approved = models.IntegerField(default=0)
    delivered = models.IntegerField(default=0)
    net_e4 = models.BigIntegerField(default=0)
    waste_e4 = models.BigIntegerField(default=0)
    simulated_e4 = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "time_zone",
                    "day",
                    "project",
                    "designer",
                    "model_key",
                    "final_size",
                    "preview_model_key",
                    "preview_size",
                ],
                name="savings_rollup_path_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.project_id} {self.designer_id} {self.model_key}"
