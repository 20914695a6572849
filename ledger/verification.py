"""Verification and export of the logs in the live database."""

from __future__ import annotations

import base64
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.clock import Clock, format_ts
from ledger.db import Database
from ledger.keys import KeyRing
from ledger.logs import LogReader
from ledger.models import Checkpoint, Log, LogEntry, SigningKeyRecord
from ledger.verify import (
    BUNDLE_FORMAT,
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
    rows = session.scalars(select(SigningKeyRecord).where(SigningKeyRecord.purpose == "log"))
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


def export_bundle(db: Database, keys: KeyRing, clock: Clock, tenant_id: str, out: Path) -> int:
    """Write a verifiable bundle of one tenant's log to `out`; return its tree size.

    Entries, signed checkpoints, consistency proofs between consecutive checkpoints and
    the published keys: everything `custody verify FILE` needs, and nothing personal.
    """
    with db.session() as session:
        reader = LogReader(session)
        log = reader.log_of_tenant(tenant_id)
        size = log.size
        checkpoints = [c for c in _checkpoints(session, log.id) if c.tree_size <= size]
        sizes = sorted({c.tree_size for c in checkpoints} | {size})
        tmp = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            meta = {
                "format": BUNDLE_FORMAT,
                "log": log.id,
                "origin": log.origin,
                "tree_size": size,
                "root": base64.b64encode(log.root_hash).decode(),
                "exported_at": format_ts(clock.now()),
            }
            bundle.writestr("bundle.json", json.dumps(meta, indent=2))
            bundle.writestr("keys.json", json.dumps({"keys": keys.published(session)}, indent=2))
            with bundle.open("entries.jsonl", "w") as handle:
                for entry in _entries(session, log.id):
                    if entry.index >= size:
                        break
                    line = {
                        "index": entry.index,
                        "leaf_hash": base64.b64encode(entry.leaf_hash or b"").decode(),
                        "entry": base64.b64encode(entry.body).decode(),
                    }
                    handle.write(json.dumps(line).encode() + b"\n")
            bundle.writestr(
                "checkpoints.jsonl",
                "".join(
                    json.dumps({"tree_size": c.tree_size, "note": c.note}) + "\n"
                    for c in checkpoints
                ),
            )
            proofs = []
            for first, second in zip(sizes, sizes[1:], strict=False):
                proof = reader.consistency(log.id, first, second).proof
                proofs.append(
                    json.dumps(
                        {
                            "first": first,
                            "second": second,
                            "proof": [base64.b64encode(h).decode() for h in proof],
                        }
                    )
                    + "\n"
                )
            bundle.writestr("consistency.jsonl", "".join(proofs))
        os.replace(tmp, out)
    return size
