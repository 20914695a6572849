"""Erasure: planned under the log's lock, carried out against the vault, recorded by a
tombstone on the log.

Each step commits on its own and is idempotent, so a process killed anywhere leaves work
that the next pass finishes, and nothing is done twice:

1. plan: the items that are due (retention ended, consent withdrawn, erasure requested) are
   claimed together with everything derived from them down the lineage graph: their status
   becomes `erasing`, and they are grouped per reason and worker into pending erasures. Use
   checks deny them (`erased`) from that commit on.
2. erase: the erasure's vault objects are deleted (an object already gone is fine); then, in
   one log transaction that first checks the erasure is still pending, its items forget
   their content hash and salt and become `erased`, the tombstone `items.erased` is
   appended, and a worker left with no clip loses their data key (crypto-shredding: every
   copy of their ciphertext, backups included, is unreadable). A failing vault leaves the
   erasure pending, retried with backoff, never marked done.

Certificates (retention/certificates.py) follow once a signed checkpoint covers the tombstone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from ledger.appender import Appender, LogWriter
from ledger.entries import ID, EntryType, obj, register
from ledger.errors import VaultError
from ledger.ids import new_id
from ledger.items import object_name
from ledger.models import Consent, Item, ItemParent, ItemRoot
from ledger.vault import Vault
from retention.models import Erasure, ErasureItem

RETENTION_ENDED = "retention_ended"
CONSENT_WITHDRAWN = "consent_withdrawn"
ERASURE_REQUESTED = "erasure_requested"
REASONS = (RETENTION_ENDED, CONSENT_WITHDRAWN, ERASURE_REQUESTED)

MAX_ITEMS = 1000  # per erasure, so that a tombstone and a certificate stay small
PLAN_LIMIT = 5000  # due items claimed per log transaction
ERASE_LIMIT = 20  # erasures carried out per log transaction
OVERDUE_AFTER = timedelta(days=1)  # a due item not erased by then is overdue
_IN = 900  # ids per IN list
T = TypeVar("T")

ITEMS_ERASED = register(
    EntryType(
        "items.erased",
        1,
        obj(
            {
                "erasure": ID,
                "reason": {"enum": list(REASONS)},
                "request": {"anyOf": [ID, {"type": "null"}]},
                "items": {"type": "array", "minItems": 1, "uniqueItems": True, "items": ID},
                "objects_deleted": {"type": "integer", "minimum": 0},
                "key_destroyed": {"type": "boolean"},
            }
        ),
    )
)


def chunks(values: Sequence[T], size: int = _IN) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def retry_after(attempts: int) -> timedelta:
    """Backoff after a failed attempt: a minute, doubling, at most six hours."""
    wait: timedelta = timedelta(minutes=1) * 2 ** min(max(attempts - 1, 0), 10)
    return min(wait, timedelta(hours=6))


@dataclass(frozen=True)
class Claim:
    """Items due for one reason: the triggers, and who they are grouped under."""

    reason: str
    items: dict[str, str | None]  # trigger item -> its worker
    deadline: datetime
    request: str | None = None


@dataclass
class Erased:
    erasures: int = 0
    items: int = 0
    objects: int = 0
    failed: int = 0
    keys_destroyed: int = 0


def descend(session: Session, owners: dict[str, str | None]) -> dict[str, str | None]:
    """Extend `owners` (item -> worker) with every active descendant, which takes the worker
    of the first ancestor that reached it."""
    frontier = sorted(owners)
    while frontier:
        reached = []
        for part in chunks(frontier):
            rows = session.execute(
                select(ItemParent.parent_id, ItemParent.child_id)
                .join(Item, Item.id == ItemParent.child_id)
                .where(ItemParent.parent_id.in_(part), Item.status == "active")
                .order_by(ItemParent.child_id, ItemParent.parent_id)
            )
            for parent, child in rows:
                if child not in owners:
                    owners[child] = owners[parent]
                    reached.append(child)
        frontier = reached
    return owners


def owner_of(session: Session, item_ids: Sequence[str]) -> dict[str, str | None]:
    """The worker each item belongs to: a clip's own, a derived item's first root clip's."""
    owners: dict[str, str | None] = {}
    for part in chunks(item_ids):
        rows = session.execute(
            select(ItemRoot.item_id, func.min(Item.worker_id))
            .join(Item, Item.id == ItemRoot.clip_id)
            .where(ItemRoot.item_id.in_(part))
            .group_by(ItemRoot.item_id)
        )
        owners.update({item: worker for item, worker in rows})
    return {item: owners.get(item) for item in item_ids}


def withdrawn_clips(session: Session, tenant_id: str, limit: int) -> list[str]:
    """Active clips whose consent in force (the latest amendment) is withdrawn."""
    rows = session.execute(
        select(Consent.id, Consent.status, Consent.superseded_by).where(
            Consent.tenant_id == tenant_id, Consent.status != "active"
        )
    ).all()
    chain = {row.id: row.superseded_by for row in rows}
    withdrawn = {row.id for row in rows if row.status == "withdrawn"}

    def ends_withdrawn(consent: str | None) -> bool:
        seen = set()
        while consent in chain and consent not in seen:
            if consent in withdrawn:
                return True
            seen.add(consent)
            consent = chain[consent]
        return False

    ended = sorted(c for c in chain if ends_withdrawn(c))
    found: list[str] = []
    for part in chunks(ended):
        found += session.scalars(
            select(Item.id)
            .where(Item.consent_id.in_(part), Item.status == "active", Item.kind == "clip")
            .order_by(Item.id)
            .limit(limit - len(found))
        )
        if len(found) >= limit:
            break
    return found


