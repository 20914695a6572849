"""What every group of calls shares: the transport, and path segments made safe."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from custody_client.transport import Transport


class Resource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport


def seg(value: str) -> str:
    """One path segment, percent-encoded (a worker's reference may hold any character)."""
    if not value:
        raise ValueError("an id or reference must not be empty")
    return quote(value, safe="")


def given(**fields: Any) -> dict[str, Any]:
    """The fields the caller set: None means "leave it to the service's default"."""
    return {k: v for k, v in fields.items() if v is not None}
