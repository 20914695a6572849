"""Webhooks from the service (Standard Webhooks): the signature checked with the
`standardwebhooks` library, then the event parsed.

Pass the body exactly as received (bytes) and the request's headers; the `whsec_` secret
is the one shown when the endpoint was added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook
from standardwebhooks.webhooks import WebhookVerificationError as _Unverified

from custody_client.errors import WebhookVerificationError


@dataclass(frozen=True)
class WebhookEvent:
    id: str  # webhook-id: the same on every retry of one message, so dedupe on it
    type: str  # erasure.completed, manifest.tainted...
    timestamp: str
    data: dict[str, Any]


def verify_webhook(body: bytes | str, headers: Mapping[str, str], secret: str) -> WebhookEvent:
    """The event, once its signature and timestamp (within 5 minutes) verify; raises
    WebhookVerificationError otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        payload = Webhook(secret).verify(body, lowered)
    except (_Unverified, EmptyWebhookSecretError) as exc:
        raise WebhookVerificationError(f"the webhook does not verify: {exc}") from exc
    except (ValueError, TypeError, UnicodeDecodeError) as exc:  # garbled headers or body
        raise WebhookVerificationError(f"the webhook is malformed: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise WebhookVerificationError("the webhook body is not an event")
    return WebhookEvent(
        lowered["webhook-id"],
        str(payload.get("type")),
        str(payload.get("timestamp")),
        payload["data"],
    )
