"""Verification of the logs in the live database."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.log.keys import KeyPurpose
from ledger.log.reader import LogReader
from ledger.models import Checkpoint, Log, LogEntry, SigningKeyRecord
from verify.log import (
    ConsistencySource,
    LogReport,
    StoredCheckpoint,
    StoredEntry,
    verify_log,
)

CHUNK = 2000


def _entries(session: Session, log_id: str) -> Iterator[StoredEntry]:
    after = -1
    while True:
        rows = session.execute(
            select(LogEntry.idx, LogEntry.body, LogEntry.leaf_hash)
            .where(LogEntry.log_id == log_id, LogEntry.idx > after)
            .order_by(LogEntry.idx)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        for row in rows:
            yield StoredEntry(row.idx, row.body, row.leaf_hash)
        after = rows[-1].idx


def _checkpoints(session: Session, log_id: str) -> list[Checkpoint]:
    return list(
        session.scalars(
            select(Checkpoint).where(Checkpoint.log_id == log_id).order_by(Checkpoint.tree_size)
        )
    )


def _log_keys(session: Session) -> list[tuple[str, bytes]]:
    rows = session.scalars(
        select(SigningKeyRecord).where(SigningKeyRecord.purpose == KeyPurpose.LOG)
    )
    return [(row.name, row.public_key) for row in rows]


def _stored_proofs(reader: LogReader, log_id: str) -> ConsistencySource:
    def proof(first: int, second: int) -> list[bytes]:
        return reader.consistency(log_id, first, second).proof

    return proof


def verify_database(db: Database, tenant_id: str | None = None) -> list[LogReport]:
    """Verify every log (or one tenant's) against its entries, nodes, head and checkpoints."""
    reports = []
    with db.session() as session:
        query = select(Log).order_by(Log.id)
        if tenant_id is not None:
            query = query.where(Log.tenant_id == tenant_id)
        logs = list(session.scalars(query))
        keys = _log_keys(session)
        reader = LogReader(session)
        for log in logs:
            reports.append(
                verify_log(
                    log_id=log.id,
                    origin=log.origin,
                    entries=_entries(session, log.id),
                    checkpoints=[
                        StoredCheckpoint(c.tree_size, c.note, c.root_hash)
                        for c in _checkpoints(session, log.id)
                    ],
                    log_keys=keys,
                    expected_size=log.size,
                    expected_root=log.root_hash,
                    consistency=_stored_proofs(reader, log.id),
                )
            )
    return reports
