"""What became of a manifest's items since it was issued, and telling the platform.

A manifest's items are re-checked as checks would answer now: an item is `withdrawn` (a
consent in force that covered it no longer covers the purpose), `erased`, `expired` (its
retention ended) or `no_longer_covered` (an amendment dropped the purpose, a category or the
recipient), each with the date it happened. A manifest with any such item is tainted from the
earliest. The watcher notices these as withdrawals, amendments and erasures happen (each
moves the tenant's decision epoch) and sends `manifest.tainted` to the platform's webhook
endpoints once per item.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.clock import Clock, format_ts
from ledger.consent.consents import ConsentEventKind
from ledger.items.decisions import CheckService, Decision, Reason, Verdict
from ledger.items.manifests import Manifests
from ledger.log.appender import Appender
from ledger.models import Consent, ConsentEvent, Item, ItemRoot, Manifest, ManifestItem
from retention.models import Erasure, ErasureItem
from retention.webhooks import Webhooks

log = logging.getLogger("custody.manifests")
TAINTED = "manifest.tainted"


class AffectedState(StrEnum):
    """What became of a manifest's item that checks now deny."""

    WITHDRAWN = "withdrawn"
    ERASED = "erased"
    EXPIRED = "expired"
    NO_LONGER_COVERED = "no_longer_covered"  # what is left: an amendment narrowed the terms


# A state for each kind of reason a check may now give, in the order they are reported.
STATES = {
    AffectedState.WITHDRAWN: (Reason.WITHDRAWN, Reason.PARENT_WITHDRAWN),
    AffectedState.ERASED: (Reason.ERASED, Reason.PARENT_ERASED),
    AffectedState.EXPIRED: (Reason.RETENTION_EXPIRED, Reason.PARENT_RETENTION_EXPIRED),
}


@dataclass(frozen=True)
class Affected:
    item: str
    state: AffectedState
    since: datetime | None
    reasons: list[Reason]

    def render(self) -> dict[str, object]:
        since = format_ts(self.since) if self.since else None
        return {"item": self.item, "state": self.state, "since": since, "reasons": self.reasons}


@dataclass(frozen=True)
class Status:
    manifest: Manifest
    checked_at: datetime
    items: int
    affected: list[Affected]

    @property
    def tainted_since(self) -> datetime | None:
        dates = [a.since for a in self.affected if a.since is not None]
        return min(dates) if dates else (self.checked_at if self.affected else None)


class _Dates:
    """When each cause happened, for the denied items and the clips they descend from."""

    def __init__(self, session: Session, denied: list[Decision], purpose: str) -> None:
        items = {d.item for d in denied if d.item}
        self.roots: dict[str, set[str]] = {i: {i} for i in items}
        for item, clip in session.execute(
            select(ItemRoot.item_id, ItemRoot.clip_id).where(ItemRoot.item_id.in_(items))
        ):
            self.roots[item].add(clip)
        every = set().union(*self.roots.values()) if self.roots else set()
        self.erased = dict(
            session.execute(
                select(ErasureItem.item_id, Erasure.planned_at)
                .join(Erasure, Erasure.id == ErasureItem.erasure_id)
                .where(ErasureItem.item_id.in_(every))
            ).all()
        )
        self.expires = dict(
            session.execute(select(Item.id, Item.delete_after).where(Item.id.in_(every))).all()
        )
        consents = {c for d in denied for c in d.consents}
        self.withdrawn: dict[str, datetime] = {}
        for consent, purposes, at in session.execute(
            select(ConsentEvent.consent_id, ConsentEvent.purposes, ConsentEvent.at).where(
                ConsentEvent.consent_id.in_(consents),
                ConsentEvent.kind == ConsentEventKind.WITHDRAWN,
            )
        ):
            if purpose in purposes and (
                consent not in self.withdrawn or at < self.withdrawn[consent]
            ):
                self.withdrawn[consent] = at
        self.amended = dict(
            session.execute(
                select(Consent.id, Consent.given_at).where(
                    Consent.id.in_(consents), Consent.amends.is_not(None)
                )
            ).all()
        )

    def since(self, d: Decision, state: AffectedState, now: datetime) -> datetime | None:
        roots = self.roots.get(d.item or "", set())
        if state == AffectedState.WITHDRAWN:
            found = [self.withdrawn[c] for c in d.consents if c in self.withdrawn]
        elif state == AffectedState.ERASED:
            found = [self.erased[r] for r in roots if r in self.erased]
        elif state == AffectedState.EXPIRED:
            found = [e for r in roots if (e := self.expires.get(r)) is not None and e <= now]
        else:
            found = [self.amended[c] for c in d.consents if c in self.amended]
        return min(found) if found else None


