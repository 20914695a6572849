"""The domain's exceptions. They carry data, never HTTP status codes: only api/errors.py
maps them to problem+json responses."""

from __future__ import annotations


class CustodyError(Exception):
    """Base of every domain error."""


class NotFound(CustodyError):
    """The thing does not exist, or the caller may not know that it does."""

    def __init__(self, kind: str, ident: str | None = None) -> None:
        super().__init__(f"{kind} not found")
        self.kind = kind
        self.ident = ident


class InvalidRequest(CustodyError):
    """Input that is well-formed but cannot be acted on; `field` names what to fix."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidEntry(InvalidRequest):
    """A log entry that does not match its type's schema or cannot be canonicalized."""


class Conflict(CustodyError):
    """The request clashes with the current state (e.g. revoking a revoked key)."""


class KeyUnavailable(CustodyError):
    """A signing key is listed as active but its private half cannot be loaded."""


class Gone(Conflict):
    """The thing existed and was erased; it will never come back."""


class VaultError(CustodyError):
    """Stored content is missing, fails authentication, or its key is destroyed."""


class TryLater(CustodyError):
    """A moment's condition (such as waiting for the next signed checkpoint) stops the
    request; the same request will succeed shortly."""

    retry_after = 2
