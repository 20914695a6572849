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
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ledger.consent.consents import ConsentStatus, latest_amendment
from ledger.errors import VaultError
from ledger.ids import new_id
from ledger.items.items import ItemKind, ItemService, ItemStatus, children_of, object_names
from ledger.items.manifests import Manifests
from ledger.log.appender import Appender, LogWriter
from ledger.log.entries import ID, EntryType, obj, register
from ledger.models import Consent, Item, ItemRoot
from ledger.vault.vault import Vault
from retention.models import Erasure, ErasureItem


class ErasureReason(StrEnum):
    """Why items are erased: their retention ended, the consent in force for them was
    withdrawn, or the worker asked."""

    RETENTION_ENDED = "retention_ended"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    ERASURE_REQUESTED = "erasure_requested"


class ErasureStatus(StrEnum):
    """An erasure is `pending` from its plan until its tombstone is on the log (`done`)."""

    PENDING = "pending"
    DONE = "done"


REASONS = tuple(r.value for r in ErasureReason)

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

    reason: ErasureReason
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

    def add(self, other: Erased) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


def descend(session: Session, owners: dict[str, str | None]) -> dict[str, str | None]:
    """Extend `owners` (item -> worker) with every active descendant, which takes the worker
    of the first ancestor that reached it."""
    frontier = sorted(owners)
    while frontier:
        edges = children_of(session, frontier)
        children = sorted({child for _, child in edges} - owners.keys())
        statuses = item_statuses(session, children)
        active = {i for i, status in statuses.items() if status == ItemStatus.ACTIVE}
        for parent, child in sorted(edges, key=lambda e: (e[1], e[0])):
            if child in active and child not in owners:
                owners[child] = owners[parent]
        frontier = sorted(active)
    return owners


def item_statuses(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """Items' statuses by primary key. Queries here never filter on `status` in SQL: with an
    id list beside it, SQLite would rather scan the status index than seek the ids."""
    found: dict[str, str] = {}
    for part in chunks(ids):
        rows = session.execute(select(Item.id, Item.status).where(Item.id.in_(part)))
        found.update({item: status for item, status in rows})
    return found


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
            Consent.tenant_id == tenant_id, Consent.status != ConsentStatus.ACTIVE
        )
    ).all()
    # Only consents no longer active are loaded: a chain that reaches an active one stops
    # there (it has no successor in the map), at a consent in force, not withdrawn.
    chain = {row.id: row.superseded_by for row in rows}
    withdrawn = {row.id for row in rows if row.status == ConsentStatus.WITHDRAWN}
    ended = sorted(c for c in chain if latest_amendment(c, chain.get) in withdrawn)
    found: list[str] = []
    for part in chunks(ended):
        found += sorted(
            session.scalars(
                select(Item.id).where(
                    Item.consent_id.in_(part),
                    Item.status == ItemStatus.ACTIVE,
                    Item.kind == ItemKind.CLIP,
                )
            )
        )
        if len(found) >= limit:
            break
    return found[:limit]


