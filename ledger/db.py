"""Engines, sessions and migrations.

SQLite runs in WAL mode with synchronous=FULL, so that an acknowledged append survives a
crash; write transactions start with BEGIN IMMEDIATE, which makes the database serialize
appenders across processes. PostgreSQL serializes them with SELECT ... FOR UPDATE on the
log head instead.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import migrations

WRITE = "custody_write"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine whose errors leave out the statement's parameters: they may hold personal
    data (a worker's reference, an address) and errors end up in logs."""
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One engine and its two session factories: reads, and serialized log writes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.read = sessionmaker(engine, expire_on_commit=False)
        self.write = sessionmaker(engine.execution_options(**{WRITE: True}), expire_on_commit=False)
        self.log_ids: dict[str, str] = {}  # tenant -> its log, which never changes

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.read() as session:
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read session that sees one consistent state throughout: what a report reads
        must agree with the log size it states. SQLite's WAL readers have that already."""
        if self.engine.dialect.name == "sqlite":
            with self.read() as session:
                yield session
            return
        with self.read(bind=self.engine.execution_options(isolation_level="REPEATABLE READ")) as s:
            yield s

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Try to take a lock that one holder at a time has across every process using this
        database; yield whether it was taken. A holder that dies releases it: on PostgreSQL
        it is a session advisory lock on a connection kept for the duration, on SQLite (whose
        users share one host) an flock on a file beside the database."""
        with self._lock(name) as (held, _):
            yield held

    @contextmanager
    def leadership(self, name: str) -> Iterator[Callable[[], bool] | None]:
        """`exclusive` for a holder that keeps the lock for long: yield None when another
        process holds it, else a function telling whether it is still held. On PostgreSQL
        the lock lives as long as its connection, which a server restart breaks; the holder
        asks now and then and steps down when it lost the lock."""
        with self._lock(name) as (held, connection):
            if not held:
                yield None
                return

            def still_held() -> bool:
                if connection is None:
                    return True
                try:
                    connection.execute(text("SELECT 1"))
                    connection.commit()
                except SQLAlchemyError:
                    return False
                return True

            yield still_held

    @contextmanager
    def _lock(self, name: str) -> Iterator[tuple[bool, Connection | None]]:
        if self.engine.dialect.name == "postgresql":
            key = _lock_key(name)
            with self.engine.connect() as connection:
                taken = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                held = bool(taken.scalar())
                connection.commit()
                try:
                    yield held, connection
                finally:
                    if held:
                        with suppress(SQLAlchemyError):  # a broken connection released it already
                            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                            connection.commit()
            return
        database = self.engine.url.database or ""
        path = Path(f"{database}.{name}.lock") if database not in ("", ":memory:") else None
        if path is None:  # a private in-memory database has one process by construction
            yield True, None
            return
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False, None
                return
            try:
                yield True, None
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration; safe when several processes start at once."""
    with _migration_lock(engine) as connection:
        command.upgrade(alembic_config(connection), "head")


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "postgresql":
        key = _lock_key("custody/migrations")
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()
        return
    database = engine.url.database
    lock_path = Path(f"{database}.migrate.lock") if database else None
    if lock_path is None:
        with engine.connect() as connection:
            yield connection
        return
    with open(lock_path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def serialize(session: Session, name: str) -> None:
    """Hold a named lock until the session's transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: write transactions already
    start with BEGIN IMMEDIATE, which serializes them all.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = _lock_key(name)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration this code knows."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head
