"""Request-scoped access to the container and the request's read session."""

from __future__ import annotations

from contextlib import suppress

from flask import current_app, g
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from api.container import Container


def container() -> Container:
    built: Container = current_app.extensions["custody"]
    return built


def session() -> Session:
    """The request's session: opened on first use, closed (rolled back) at teardown.
    Writes go through the appender, which owns its own transactions."""
    if "db_session" not in g:
        g.db_session = container().db.read()
    current: Session = g.db_session
    return current


def close_session(_exc: BaseException | None = None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        # A connection the database dropped cannot roll back; the pool discards it, and
        # the answer (a 503 by then) stands.
        with suppress(OperationalError, InterfaceError):
            db_session.close()