def plan(writer: LogWriter, tenant_id: str, log_id: str, claim: Claim) -> list[str]:
    """Claim the claim's items and their descendants into pending erasures; return their ids."""
    session = writer.session
    now = writer.now()
    owners = descend(session, {i: w for i, w in claim.items.items()})
    rows: list[Any] = []
    for part in chunks(sorted(owners)):
        rows += [
            row
            for row in session.execute(
                select(Item.id, Item.status, Item.kind, Item.sha256, Item.content_size).where(
                    Item.id.in_(part)
                )
            )
            if row.status == ItemStatus.ACTIVE
        ]
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
    erasures: list[dict[str, object]] = []
    members: list[dict[str, object]] = []
    for worker, group in sorted(groups.items(), key=lambda g: g[0] or ""):
        for batch in chunks(group, MAX_ITEMS):
            erasure_id = new_id("ers")
            erasures.append(
                {
                    "id": erasure_id,
                    "tenant_id": tenant_id,
                    "worker_id": worker,
                    "reason": claim.reason,
                    "request_id": claim.request,
                    "status": ErasureStatus.PENDING,
                    "planned_at": now,
                    "deadline": claim.deadline,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            )
            members += [{**m, "erasure_id": erasure_id} for m in batch]
    if not erasures:
        return []
    session.flush()
    session.execute(insert(Erasure), erasures)
    session.execute(insert(ErasureItem), members)
    ItemService.mark_erasing(session, [str(m["item_id"]) for m in members])
    writer.bump_epoch(log_id)  # checks on these items now deny: `erased`
    return [str(e["id"]) for e in erasures]


class Eraser:
    """Carries out pending erasures of one tenant."""

    def __init__(self, appender: Appender, vault: Vault) -> None:
        self.appender = appender
        self.vault = vault

    def erase(self, tenant_id: str, log_id: str, erasure_ids: list[str]) -> Erased:
        result = Erased()
        with self.appender.db.session() as session:
            members: dict[str, list[str]] = defaultdict(list)
            names: dict[str, list[str]] = defaultdict(list)
            for part in chunks(erasure_ids):
                for erasure_id, item_id, kind, stored in session.execute(
                    select(
                        ErasureItem.erasure_id,
                        ErasureItem.item_id,
                        ErasureItem.kind,
                        ErasureItem.stored,
                    ).where(ErasureItem.erasure_id.in_(part))
                ):
                    members[erasure_id].append(item_id)
                    if stored:
                        names[erasure_id] += object_names(tenant_id, item_id, kind)
        failures: dict[str, str] = {}
        deleted: dict[str, int] = {}
        for erasure_id in erasure_ids:
            try:
                self.vault.backend.delete_many(names[erasure_id])
            except VaultError as exc:
                failures[erasure_id] = str(exc)
            else:
                deleted[erasure_id] = len(names[erasure_id])

        def work(writer: LogWriter) -> None:
            session, now = writer.session, writer.now()
            pending: list[Erasure] = []
            for part in chunks(erasure_ids):
                pending += session.scalars(
                    select(Erasure).where(Erasure.id.in_(part)).with_for_update()
                )
            pending = [e for e in pending if e.status == ErasureStatus.PENDING]  # else done before
            for erasure in (e for e in pending if e.id in failures):
                erasure.attempts += 1
                erasure.last_error = failures[erasure.id][:1000]
                erasure.next_attempt_at = now + retry_after(erasure.attempts)
                result.failed += 1
            done = sorted((e for e in pending if e.id not in failures), key=lambda e: e.id)
            erased = [item for e in done for item in members[e.id]]
            ItemService.forget(session, erased)
            Manifests.forget_erased(session, erased)
            shredded = self._shred(session, {e.worker_id for e in done if e.worker_id}, now)
            for erasure in done:
                items = sorted(members[erasure.id])
                destroyed = erasure.worker_id in shredded
                shredded.discard(erasure.worker_id)  # told once, by its first erasure here
                erasure.log_index = writer.append(
                    log_id,
                    "items.erased",
                    {
                        "erasure": erasure.id,
                        "reason": erasure.reason,
                        "request": erasure.request_id,
                        "items": items,
                        "objects_deleted": deleted[erasure.id],
                        "key_destroyed": destroyed,
                    },
                    subject=erasure.worker_id,
                ).index
                erasure.status, erasure.erased_at = ErasureStatus.DONE, now
                erasure.key_destroyed, erasure.last_error = destroyed, None
                result.erasures += 1
                result.items += len(items)
                result.objects += deleted[erasure.id]
                result.keys_destroyed += destroyed
            session.flush()

        self.appender.run([log_id], work)
        return result

    def _shred(self, session: Session, workers: set[str], now: datetime) -> set[str]:
        """Destroy the data key of each worker who has no clip left to read; return them."""
        if not workers:
            return set()
        holding: set[str] = set()
        for part in chunks(sorted(workers)):
            holding.update(
                session.scalars(
                    select(Item.worker_id)
                    .where(
                        Item.worker_id.in_(part),
                        Item.status.in_((ItemStatus.ACTIVE, ItemStatus.ERASING)),
                    )
                    .distinct()
                )
            )
        return {w for w in workers - holding if self.vault.destroy_key(session, w, now)}
