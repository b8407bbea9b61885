"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with a per-endpoint
secret written "whsec_<base64 key>".

Signing is the `standardwebhooks` library (the specification's reference implementation);
the tests check the headers with their own HMAC, not with it."""

from __future__ import annotations

import base64
import datetime as dt
import secrets

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
KEY_BYTES = 24  # the specification asks for 24 to 64 random bytes


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def signed_headers(*, secret: str, msg_id: str, at: dt.datetime, body: str) -> dict[str, str]:
    """The three headers of one attempt: the same id on every attempt and replay, the time
    of this attempt, and its signature."""
    at = at.astimezone(dt.UTC)  # the library reads the time as UTC without converting
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body),
    }
