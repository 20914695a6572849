"""What the client raises: one base class, the service's problem+json answers by status, the
network giving out, and client-side verification failing.

Every error from the service carries the RFC 9457 fields it sent (`status`, `title`,
`detail`, `errors`, `request_id`), so a caller can show what to change without parsing text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx


class CustodyError(Exception):
    """Base of everything this client raises."""


class ApiError(CustodyError):
    """The service answered with an error (application/problem+json)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body or {}


class BadRequest(ApiError):
    """400: the request is malformed."""


class Unauthorized(ApiError):
    """401: no key, or a key the service does not know."""


class Forbidden(ApiError):
    """403: the key's role may not do this."""


class UseDenied(Forbidden):
    """403 from a download: the use check denied it. `reasons` says why."""

    @property
    def reasons(self) -> list[str]:
        return [str(e.get("message")) for e in self.errors if e.get("field") == "purpose"]


class NotFound(ApiError):
    """404: nothing there for this key (another tenant's records look the same)."""


class Conflict(ApiError):
    """409: the request clashes with the current state, e.g. already withdrawn."""


class Gone(ApiError):
    """410: the thing existed and was erased."""


class PayloadTooLarge(ApiError):
    """413: the body is larger than the service accepts."""


class ValidationFailed(ApiError):
    """422: fields are missing or wrong; `errors` names each."""


class RateLimited(ApiError):
    """429: too many requests; `retry_after` says when to come back."""


class ServerError(ApiError):
    """5xx: the service failed or is unavailable."""


class ServiceUnavailable(ServerError):
    """503: a moment's condition; the same request should work later."""


class ConnectionFailed(CustodyError):
    """No answer: the connection failed or timed out, on every attempt allowed."""


class VerificationError(CustodyError):
    """Client-side verification failed: a signature, proof or digest does not check out."""


class RollbackError(VerificationError):
    """The log's checkpoint is older than, or forks from, one this client verified before."""


class WebhookVerificationError(VerificationError):
    """A webhook's signature, timestamp or body does not verify."""


BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: RateLimited,
    503: ServiceUnavailable,
}


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), else None."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from(response: httpx.Response, kind: type[ApiError] | None = None) -> ApiError:
    """The exception for an error response; the body must have been read."""
    body: dict[str, Any] = {}
    try:
        parsed = json.loads(response.content) if response.content else {}
        body = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        pass
    status = response.status_code
    kind = kind or BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    detail = body.get("detail") or (response.text[:500] if not body else "")
    return kind(
        status,
        str(body.get("title") or response.reason_phrase or "Error"),
        str(detail),
        errors=body.get("errors") if isinstance(body.get("errors"), list) else None,
        request_id=body.get("request_id") or response.headers.get("X-Request-Id"),
        retry_after=retry_after(response),
        body=body,
    )
