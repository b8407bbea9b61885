"""Quality drift alerts already sent (once per drop)."""

from __future__ import annotations

from django.db import models


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


# --- Roll-ups: derived from the ledger and the generations (generations.spend.rollups) ---------
