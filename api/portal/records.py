"""What the portal shows a worker, read from the projections: every query is bounded by the
worker (and a page of their recordings), so no page grows with the tenant's data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.items.decisions import Verdict
from ledger.items.items import ItemKind, ItemStatus
from ledger.models import Item, ItemRoot, UseDecision
from redaction.models import Redaction
from retention.models import Erasure, ErasureRequest

PAGE = 10  # recordings per page


@dataclass(frozen=True)
class UseGroup:
    purpose: str
    recipient: str
    times: int
    last: datetime


@dataclass
class Recording:
    clip: Item
    derived: list[tuple[str, str, int]] = field(default_factory=list)  # kind, status, count
    uses: list[UseGroup] = field(default_factory=list)
    redactions: list[Redaction] = field(default_factory=list)


def recordings(session: Session, worker_id: str, page: int) -> tuple[list[Recording], bool]:
    """One page of the worker's recordings, newest first, and whether more follow."""
    clips = session.scalars(
        select(Item)
        .where(Item.worker_id == worker_id, Item.kind == ItemKind.CLIP)
        .order_by(Item.created_at.desc(), Item.id)
        .offset(page * PAGE)
        .limit(PAGE + 1)
    ).all()
    shown = {c.id: Recording(c) for c in clips[:PAGE]}
    ids = list(shown)
    for clip_id, kind, status, count in session.execute(
        select(ItemRoot.clip_id, Item.kind, Item.status, func.count())
        .join(Item, Item.id == ItemRoot.item_id)
        .where(ItemRoot.clip_id.in_(ids), ItemRoot.item_id != ItemRoot.clip_id)
        .group_by(ItemRoot.clip_id, Item.kind, Item.status)
        .order_by(ItemRoot.clip_id, Item.kind, Item.status)
    ):
        shown[clip_id].derived.append((kind, status, count))
    for clip_id, purpose, recipient, times, last in session.execute(
        select(
            ItemRoot.clip_id,
            UseDecision.purpose,
            UseDecision.recipient,
            func.count(),
            func.max(UseDecision.at),
        )
        .join(UseDecision, UseDecision.item_id == ItemRoot.item_id)
        .where(ItemRoot.clip_id.in_(ids), UseDecision.decision == Verdict.ALLOW)
        .group_by(ItemRoot.clip_id, UseDecision.purpose, UseDecision.recipient)
        .order_by(ItemRoot.clip_id, UseDecision.purpose, UseDecision.recipient)
    ):
        shown[clip_id].uses.append(UseGroup(purpose, recipient, times, last))
    for redaction in session.scalars(
        select(Redaction)
        .where(Redaction.source_id.in_(ids))
        .order_by(Redaction.requested_at, Redaction.id)
    ):
        shown[redaction.source_id].redactions.append(redaction)
    return list(shown.values()), len(clips) > PAGE


def recording(session: Session, worker_id: str, item_id: str) -> Item | None:
    """The worker's own recording, or None."""
    clip = session.get(Item, item_id)
    if clip is None or clip.worker_id != worker_id or clip.kind != ItemKind.CLIP:
        return None
    return clip


def in_scope(session: Session, clip_ids: list[str]) -> tuple[int, int]:
    """How many recordings and things made from them an erasure of these clips reaches."""
    reached = session.execute(
        select(Item.kind, func.count(func.distinct(Item.id)))
        .join(ItemRoot, ItemRoot.item_id == Item.id)
        .where(ItemRoot.clip_id.in_(clip_ids), Item.status == ItemStatus.ACTIVE)
        .group_by(Item.kind)
    ).all()
    clips = sum(n for kind, n in reached if kind == ItemKind.CLIP)
    return clips, sum(n for _, n in reached) - clips


def clips_of(session: Session, worker_id: str, consent_ids: set[str] | None) -> list[str]:
    """The worker's recordings, or those under these consents."""
    query = select(Item.id).where(Item.worker_id == worker_id, Item.kind == ItemKind.CLIP)
    if consent_ids is not None:
        query = query.where(Item.consent_id.in_(consent_ids))
    return list(session.scalars(query))


@dataclass(frozen=True)
class RequestView:
    request: ErasureRequest
    erasures: list[Erasure]


def requests(session: Session, worker_id: str) -> list[RequestView]:
    """The worker's erasure requests, newest first, each with the erasures it caused."""
    found = session.scalars(
        select(ErasureRequest)
        .where(ErasureRequest.worker_id == worker_id)
        .order_by(ErasureRequest.received_at.desc(), ErasureRequest.id)
    ).all()
    caused: dict[str, list[Erasure]] = {r.id: [] for r in found}
    for erasure in session.scalars(
        select(Erasure)
        .where(Erasure.request_id.in_(caused))
        .order_by(Erasure.planned_at, Erasure.id)
    ):
        caused[erasure.request_id or ""].append(erasure)
    return [RequestView(r, caused[r.id]) for r in found]


def other_erasures(session: Session, worker_id: str) -> list[Erasure]:
    """Erasures of the worker's items that no request of theirs caused: retention ended,
    consent withdrawn."""
    return list(
        session.scalars(
            select(Erasure)
            .where(Erasure.worker_id == worker_id, Erasure.request_id.is_(None))
            .order_by(Erasure.planned_at.desc(), Erasure.id)
        )
    )