def plan(writer: LogWriter, tenant_id: str, log_id: str, claim: Claim) -> list[str]:
    """Claim the claim's items and their descendants into pending erasures; return their ids."""
    session = writer.session
    now = writer.now()
    owners = descend(session, {i: w for i, w in claim.items.items()})
    rows: list[Any] = []
    for part in chunks(sorted(owners)):
        rows += session.execute(
            select(Item.id, Item.kind, Item.sha256, Item.content_size).where(
                Item.id.in_(part), Item.status == "active"
            )
        ).all()
    groups: dict[str | None, list[dict[str, object]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.id):
        groups[owners[row.id]].append(
            {
                "item_id": row.id,
                "kind": row.kind,
                "sha256": row.sha256,
                "stored": row.content_size is not None,
            }
        )
    made: list[str] = []
    for worker, members in sorted(groups.items(), key=lambda g: g[0] or ""):
        for group in chunks(members, MAX_ITEMS):
            erasure_id = new_id("ers")
            session.add(
                Erasure(
                    id=erasure_id,
                    tenant_id=tenant_id,
                    worker_id=worker,
                    reason=claim.reason,
                    request_id=claim.request,
                    status="pending",
                    planned_at=now,
                    deadline=claim.deadline,
                    attempts=0,
                    next_attempt_at=now,
                )
            )
            session.flush()
            session.execute(insert(ErasureItem), [{**m, "erasure_id": erasure_id} for m in group])
            for ids in chunks([str(m["item_id"]) for m in group]):
                session.execute(
                    update(Item)
                    .where(Item.id.in_(ids), Item.status == "active")
                    .values(status="erasing")
                )
            made.append(erasure_id)
    if made:
        writer.bump_epoch(log_id)  # checks on these items now deny: `erased`
    return made


class Eraser:
    """Carries out pending erasures of one tenant."""

    def __init__(self, appender: Appender, vault: Vault) -> None:
        self.appender = appender
        self.vault = vault

    def erase(self, tenant_id: str, log_id: str, erasure_ids: list[str]) -> Erased:
        result = Erased()
        with self.appender.db.session() as session:
            members: dict[str, list[tuple[str, bool]]] = defaultdict(list)
            for part in chunks(erasure_ids):
                for erasure_id, item_id, stored in session.execute(
                    select(ErasureItem.erasure_id, ErasureItem.item_id, ErasureItem.stored).where(
                        ErasureItem.erasure_id.in_(part)
                    )
                ):
                    members[erasure_id].append((item_id, stored))
        failures: dict[str, str] = {}
        deleted: dict[str, int] = {}
        for erasure_id in erasure_ids:
            names = [object_name(tenant_id, item) for item, stored in members[erasure_id] if stored]
            try:
                self.vault.backend.delete_many(names)
            except VaultError as exc:
                failures[erasure_id] = str(exc)
            else:
                deleted[erasure_id] = len(names)

        def work(writer: LogWriter) -> None:
            session, now = writer.session, writer.now()
            for erasure_id in erasure_ids:
                erasure = session.get(Erasure, erasure_id, with_for_update=True)
                if erasure is None or erasure.status != "pending":
                    continue  # done by an earlier pass
                if erasure_id in failures:
                    erasure.attempts += 1
                    erasure.last_error = failures[erasure_id][:1000]
                    erasure.next_attempt_at = now + retry_after(erasure.attempts)
                    result.failed += 1
                    continue
                items = sorted(item for item, _ in members[erasure_id])
                for part in chunks(items):
                    session.execute(
                        update(Item)
                        .where(Item.id.in_(part))
                        .values(status="erased", sha256=None, salt=None)
                    )
                shredded = erasure.worker_id is not None and self._shred(
                    session, erasure.worker_id, now
                )
                erasure.log_index = writer.append(
                    log_id,
                    "items.erased",
                    {
                        "erasure": erasure.id,
                        "reason": erasure.reason,
                        "request": erasure.request_id,
                        "items": items,
                        "objects_deleted": deleted[erasure_id],
                        "key_destroyed": shredded,
                    },
                    subject=erasure.worker_id,
                ).index
                erasure.status, erasure.erased_at = "done", now
                erasure.key_destroyed, erasure.last_error = shredded, None
                result.erasures += 1
                result.items += len(items)
                result.objects += deleted[erasure_id]
                result.keys_destroyed += shredded
            session.flush()

        self.appender.run([log_id], work)
        return result

    def _shred(self, session: Session, worker_id: str, now: datetime) -> bool:
        """Destroy the worker's data key once no clip of theirs is left to read."""
        session.flush()
        left = session.scalar(
            select(Item.id)
            .where(Item.worker_id == worker_id, Item.status.in_(("active", "erasing")))
            .limit(1)
        )
        if left is not None:
            return False
        return self.vault.destroy_key(session, worker_id, now)
