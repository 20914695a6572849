"""The schema comes from Alembic alone, and the models agree with it on every backend."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from ledger.db import make_engine, upgrade
from ledger.models import Base
from redaction import models as _redaction_models  # noqa: F401  (tables of the schema)
from reports import models as _reports_models  # noqa: F401
from retention import models as _retention_models  # noqa: F401


def test_migrated_schema_matches_the_models(db_url):
    engine = make_engine(db_url)
    upgrade(engine)  # a second upgrade is a no-op
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() is not None
    tables = set(inspect(engine).get_table_names())
    assert {
        "tenants",
        "api_keys",
        "logs",
        "log_entries",
        "log_nodes",
        "checkpoints",
        "signing_keys",
    } <= tables
    engine.dispose()


def test_upgrade_creates_the_schema_on_an_empty_sqlite_file(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade(engine)
    assert "log_entries" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()