def judge(
    session: Session, tenant_id: str, ids: list[str], purpose: str, recipient: str, now: datetime
) -> list[Affected]:
    """Those of `ids` that checks for this purpose and recipient would now deny, and why."""
    if not ids:
        return []
    decided = CheckService.evaluate(session, tenant_id, ids, purpose, recipient, now)
    denied = [d for d in decided if d.decision == Verdict.DENY]
    dates = _Dates(session, denied, purpose)
    found = []
    for d in denied:
        state = next(
            (s for s, reasons in STATES.items() if set(reasons) & set(d.reasons)),
            AffectedState.NO_LONGER_COVERED,
        )
        found.append(Affected(d.asked, state, dates.since(d, state, now), d.reasons))
    return found


def affected(session: Session, manifest: Manifest, now: datetime) -> list[Affected]:
    """The manifest's allowed items that checks would now deny."""
    ids = list(
        session.scalars(
            select(ManifestItem.item_id)
            .where(ManifestItem.manifest_id == manifest.id)
            .order_by(ManifestItem.item_id)
        )
    )
    return judge(session, manifest.tenant_id, ids, manifest.purpose, manifest.recipient, now)


def status(
    session: Session, manifests: Manifests, tenant_id: str, manifest_id: str, now: datetime
) -> Status:
    manifest = manifests.get(session, tenant_id, manifest_id)
    return Status(manifest, now, manifest.allowed, affected(session, manifest, now))


class ManifestWatch:
    """Notices items of issued manifests that checks now deny, once each, and tells the
    platform. One pass at a time across processes; a tenant whose decision epoch has not
    moved since its last pass in this process is skipped."""

    def __init__(self, appender: Appender, webhooks: Webhooks, clock: Clock) -> None:
        self.appender, self.webhooks, self.clock = appender, webhooks, clock
        self._seen: dict[str, int] = {}

    def run(self) -> int:
        """One pass; returns how many items were newly noticed."""
        noticed = 0
        with self.appender.db.exclusive("manifests.watch") as held:
            if not held:
                return 0
            with self.appender.db.session() as session:
                tenants = list(
                    session.scalars(
                        select(Manifest.tenant_id)
                        .join(ManifestItem, ManifestItem.manifest_id == Manifest.id)
                        .where(ManifestItem.noticed_state.is_(None))
                        .distinct()
                    )
                )
            for tenant_id in tenants:
                noticed += self._tenant(tenant_id)
        return noticed

    def _tenant(self, tenant_id: str) -> int:
        """Items not yet noticed are judged once per purpose and recipient, however many
        manifests list them (training runs reuse their data)."""
        now = self.clock.now()
        with self.appender.db.session() as session:
            epoch = Manifests.epoch(session, tenant_id)
            if self._seen.get(tenant_id) == epoch:
                return 0
            listed: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(
                lambda: defaultdict(list)
            )
            for manifest_id, item_id, purpose, recipient in session.execute(
                select(
                    ManifestItem.manifest_id,
                    ManifestItem.item_id,
                    Manifest.purpose,
                    Manifest.recipient,
                )
                .join(Manifest, Manifest.id == ManifestItem.manifest_id)
                .where(Manifest.tenant_id == tenant_id, ManifestItem.noticed_state.is_(None))
            ):
                listed[purpose, recipient][item_id].append(manifest_id)
            found: dict[str, list[Affected]] = defaultdict(list)
            for (purpose, recipient), items in listed.items():
                for a in judge(session, tenant_id, sorted(items), purpose, recipient, now):
                    for manifest_id in items[a.item]:
                        found[manifest_id].append(a)
        noticed = sum(self._notice(m, found[m], now) for m in sorted(found))
        self._seen[tenant_id] = epoch
        return noticed

    def _notice(self, manifest_id: str, found: list[Affected], now: datetime) -> int:
        """Mark the items noticed and tell the platform, in one transaction; items another
        pass marked first are left out."""
        with self.appender.db.write() as session, session.begin():
            new = [
                a
                for a in found
                if session.execute(
                    update(ManifestItem)
                    .where(
                        ManifestItem.manifest_id == manifest_id,
                        ManifestItem.item_id == a.item,
                        ManifestItem.noticed_state.is_(None),
                    )
                    .values(noticed_state=a.state, noticed_at=now)
                ).rowcount  # type: ignore[attr-defined]
            ]
            if not new:
                return 0
            manifest = session.get(Manifest, manifest_id)
            assert manifest is not None
            since = min((a.since for a in new if a.since), default=now)
            if manifest.tainted_at is None or since < manifest.tainted_at:
                manifest.tainted_at = since
            self.webhooks.enqueue(
                session,
                manifest.tenant_id,
                TAINTED,
                {
                    "manifest": manifest.id,
                    "name": manifest.name,
                    "purpose": manifest.purpose,
                    "items": [
                        {"item": a.item, "state": a.state, "since": a.render()["since"]}
                        for a in new
                    ],
                    "tainted_since": format_ts(manifest.tainted_at),
                    "status": f"/v1/manifests/{manifest.id}/status",
                },
                manifest_id=manifest.id,
            )
        log.info("manifest %s: %d items newly affected", manifest_id, len(new))
        return len(new)
