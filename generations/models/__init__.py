"""The app's models, one module per domain, re-exported here so that
`from generations.models import X` and Django's app registry see them all."""

from generations.models.batches import Batch
from generations.models.core import (
    Attempt,
    FallbackPolicy,
    Favourite,
    Generation,
    Image,
    Membership,
    Phase,
    Project,
    Role,
    Submission,
    Transition,
)
from generations.models.economy import EconomyJob
from generations.models.limits import (
    ModelPause,
    RateLimitCall,
    RateLimitState,
)
from generations.models.quality import (
    DriftAlert,
)
from generations.models.references import Reference, ReferenceRole, Upload
from generations.models.review import (
    Comment,
    Notification,
)
from generations.models.spend import (
    Budget,
    BudgetAlert,
    BudgetPeriod,
    Lane,
    LedgerEntry,
    LedgerImmutable,
    PriceEntry,
    PriceKind,
    Reservation,
    RollupSums,
    SavingsRollup,
    SpendPersonRollup,
    SpendRollup,
)
from generations.models.tokens import ApiToken, TokenScope
from generations.models.webhooks import (
    TEST_EVENT,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "Reference",
    "ReferenceRole",
    "Upload",
    "Role",
    "FallbackPolicy",
    "Project",
    "Membership",
    "Submission",
    "Generation",
    "Transition",
    "Phase",
    "Attempt",
    "Image",
    "Favourite",
    "RateLimitState",
    "ModelPause",
    "RateLimitCall",
    "Comment",
    "Notification",
    "Lane",
    "PriceEntry",
    "PriceKind",
    "LedgerEntry",
    "LedgerImmutable",
    "Reservation",
    "BudgetPeriod",
    "Budget",
    "BudgetAlert",
    "RollupSums",
    "SpendRollup",
    "SpendPersonRollup",
    "SavingsRollup",
    "DriftAlert",
    "Batch",
    "EconomyJob",
    "WebhookEvent",
    "TEST_EVENT",
    "WebhookEndpoint",
    "WebhookDelivery",
    "WebhookAttempt",
    "ApiToken",
    "TokenScope",
]
