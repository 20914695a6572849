"""A tenant's log read whole for the audit: what each entry records, and which entries
would be duplicates.

Two entries are duplicates when they record the same event of an entry type that happens
once per thing: a consent given, a clip registered, a clip's content stored, a purpose of a
consent withdrawn (a purpose can be withdrawn only once; withdrawing all of a consent
withdraws each purpose still in force), an item erased (an item is in one tombstone only)
or an erasure's tombstone, a tenant's log created, an API key created or revoked, a policy
version published, an erasure request made or completed, copies confirmed, a manifest or a
report issued, a redaction requested, completed or failed, a webhook endpoint added or
removed, a key rotation. Use decisions are not keyed (the same check may rightly be asked
twice): the audit counts them against the checks that were answered instead.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ledger.db import Database
from ledger.models import LogEntry

CHUNK = 5000

# entry type -> the keys of the things it records, each of which may appear once per log
ONCE: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    "log.created": lambda d: [d["tenant"]],
    "apikey.created": lambda d: [d["key"]],
    "apikey.revoked": lambda d: [d["key"]],
    "key.rotated": lambda d: [(d["purpose"], d["new_key"])],
    "policy.published": lambda d: [d["version"]],
    "consent.given": lambda d: [d["consent"]],
    "consent.withdrawn": lambda d: [(d["consent"], p) for p in d["purposes"]],
    "clip.registered": lambda d: [d["clip"]],
    "content.stored": lambda d: [d["item"]],
    "items.erased": lambda d: [("erasure", d["erasure"])] + [("item", i) for i in d["items"]],
    "erasure.requested": lambda d: [d["request"]],
    "erasure.request_completed": lambda d: [d["request"]],
    "erasure.copies_confirmed": lambda d: [d["erasure"]],
    "manifest.issued": lambda d: [d["manifest"]],
    "report.issued": lambda d: [d["report"]],
    "redaction.requested": lambda d: [d["redaction"]],
    "redaction.completed": lambda d: [d["redaction"]],
    "redaction.failed": lambda d: [d["redaction"]],
    "webhook.endpoint_added": lambda d: [d["endpoint"]],
    "webhook.endpoint_removed": lambda d: [d["endpoint"]],
}


@dataclass(frozen=True)
class Entry:
    """What the audit needs of one entry: its type and the fields it compares."""

    type: str
    fields: tuple[Any, ...]


def _fields(kind: str, data: dict[str, Any]) -> tuple[Any, ...]:
    if kind == "use.decided":
        return (data["item"], data["purpose"], data["decision"], data["by"])
    if kind == "consent.given":
        return (data["consent"],)
    if kind == "clip.registered":
        return (data["clip"], data["consent"])
    if kind == "consent.withdrawn":
        return (data["consent"], tuple(sorted(data["purposes"])), data["complete"])
    if kind == "content.stored":
        return (data["item"], data["size"])
    if kind == "items.erased":
        return (data["erasure"], tuple(data["items"]))
    if kind == "redaction.failed":
        return (data["redaction"], data["reason"])
    return ()


@dataclass
class LogContents:
    log_id: str
    entries: dict[int, Entry] = field(default_factory=dict)
    once: dict[tuple[str, Any], list[int]] = field(default_factory=lambda: defaultdict(list))
    unreadable: list[int] = field(default_factory=list)

    def duplicates(self) -> Iterator[tuple[str, Any, list[int]]]:
        for (kind, key), indexes in self.once.items():
            if len(indexes) > 1:
                yield kind, key, indexes

    def of_type(self, kind: str, start: int = 0) -> list[int]:
        return sorted(i for i, e in self.entries.items() if e.type == kind and i >= start)


def read_log(db: Database, log_id: str) -> LogContents:
    contents = LogContents(log_id)
    after = -1
    with db.session() as session:
        while True:
            rows = session.execute(
                select(LogEntry.idx, LogEntry.body)
                .where(LogEntry.log_id == log_id, LogEntry.idx > after)
                .order_by(LogEntry.idx)
                .limit(CHUNK)
            ).all()
            if not rows:
                return contents
            for index, body in rows:
                try:
                    entry = json.loads(body)
                    kind, data = entry["type"], entry["data"]
                    contents.entries[index] = Entry(kind, _fields(kind, data))
                    for key in ONCE[kind](data) if kind in ONCE else ():
                        contents.once[(kind, key)].append(index)
                except (ValueError, KeyError, TypeError):
                    contents.unreadable.append(index)
            after = rows[-1].idx
