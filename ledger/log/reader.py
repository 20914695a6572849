"""Reading a log: heads, entries, checkpoints and RFC 9162 proofs from stored nodes."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import TextClause, select, text
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import InvalidRequest, NotFound
from ledger.models import Checkpoint, Log, LogEntry
from ledger.pages import Page, cut, keyset
from verify import merkle

MAX_ENTRIES_PER_PAGE = 1000


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    root_hash: bytes
    proof: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    proof: list[bytes]


@functools.lru_cache(maxsize=256)
def _nodes_query(count: int) -> TextClause:
    # One primary-key lookup per node, with log_id inside every term: SQLite answers a
    # row-value IN, or log_id = ? AND (... OR ...), by scanning all of the log's nodes, and
    # PostgreSQL answers level IN (...) AND idx IN (...) by scanning whole levels. Built as
    # text and cached by size, because building the expression per proof cost more than
    # running it.
    terms = " OR ".join(f"(log_id = :log AND level = :l{i} AND idx = :i{i})" for i in range(count))
    return text(f"SELECT level, idx, hash FROM log_nodes WHERE {terms}")


def read_nodes(
    session: Session, log_id: str, ids: Sequence[merkle.NodeId]
) -> dict[merkle.NodeId, bytes]:
    """Fetch stored nodes in one query of primary-key seeks."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    params: dict[str, object] = {"log": log_id}
    for i, (level, idx) in enumerate(wanted):
        params[f"l{i}"], params[f"i{i}"] = level, idx
    rows = session.execute(_nodes_query(len(wanted)), params).all()
    return {(row[0], row[1]): bytes(row[2]) for row in rows}


def tenant_log_id(db: Database, tenant_id: str) -> str:
    """The id of a tenant's log (NotFound for an unknown tenant), read outside any batch.
    A tenant's log never changes, so it is looked up once per database."""
    log_id = db.log_ids.get(tenant_id)
    if log_id is None:
        with db.session() as session:
            log_id = db.log_ids[tenant_id] = LogReader(session).log_of_tenant(tenant_id).id
    return log_id


class LogReader:
    def __init__(self, session: Session) -> None:
        self.session = session

    def head(self, log_id: str, tenant_id: str | None = None) -> Log:
        """The log's head; with `tenant_id`, only if that tenant owns it (else NotFound)."""
        log = self.session.get(Log, log_id)
        if log is None or (tenant_id is not None and log.tenant_id != tenant_id):
            raise NotFound("log", log_id)
        return log

    def log_of_tenant(self, tenant_id: str) -> Log:
        log = self.session.scalar(select(Log).where(Log.tenant_id == tenant_id))
        if log is None:
            raise NotFound("tenant", tenant_id)
        return log

    def entries(self, log_id: str, start: int, end: int) -> list[LogEntry]:
        head = self.head(log_id)
        if start < 0 or end < start:
            raise InvalidRequest("need 0 <= start <= end", "start")
        if start > head.size:
            raise InvalidRequest(f"start {start} is past the log's {head.size} entries", "start")
        end = min(end, head.size, start + MAX_ENTRIES_PER_PAGE)
        return list(
            self.session.scalars(
                select(LogEntry)
                .where(LogEntry.log_id == log_id, LogEntry.idx >= start, LogEntry.idx < end)
                .order_by(LogEntry.idx)
            )
        )

    def node_reader(self, log_id: str) -> merkle.NodeReader:
        return lambda ids: read_nodes(self.session, log_id, ids)

    def inclusion(self, log_id: str, index: int, tree_size: int) -> InclusionProof:
        head = self.head(log_id)
        if not 0 < tree_size <= head.size:
            raise InvalidRequest(
                f"tree_size must be between 1 and the log's size ({head.size})", "tree_size"
            )
        if not 0 <= index < tree_size:
            raise InvalidRequest(
                f"index must be between 0 and tree_size - 1 ({tree_size - 1})", "index"
            )
        read = self.node_reader(log_id)
        ranges = [(index, index + 1), (0, tree_size), *merkle.inclusion_ranges(index, tree_size)]
        leaf, root, *proof = merkle.hashes_for_ranges(ranges, read)
        return InclusionProof(index, tree_size, leaf, root, proof)

    def consistency(self, log_id: str, first: int, second: int) -> ConsistencyProof:
        head = self.head(log_id)
        if not 0 < second <= head.size:
            raise InvalidRequest(
                f"second must be between 1 and the log's size ({head.size})", "second"
            )
        if not 0 < first <= second:
            raise InvalidRequest("first must be between 1 and second", "first")
        read = self.node_reader(log_id)
        ranges = [(0, first), (0, second)]
        if first < second:
            ranges += merkle.consistency_ranges(first, second)
        first_root, second_root, *proof = merkle.hashes_for_ranges(ranges, read)
        return ConsistencyProof(first, second, first_root, second_root, proof)

    def latest_checkpoint(self, log_id: str) -> Checkpoint:
        self.head(log_id)
        checkpoint = self.session.scalar(
            select(Checkpoint)
            .where(Checkpoint.log_id == log_id)
            .order_by(Checkpoint.tree_size.desc())
            .limit(1)
        )
        if checkpoint is None:
            raise NotFound("checkpoint", log_id)
        return checkpoint

    def checkpoints(self, log_id: str, after: int = -1, limit: int = 100) -> Page[Checkpoint]:
        """Stored checkpoints, smallest tree first, `limit` at a time after the tree size
        `after` (a checkpoint's key is its tree size)."""
        self.head(log_id)
        query = keyset(
            select(Checkpoint).where(Checkpoint.log_id == log_id),
            (Checkpoint.tree_size,),
            (after,),
            limit,
        )
        return cut(self.session.scalars(query).all(), limit, lambda c: (c.tree_size,))
