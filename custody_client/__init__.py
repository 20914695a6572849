"""A Python client for Custody's HTTP API, with client-side verification of what it says."""

from custody_client.bodies import sha256_of
from custody_client.client import Custody
from custody_client.downloads import Download
from custody_client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    CustodyError,
    Forbidden,
    Gone,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RollbackError,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    UseDenied,
    ValidationFailed,
    VerificationError,
    WebhookVerificationError,
)
from custody_client.memory import CheckpointMemory, VerifiedCheckpoint
from custody_client.pages import Page, iterate
from custody_client.retry import RetryPolicy
from custody_client.verifier import ProvenEntry, Verifier
from custody_client.webhooks import WebhookEvent, verify_webhook

__all__ = [
    "ApiError",
    "BadRequest",
    "CheckpointMemory",
    "Conflict",
    "ConnectionFailed",
    "Custody",
    "CustodyError",
    "Download",
    "Forbidden",
    "Gone",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "ProvenEntry",
    "RateLimited",
    "RetryPolicy",
    "RollbackError",
    "ServerError",
    "ServiceUnavailable",
    "Unauthorized",
    "UseDenied",
    "ValidationFailed",
    "VerificationError",
    "VerifiedCheckpoint",
    "Verifier",
    "WebhookEvent",
    "WebhookVerificationError",
    "iterate",
    "sha256_of",
    "verify_webhook",
]
