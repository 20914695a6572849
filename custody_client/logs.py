"""The tamper-evident log: head, signed checkpoints, entries and RFC 9162 proofs, and the
published keys. Checkpoints and proofs are public; entries and the head need a key of the
log's tenant. These calls only fetch: `Custody.verifier` checks what they return."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from custody_client.pages import Page, page
from custody_client.resource import Resource, seg
from custody_client.transport import Transport
from custody_client.types import (
    ConsistencyProof,
    InclusionProof,
    KeyDocument,
    LogEntry,
    LogHead,
    StoredCheckpoint,
)

MAX_ENTRIES = 1000


class Logs(Resource):
    def __init__(self, transport: Transport, default_log: str | None) -> None:
        super().__init__(transport)
        self.default_log = default_log

    def _path(self, log: str | None, rest: str = "") -> str:
        chosen = log or self.default_log
        if not chosen:
            raise ValueError("name the log (log_...), or give log_id= to Custody")
        return f"/v1/logs/{seg(chosen)}{rest}"

    def head(self, log: str | None = None) -> LogHead:
        """Size, root and latest checkpoint (unverified: see Custody.verifier)."""
        return cast(LogHead, self._t.json("GET", self._path(log)))

    def checkpoint(self, log: str | None = None) -> str:
        """The latest signed checkpoint note (C2SP), as text."""
        return self._t.text(self._path(log, "/checkpoint"))

    def checkpoints(
        self, log: str | None = None, *, after: int | None = None, limit: int | None = None
    ) -> Page[StoredCheckpoint]:
        """Stored checkpoints, oldest first; `next` is the `after` of the next page."""
        params = {"after": after, "limit": limit}
        return page(
            self._t.json("GET", self._path(log, "/checkpoints"), params=params), "checkpoints"
        )

    def entries(self, log: str | None = None, *, start: int, end: int) -> Page[LogEntry]:
        """Entries [start, end), at most 1000; `next` is the start of the next page."""
        params = {"start": start, "end": end}
        return page(self._t.json("GET", self._path(log, "/entries"), params=params), "entries")

    def iter_entries(
        self, log: str | None = None, *, start: int = 0, end: int | None = None
    ) -> Iterator[LogEntry]:
        """Every entry from `start` to `end` (default: the head's size), page by page."""
        stop = end if end is not None else self.head(log)["tree_size"]
        cursor: int | None = start
        while cursor is not None and cursor < stop:
            current = self.entries(log, start=cursor, end=min(stop, cursor + MAX_ENTRIES))
            yield from current.items
            following = current.next
            if following is None and current.items:
                following = current.items[-1]["index"] + 1
            if following is None or (isinstance(following, int) and following <= cursor):
                return
            cursor = int(following)

    def inclusion_proof(self, index: int, tree_size: int, log: str | None = None) -> InclusionProof:
        params = {"index": index, "tree_size": tree_size}
        path = self._path(log, "/proofs/inclusion")
        return cast(InclusionProof, self._t.json("GET", path, params=params))

    def consistency_proof(
        self, first: int, second: int, log: str | None = None
    ) -> ConsistencyProof:
        params = {"first": first, "second": second}
        path = self._path(log, "/proofs/consistency")
        return cast(ConsistencyProof, self._t.json("GET", path, params=params))

    def keys(self) -> KeyDocument:
        """The published key document (/.well-known/custody-keys), fetched now."""
        return cast(KeyDocument, self._t.json("GET", "/.well-known/custody-keys"))
