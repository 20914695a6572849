"""Clips, their bytes, what is derived from them, and the use check."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO, cast

from custody_client.bodies import Body, Content, sha256_of
from custody_client.downloads import Destination, Download, receive
from custody_client.errors import UseDenied
from custody_client.resource import Resource, given, seg
from custody_client.transport import rfc3339
from custody_client.types import BatchCheck, Check, Item, Lineage

Hashable = bytes | str | os.PathLike[str] | BinaryIO  # bytes, a path, an open binary file


def _sha256(sha256: str | None, content: Hashable | None) -> str:
    if sha256 is not None and content is None:
        return sha256
    if sha256 is None and content is not None:
        return sha256_of(content)
    raise ValueError("give either sha256 (64 hex) or the content to hash")


class Clips(Resource):
    def register(
        self,
        *,
        worker: str,
        consent: str,
        data_categories: Sequence[str],
        captured_at: datetime | str,
        sha256: str | None = None,
        content: Hashable | None = None,
        duration_ms: int | None = None,
        device: str | None = None,
        location_granularity: str | None = None,
        location: str | None = None,
        idempotency_key: str | None = None,
    ) -> Item:
        """Register a clip by its SHA-256 (or hash `content` here: bytes, a path or an open
        binary file) under a consent. Registering known content answers the same clip with
        `created` false."""
        body = given(
            sha256=_sha256(sha256, content),
            worker=worker,
            consent=consent,
            data_categories=list(data_categories),
            captured_at=rfc3339(captured_at) if isinstance(captured_at, datetime) else captured_at,
            duration_ms=duration_ms,
            device=device,
            location_granularity=location_granularity,
            location=location,
        )
        return cast(
            Item, self._t.json("POST", "/v1/clips", body=body, idempotency_key=idempotency_key)
        )

    def upload(self, clip: str, content: Content) -> Item:
        """Stream the clip's bytes into the vault: bytes, a path (str or PathLike), an open
        binary file (from where it stands), or an iterable of chunks (sent once, not
        retried). The service stores them only if they hash to the registered SHA-256."""
        with self._t.stream(
            "PUT",
            f"/v1/clips/{seg(clip)}/content",
            content=Body(content),
            content_type="application/octet-stream",
        ) as response:
            response.read()
        return cast(Item, response.json())

    def get(self, clip: str) -> Item:
        return cast(Item, self._t.json("GET", f"/v1/clips/{seg(clip)}"))

    def download(
        self,
        clip: str,
        *,
        purpose: str,
        recipient: str = "platform",
        to: Destination = None,
    ) -> Download:
        """The clip's bytes, after a use check that the service logs; `to` is a path, an open
        binary file, or None for the bytes in memory. A denied use raises UseDenied with the
        reasons; the bytes are checked against the service's digest as they arrive."""
        with self._t.stream(
            "GET",
            f"/v1/clips/{seg(clip)}/content",
            params={"purpose": purpose, "recipient": recipient},
            accept="application/octet-stream",
            forbidden=UseDenied,
        ) as response:
            return receive(response, to)


class Derivations(Resource):
    def record(
        self,
        *,
        parents: Sequence[str],
        kind: str,
        activity: Mapping[str, Any],
        sha256: str | None = None,
        content: Hashable | None = None,
        data_categories: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Item:
        """Record an item derived from parents (a label, annotation, redacted copy...).
        `activity` is {"type": ..., "agent": ..., "started_at"?, "ended_at"?}."""
        activity = {k: rfc3339(v) if isinstance(v, datetime) else v for k, v in activity.items()}
        body = given(
            parents=list(parents),
            kind=kind,
            sha256=_sha256(sha256, content),
            activity=activity,
            data_categories=list(data_categories) if data_categories is not None else None,
        )
        answer = self._t.json("POST", "/v1/derivations", body=body, idempotency_key=idempotency_key)
        return cast(Item, answer)


class Items(Resource):
    def get(self, item: str) -> Item:
        return cast(Item, self._t.json("GET", f"/v1/items/{seg(item)}"))

    def lineage(self, item: str) -> Lineage:
        """Every ancestor and descendant, and the derivation edges between them."""
        return cast(Lineage, self._t.json("GET", f"/v1/items/{seg(item)}/lineage"))


class Checks(Resource):
    def check(
        self,
        item: str,
        purpose: str,
        recipient: str = "platform",
        *,
        idempotency_key: str | None = None,
    ) -> Check:
        """May this item (id or content SHA-256) be used for this purpose by this recipient?
        The decision is a log entry. Unknown items are denied, not an error."""
        body = {"item": item, "purpose": purpose, "recipient": recipient}
        return cast(
            Check, self._t.json("POST", "/v1/checks", body=body, idempotency_key=idempotency_key)
        )

    def batch(
        self,
        items: Sequence[str],
        purpose: str,
        recipient: str = "platform",
        *,
        idempotency_key: str | None = None,
    ) -> BatchCheck:
        """Up to 10,000 items for one purpose: one log entry holding every decision."""
        body = {"items": list(items), "purpose": purpose, "recipient": recipient}
        answer = self._t.json(
            "POST", "/v1/checks/batch", body=body, idempotency_key=idempotency_key
        )
        return cast(BatchCheck, answer)
