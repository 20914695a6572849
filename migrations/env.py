"""Alembic environment: runs on the connection that ledger.db.upgrade hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import redaction.models  # noqa: F401  (its tables are part of the schema)
import reports.models  # noqa: F401
import retention.models  # noqa: F401
from ledger.models import Base

config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url, or run migrations through `custody db upgrade`")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
