"""The retention sweep: one pass plans what is due, erases what is pending, certifies what a
signed checkpoint covers, completes requests and sends webhooks.

One pass runs at a time across every process (a database lock); each step is idempotent and
commits on its own, so a pass killed anywhere is finished by the next one. "Now" is the
service clock, which outside tests is the database's (ledger.clock.DatabaseClock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.clock import Clock, format_ts
from ledger.errors import Conflict, NotFound
from ledger.items.items import ItemKind, ItemStatus
from ledger.log.appender import Appender, LogWriter
from ledger.log.entries import ID, EntryType, obj, register
from ledger.log.keys import KeyRing
from ledger.log.reader import LogReader, tenant_log_id
from ledger.models import Item, Log, LogEntry, Tenant
from ledger.vault.vault import Vault
from retention.certificates import sign_certificate
from retention.erasure import (
    ERASE_LIMIT,
    OVERDUE_AFTER,
    PLAN_LIMIT,
    Claim,
    Erased,
    Eraser,
    ErasureReason,
    ErasureStatus,
    owner_of,
    plan,
    withdrawn_clips,
)
from retention.models import Erasure, ErasureItem
from retention.requests import ErasureRequests
from retention.webhooks import EVENT, Delivered, Webhooks, message

CERTIFY_LIMIT = 200

COPIES_CONFIRMED = register(EntryType("erasure.copies_confirmed", 1, obj({"erasure": ID})))


@dataclass
class SweepReport:
    ran: bool = True
    planned: int = 0  # erasures planned by this pass (requests plan their own on arrival)
    erased: Erased = field(default_factory=Erased)
    certified: int = 0
    requests_completed: int = 0
    webhooks: Delivered = field(default_factory=Delivered)


class Retention:
    def __init__(
        self,
        appender: Appender,
        vault: Vault,
        keys: KeyRing,
        requests: ErasureRequests,
        webhooks: Webhooks,
        clock: Clock,
        origin: str,
        confirm_within: timedelta = timedelta(days=7),
    ) -> None:
        self.appender = appender
        self.db = appender.db
        self.keys = keys
        self.requests = requests
        self.webhooks = webhooks
        self.clock = clock
        self.origin = origin
        self.confirm_within = confirm_within
        self.eraser = Eraser(appender, vault)

    # The pass ----------------------------------------------------------------------------

    def sweep(self) -> SweepReport:
        report = SweepReport()
        with self.db.exclusive("retention.sweep") as held:
            if not held:
                return SweepReport(ran=False)
            with self.db.session() as session:
                tenants = list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
            for tenant_id in tenants:
                log_id = tenant_log_id(self.db, tenant_id)
                while planned := self._plan_due(tenant_id, log_id):
                    report.planned += planned
                self._erase_pending(tenant_id, log_id, report.erased)
            self._checkpoint(tenants)
            for tenant_id in tenants:
                report.certified += self.certify(tenant_id)
                report.requests_completed += self.requests.complete(tenant_id)
        report.webhooks = self.webhooks.deliver_due()
        return report

    def _plan_due(self, tenant_id: str, log_id: str) -> int:
        if not self._anything_due(tenant_id):
            return 0  # planning locks the tenant's log: not for nothing, every pass

        def work(writer: LogWriter) -> int:
            session, now = writer.session, writer.now()
            # Clips first, a worker's together (one erasure for them); what derives from a
            # due clip is due no later and comes with it; derived items left over follow.
            due: Sequence[Any] = []
            for kind in (Item.kind == ItemKind.CLIP, Item.kind != ItemKind.CLIP):
                due = session.execute(
                    select(Item.id, Item.delete_after)
                    .where(
                        Item.tenant_id == tenant_id,
                        Item.status == ItemStatus.ACTIVE,
                        Item.delete_after <= now,
                        kind,
                    )
                    .order_by(Item.worker_id, Item.delete_after, Item.id)
                    .limit(PLAN_LIMIT)
                ).all()
                if due:
                    break
            made = []
            if due:
                ids = [row.id for row in due]
                deadline = min(row.delete_after for row in due) + OVERDUE_AFTER
                made += plan(
                    writer,
                    tenant_id,
                    log_id,
                    Claim(ErasureReason.RETENTION_ENDED, owner_of(session, ids), deadline),
                )
            withdrawn = withdrawn_clips(session, tenant_id, PLAN_LIMIT)
            if withdrawn:
                claim = Claim(
                    ErasureReason.CONSENT_WITHDRAWN,
                    owner_of(session, withdrawn),
                    now + OVERDUE_AFTER,
                )
                made += plan(writer, tenant_id, log_id, claim)
            return len(made)

        planned: int = self.appender.run([log_id], work)
        return planned

    def _anything_due(self, tenant_id: str) -> bool:
        """Whether planning would find something, read without locking: retention ended, or
        a consent withdrawn with clips left."""
        with self.db.session() as session:
            due = session.scalar(
                select(Item.id)
                .where(
                    Item.tenant_id == tenant_id,
                    Item.status == ItemStatus.ACTIVE,
                    Item.delete_after <= self.clock.now(),
                )
                .limit(1)
            )
            return due is not None or bool(withdrawn_clips(session, tenant_id, 1))

    def _erase_pending(self, tenant_id: str, log_id: str, total: Erased) -> None:
        while True:
            with self.db.session() as session:
                pending = list(
                    session.scalars(
                        select(Erasure.id)
                        .where(
                            Erasure.tenant_id == tenant_id,
                            Erasure.status == ErasureStatus.PENDING,
                            Erasure.next_attempt_at <= self.clock.now(),
                        )
                        .order_by(Erasure.deadline, Erasure.id)
                        .limit(ERASE_LIMIT)
                    )
                )
            if not pending:
                return
            total.add(self.eraser.erase(tenant_id, log_id, pending))

    def _checkpoint(self, tenants: list[str]) -> None:
        """Sign a checkpoint covering the new tombstones; the appender signs at most one per
        interval, so wait out one interval if needed (what is still uncovered is certified
        by the next pass)."""
        grown = self._uncovered([tenant_log_id(self.db, t) for t in tenants])
        if grown:  # signing locks the logs: only those that grew
            self.appender.checkpoint(grown)
            if grown := self._uncovered(grown):
                # The interval runs on the appender's clock: a fake one moves on at once.
                self.appender.clock.sleep(self.appender.checkpoint_interval.total_seconds())
                self.appender.checkpoint(grown)

    def _uncovered(self, logs: list[str]) -> list[str]:
        with self.db.session() as session:
            grown = select(Log.id).where(Log.id.in_(logs), Log.size > Log.checkpoint_size)
            return list(session.scalars(grown))

    # Certificates ------------------------------------------------------------------------

    def certify(self, tenant_id: str) -> int:
        """Sign certificates for done erasures whose tombstone a checkpoint covers."""
        log_id = tenant_log_id(self.db, tenant_id)
        certified = 0
        while True:
            signed = self._certify_some(tenant_id, log_id)
            certified += signed
            if signed < CERTIFY_LIMIT:
                return certified

    def _certify_some(self, tenant_id: str, log_id: str) -> int:
        with self.db.session() as session:
            reader = LogReader(session)
            try:
                checkpoint = reader.latest_checkpoint(log_id)
            except NotFound:
                return 0
            todo = session.scalars(
                select(Erasure)
                .where(
                    Erasure.tenant_id == tenant_id,
                    Erasure.status == ErasureStatus.DONE,
                    Erasure.certificate.is_(None),
                    Erasure.log_index < checkpoint.tree_size,
                )
                .order_by(Erasure.log_index)
                .limit(CERTIFY_LIMIT)
            ).all()
            if not todo:
                return 0
            signer = self.keys.statement_signer(session)
            issued: list[tuple[Erasure, str, list[tuple[str, str, bytes]]]] = []
            for erasure in todo:
                assert erasure.log_index is not None
                items = self.items(session, erasure.id)
                entry = session.get(LogEntry, (log_id, erasure.log_index))
                assert entry is not None
                proof = reader.inclusion(log_id, erasure.log_index, checkpoint.tree_size)
                token = sign_certificate(
                    signer,
                    origin=self.origin,
                    erasure=erasure,
                    items=items,
                    log_id=log_id,
                    entry=entry.body,
                    note=checkpoint.note,
                    tree_size=checkpoint.tree_size,
                    root=checkpoint.root_hash,
                    proof=proof.proof,
                    issued_at=format_ts(self.clock.now()),
                )
                issued.append((erasure, token, items))
        with self.db.write() as session, session.begin():
            now = self.clock.now()
            for erasure, token, items in issued:
                confirm_by = now + self.confirm_within
                stored = session.execute(
                    update(Erasure)
                    .where(Erasure.id == erasure.id, Erasure.certificate.is_(None))
                    .values(certificate=token, certified_at=now, confirm_by=confirm_by)
                )
                if stored.rowcount:  # type: ignore[attr-defined]
                    erasure.confirm_by = confirm_by
                    self.webhooks.enqueue(
                        session,
                        erasure.tenant_id,
                        EVENT,
                        message(erasure, items),
                        erasure_id=erasure.id,
                    )
        return len(issued)

    # Reading and confirming --------------------------------------------------------------

    @staticmethod
    def items(session: Session, erasure_id: str) -> list[tuple[str, str, bytes]]:
        rows = session.execute(
            select(ErasureItem.item_id, ErasureItem.kind, ErasureItem.sha256)
            .where(ErasureItem.erasure_id == erasure_id)
            .order_by(ErasureItem.item_id)
        )
        return [(item, kind, sha256) for item, kind, sha256 in rows]

    @staticmethod
    def get(session: Session, tenant_id: str, erasure_id: str) -> Erasure:
        erasure = session.get(Erasure, erasure_id)
        if erasure is None or erasure.tenant_id != tenant_id:
            raise NotFound("erasure", erasure_id)
        return erasure

    def confirm(self, tenant_id: str, erasure_id: str) -> Erasure:
        """The platform says it deleted its own copies of the erased items."""
        log_id = tenant_log_id(self.db, tenant_id)

        def work(writer: LogWriter) -> Erasure:
            erasure = self.get(writer.session, tenant_id, erasure_id)
            if erasure.status != ErasureStatus.DONE:
                raise Conflict(f"erasure {erasure_id} is still {erasure.status}")
            if erasure.confirmed_at is None:
                erasure.confirmed_at = writer.now()
                writer.append(log_id, "erasure.copies_confirmed", {"erasure": erasure_id})
            return erasure

        confirmed: Erasure = self.appender.run([log_id], work)
        return confirmed
