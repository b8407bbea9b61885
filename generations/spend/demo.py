"""The demo's savings history (`manage.py bootstrap_demo`): two finished submissions whose
ledgers make the savings page explain a path that saves beside one that does not.

- *Saves*: four variants previewed on Nano Banana 2 at 512 ($0.045 each), one approved,
  its final on Nano Banana Pro at 4K made from the approved preview in the batch lane
  (half of $0.24 + the input image: $0.1206). $0.30 against $0.96 straight at 4K.
- *Does not*: four variants previewed on Nano Banana Pro at 2K ($0.134 each), three
  approved to standard 4K finals ($0.2411 each). $1.26 against $0.96 straight at 4K.

The rows stand for work already done, so they are written as history (generations in
their final state, one attempt and one charge per call, priced from the list as the
worker would have charged them), not rendered. With no API key they are flagged
simulated, as the local renders are. Idempotent: the project is made once.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from generations import catalog
from generations.models import (
    Attempt,
    Generation,
    Lane,
    LedgerEntry,
    Membership,
    Phase,
    Project,
    Role,
    Submission,
)
from generations.spend import pricing
from generations.spend.ledger import ledger_entry_insert
from generations.states import State
from generations.strategies import Strategy
from generations.types import User

PROJECT_SLUG = "savings-demo"
PROJECT_NAME = "Savings demo (history)"
PRO, NB2 = "nano-banana-pro", "nano-banana-2"
VARIANTS = 4


@dataclass(frozen=True)
class DemoPath:
    prompt: str
    preview_model: str
    preview_size: str
    final_model: str
    approved: int
    lane: str


PATHS = (
    DemoPath(
        "Saves: a glass teapot on a sunlit windowsill, steam curling",
        NB2, "512", PRO, approved=1, lane=Lane.BATCH,
    ),
    DemoPath(
        "Does not save: a brass compass on an old sea chart, morning light",
        PRO, "2K", PRO, approved=3, lane=Lane.STANDARD,
    ),
)  # fmt: skip


def savings_demo_seed(*, designer: User, admin: User, at: dt.datetime | None = None) -> bool:
    """Make the savings-demo project and its history; False when it exists already."""
    if Project.objects.filter(slug=PROJECT_SLUG).exists():
        return False
    at = at or timezone.now() - dt.timedelta(days=1)
    with transaction.atomic():
        project = Project.objects.create(name=PROJECT_NAME, slug=PROJECT_SLUG)
        Membership.objects.create(project=project, user=admin, role=Role.ADMIN)
        for path in PATHS:
            _seed_path(project, designer, path, at=at)
    return True


def _seed_path(project: Project, designer: User, path: DemoPath, *, at: dt.datetime) -> None:
    submission = Submission.objects.create(
        project=project,
        created_by=designer,
        prompt=path.prompt,
        model_key=path.preview_model,
        final_model_key=path.final_model,
        aspect_ratio="1:1",
        preview_size=path.preview_size,
        final_size=project.final_size,
        variants=VARIANTS,
    )
    for variant in range(1, VARIANTS + 1):
        approved = variant <= path.approved
        generation = Generation.objects.create(
            submission=submission,
            project=project,
            variant=variant,
            seed=secrets.randbits(31),
            state=State.DELIVERED if approved else State.REJECTED,
            state_changed_at=at,
            created_at=at,
            escalation_strategy=Strategy.FROM_PREVIEW if approved else "",
        )
        _charge(generation, Phase.PREVIEW, path.preview_model, path.preview_size, Lane.STANDARD, at)
        if approved:
            final_at = at + dt.timedelta(minutes=10)
            _charge(
                generation, Phase.FINAL, path.final_model, project.final_size, path.lane, final_at
            )


def _charge(
    generation: Generation, phase: Phase, model_key: str, size: str, lane: str, at: dt.datetime
) -> None:
    final = phase == Phase.FINAL
    image = pricing.price_in_force(model_key=model_key, size=size, lane=lane, at=at)
    inputs = pricing.input_image_price(model_key=model_key, lane=lane, at=at) if final else None
    unit = image.usd_per_image if image else Decimal(0)
    amount = unit + (inputs.usd_per_image if inputs else Decimal(0))
    try:
        simulated = catalog.get_model(model_key).simulated
    except LookupError:
        simulated = False
    provider = pricing.LOCAL_PROVIDER if simulated else "gemini"
    number = generation.attempts.count() + 1
    attempt = Attempt.objects.create(
        generation=generation,
        number=number,
        phase=phase,
        size=size,
        provider=provider,
        model_id=model_key,
        model_key=model_key,
        started_at=at,
        finished_at=at,
        outcome=Attempt.Outcome.SUCCEEDED,
        strategy=Strategy.FROM_PREVIEW if final else "",
        input_images=int(final),
    )
    generation.attempt_count = number
    generation.save(update_fields=["attempt_count"])
    ledger_entry_insert(
        LedgerEntry(
            kind=LedgerEntry.Kind.CHARGE,
            project_id=generation.project_id,
            user_id=generation.submission.created_by_id,
            generation=generation,
            attempt=attempt,
            phase=phase,
            model_key=model_key,
            provider=provider,
            size=size,
            lane=lane,
            unit_price=unit,
            price_entry=image,
            amount_usd=amount,
            simulated=simulated,
            reason="demo history" + ("; includes 1 input image" if final else ""),
            created_at=at,
        )
    )
