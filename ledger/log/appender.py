"""Appending to logs: serialized per log by the database, batched by group commit.

Every change that goes on a log is a unit of work `work(writer) -> result`, run by
`Appender.run`. Callers that arrive while a batch is being committed queue up; the next
caller to find no batch in progress becomes the leader and commits everything queued in one
transaction: it locks the log heads (BEGIN IMMEDIATE on SQLite, SELECT ... FOR UPDATE on
PostgreSQL), runs each unit inside a savepoint (a unit that fails is rolled back alone and
its error goes to its caller), writes entries, new tree nodes and heads, signs a checkpoint
when one is due, and commits. `run` returns only after that commit: an acknowledged append
is durable.

The transaction belongs to the appender, not to the caller: projections a unit writes
through `writer.session` commit or roll back with its entries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from ledger.clock import Clock
from ledger.db import Database
from ledger.errors import NotFound, TryLater
from ledger.log.entries import build_entry
from ledger.log.reader import read_nodes
from ledger.models import Checkpoint, Log, LogEntry, LogNode
from verify.merkle import EMPTY_ROOT, Frontier, leaf_hash
from verify.note import Checkpoint as CheckpointBody
from verify.note import NoteSigner, sign_note

T = TypeVar("T")

CHECKPOINT_INTERVAL = timedelta(seconds=1)  # the shortest allowed: at most one a second
MAX_BATCH = 512


@dataclass(frozen=True)
class Appended:
    log_id: str
    index: int
    leaf_hash: bytes
    body: bytes


class _LogState:
    def __init__(self, head: Log, frontier: Frontier) -> None:
        self.head = head
        self.frontier = frontier
        self.prev = head.last_leaf
        self.epoch = head.epoch
        self.entries: list[dict[str, Any]] = []
        self.nodes: list[dict[str, Any]] = []

    def mark(self) -> tuple[Frontier, bytes | None, int, int, int]:
        return self.frontier.copy(), self.prev, self.epoch, len(self.entries), len(self.nodes)

    def reset(self, mark: tuple[Frontier, bytes | None, int, int, int]) -> None:
        self.frontier, self.prev, self.epoch, n_entries, n_nodes = mark
        del self.entries[n_entries:]
        del self.nodes[n_nodes:]


class LogWriter:
    """What a unit of work sees: the batch's session, and append access to its logs."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock
        self._states: dict[str, _LogState] = {}
        self._deferred: list[tuple[type[Any], list[dict[str, Any]]]] = []

    def now(self) -> datetime:
        return self.clock.now()

    def epoch(self, log_id: str) -> int:
        """The log's decision epoch, as this unit sees it (see `bump_epoch`)."""
        return self._state(log_id).epoch

    def bump_epoch(self, log_id: str) -> None:
        """Say that this unit changed something an existing item's use decision depends on."""
        self._state(log_id).epoch += 1

    def insert_later(self, model: type[Any], rows: list[dict[str, Any]]) -> None:
        """Rows to insert with the batch's entries, in one statement per table; dropped if
        the unit fails. Units that run without a savepoint write only this way."""
        if rows:
            self._deferred.append((model, rows))

    def _state(self, log_id: str) -> _LogState:
        try:
            return self._states[log_id]
        except KeyError:
            raise RuntimeError(f"log {log_id} was not locked for this unit of work") from None

    def create_log(self, log_id: str, tenant_id: str, origin: str) -> None:
        head = Log(
            id=log_id,
            tenant_id=tenant_id,
            origin=origin,
            size=0,
            root_hash=EMPTY_ROOT,
            last_leaf=None,
            checkpoint_size=0,
            checkpoint_at=None,
            epoch=0,
        )
        self.session.add(head)
        self.session.flush()
        self._states[log_id] = _LogState(head, Frontier())

    def append(
        self, log_id: str, type: str, data: dict[str, Any], subject: str | None = None
    ) -> Appended:
        state = self._state(log_id)
        index = state.frontier.size
        body = build_entry(
            log_id=log_id,
            seq=index,
            ts=self.clock.now(),
            type=type,
            subject=subject,
            data=data,
            prev=state.prev,
        )
        leaf = leaf_hash(body)
        for level, idx, digest in state.frontier.append(leaf):
            state.nodes.append({"log_id": log_id, "level": level, "idx": idx, "hash": digest})
        state.entries.append({"log_id": log_id, "idx": index, "leaf_hash": leaf, "body": body})
        state.prev = leaf
        return Appended(log_id, index, leaf, body)


