"""Lanes a final can go by (DESIGN.md, "Lanes for a final"): pure definitions.

- standard ("Now"): the worker calls the model right away (generateContent).
- batch ("Economy (Batch API)"): the final waits in a provider batch job (Gemini's
  `batchGenerateContent`), published at half the standard price with a 24 h target
  turnaround. The stored value stays "batch" (the price list, the ledger and the daily
  roll-ups have held it since migration 0006); people read "Economy (Batch API)".

The lane is chosen at approval (the project's default unless the reviewer picks one),
reserved and charged at that lane's price, and recorded on the attempt and the ledger.
"""

from __future__ import annotations

from typing import Final

from django.db import models


class Lane(models.TextChoices):
    STANDARD = "standard", "Now (standard)"
    BATCH = "batch", "Economy (Batch API)"


# The providers whose models can go by the economy lane: Gemini's Batch API, and the
# local provider's simulation of it (a hosted model without a key, and `local` itself).
ECONOMY_PROVIDERS: Final = frozenset({"gemini", "local"})
# What the approval screens say about the wait (Google: "target turnaround 24 hours,
# in the majority of cases much quicker").
ECONOMY_WAIT: Final = "up to 24 h, usually sooner"


def lane_label(lane: str) -> str:
    try:
        return Lane(lane).label
    except ValueError:
        return lane or "—"