def _then(
    work: Callable[[LogWriter], T], also: Callable[[LogWriter], None]
) -> Callable[[LogWriter], T]:
    def both(writer: LogWriter) -> T:
        result = work(writer)
        also(writer)
        return result

    return both


# Called on the caller's thread as it hands in a unit; returns a step that the unit's
# transaction must also take (an idempotent call marks its claim effected), or None.
UnitHook = Callable[[], Callable[[LogWriter], None] | None]


@dataclass
class _Pending(Generic[T]):
    logs: frozenset[str]
    work: Callable[[LogWriter], T] | None
    savepoint: bool = True
    checkpoint: bool = False
    done: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass
class AppenderStats:
    batches: int = 0
    units: int = 0
    entries: int = 0
    checkpoints: int = 0
    largest_batch: int = 0


SignersFor = Callable[[Session], Sequence[NoteSigner]]


@dataclass
class Appender:
    db: Database
    clock: Clock
    log_signers: SignersFor
    checkpoint_interval: timedelta = CHECKPOINT_INTERVAL
    max_batch: int = MAX_BATCH
    stats: AppenderStats = field(default_factory=AppenderStats)
    unit_hook: UnitHook | None = None

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[_Pending[Any]] = []
        self._leading = False
        self.failed_commits = 0  # caches of what units read must not outlive a failed commit
        self._frontiers: dict[str, Frontier] = {}  # as of this process's last commit

    def run(
        self, logs: Iterable[str], work: Callable[[LogWriter], T], *, savepoint: bool = True
    ) -> T:
        """Run `work` in a batch holding the locks of `logs`; return after commit.

        A unit that writes nothing through `writer.session` (only entries and
        `insert_later` rows) may pass `savepoint=False` and save the SAVEPOINT round trips."""
        also = self.unit_hook() if self.unit_hook is not None else None
        if also is not None:
            work = _then(work, also)
        item: _Pending[T] = _Pending(frozenset(logs), work, savepoint)
        self._submit(item)
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[no-any-return]

    def checkpoint(self, logs: Iterable[str]) -> None:
        """Sign a checkpoint for each log that grew, unless one was signed under a second ago."""
        item: _Pending[None] = _Pending(frozenset(logs), None, checkpoint=True)
        self._submit(item)
        if item.error is not None:
            raise item.error

    def _submit(self, item: _Pending[Any]) -> None:
        with self._cond:
            self._queue.append(item)
            while not item.done:
                if self._leading:
                    self._cond.wait()
                    continue
                self._leading = True
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                self._cond.release()
                try:
                    self._commit(batch)
                finally:
                    self._cond.acquire()
                    self._leading = False
                    for pending in batch:
                        pending.done = True
                    self._cond.notify_all()

    def _commit(self, batch: list[_Pending[Any]]) -> None:
        try:
            with self.db.write() as session, session.begin():
                self._run_batch(session, batch)
        except BaseException as exc:  # the commit failed: nothing in the batch happened
            self.failed_commits += 1
            self._frontiers.clear()
            for pending in batch:
                if pending.error is None:
                    pending.error = exc
                    pending.result = None
            if not isinstance(exc, Exception):
                raise

    def _run_batch(self, session: Session, batch: list[_Pending[Any]]) -> None:
        wanted = sorted({log for pending in batch for log in pending.logs})
        heads = session.scalars(
            select(Log).where(Log.id.in_(wanted)).order_by(Log.id).with_for_update()
        ).all()
        writer = LogWriter(session, self.clock)
        writer._states = {head.id: _LogState(head, self._frontier(session, head)) for head in heads}
        locked = set(writer._states)
        wants_checkpoint: set[str] = set()
        for pending in batch:
            missing = pending.logs - locked
            if missing:
                pending.error = NotFound("log", sorted(missing)[0])
                continue
            if pending.checkpoint:
                wants_checkpoint |= pending.logs
                continue
            self._run_unit(session, writer, pending)
            self.stats.units += 1
        deferred: dict[type[Any], list[dict[str, Any]]] = {}
        for model, rows in writer._deferred:
            deferred.setdefault(model, []).extend(rows)
        for model, rows in deferred.items():
            session.execute(insert(_table(model)), rows)
        for log_id, state in writer._states.items():
            if state.epoch != state.head.epoch:
                state.head.epoch = state.epoch
            if state.entries:
                session.execute(insert(_table(LogEntry)), state.entries)
                session.execute(insert(_table(LogNode)), state.nodes)
                state.head.size = state.frontier.size
                state.head.root_hash = state.frontier.root()
                state.head.last_leaf = state.prev
                self.stats.entries += len(state.entries)
                wants_checkpoint.add(log_id)
        for log_id in sorted(wants_checkpoint):
            self._maybe_checkpoint(session, writer._states[log_id].head)
        session.flush()
        # Kept for the next batch, which uses them only if the head still matches (another
        # process may have appended since); dropped if this commit fails.
        self._frontiers.update((log_id, st.frontier) for log_id, st in writer._states.items())
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))

    def _run_unit(self, session: Session, writer: LogWriter, pending: _Pending[Any]) -> None:
        marks = {log_id: state.mark() for log_id, state in writer._states.items()}
        deferred = len(writer._deferred)
        savepoint = session.begin_nested() if pending.savepoint else None
        try:
            assert pending.work is not None
            pending.result = pending.work(writer)
            if savepoint is not None:
                session.flush()
                savepoint.commit()
        except Exception as exc:
            if savepoint is not None:
                savepoint.rollback()
            del writer._deferred[deferred:]
            # Logs created by the failed unit vanish with its savepoint.
            for log_id in set(writer._states) - set(marks):
                del writer._states[log_id]
            for log_id, mark in marks.items():
                writer._states[log_id].reset(mark)
            pending.error = exc

    def _frontier(self, session: Session, head: Log) -> Frontier:
        known = self._frontiers.pop(head.id, None)
        if known is not None and known.size == head.size and known.root() == head.root_hash:
            return known
        ids = Frontier.ids_for(head.size)
        found = read_nodes(session, head.id, ids)
        return Frontier(head.size, [found[node] for node in ids])

    def _maybe_checkpoint(self, session: Session, head: Log) -> None:
        now = self.clock.now()
        if head.size <= head.checkpoint_size:
            return
        if head.checkpoint_at is not None and now - head.checkpoint_at < self.checkpoint_interval:
            return
        root = head.root_hash
        note = sign_note(
            CheckpointBody(head.origin, head.size, root).body(), self.log_signers(session)
        )
        session.add(
            Checkpoint(
                log_id=head.id, tree_size=head.size, root_hash=root, created_at=now, note=note
            )
        )
        head.checkpoint_size = head.size
        head.checkpoint_at = now
        self.stats.checkpoints += 1


def _table(model: type[Any]) -> Table:
    """A model's Core table: inserting through it skips the ORM's bulk-insert bookkeeping."""
    table: Table = model.__table__
    return table


def checkpoint_due(appender: Appender) -> int:
    """Job: sign checkpoints for logs that grew since their last one. Idempotent."""
    with appender.db.session() as session:
        grown = list(session.scalars(select(Log.id).where(Log.size > Log.checkpoint_size)))
    if grown:
        appender.checkpoint(grown)
    return len(grown)


class NoCheckpoint(TryLater):
    """No signed checkpoint covering the log could be had in time: try again shortly."""


def covering_checkpoint(appender: Appender, log_id: str, size: int) -> Checkpoint:
    """The first signed checkpoint of at least `size`, asking for one if none exists yet.
    Checkpoints come at most once per interval, so this may wait up to about two."""
    deadline = time.monotonic() + 2 * appender.checkpoint_interval.total_seconds() + 1
    while True:
        with appender.db.session() as session:
            found = session.scalar(
                select(Checkpoint)
                .where(Checkpoint.log_id == log_id, Checkpoint.tree_size >= size)
                .order_by(Checkpoint.tree_size)
                .limit(1)
            )
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise NoCheckpoint("no signed checkpoint covers the log yet; try again in a moment")
        appender.checkpoint([log_id])
        time.sleep(0.05)
