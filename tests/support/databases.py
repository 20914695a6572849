"""Test databases: one Alembic-migrated template per backend, copied for every test."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ledger.db import make_engine, upgrade

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str | None:
    """CUSTODY_TEST_DATABASE_URL when set (it must then work), else the local server if up."""
    configured = os.environ.get("CUSTODY_TEST_DATABASE_URL")
    candidates = (
        [configured] if configured else [DEFAULT_PG, DEFAULT_PG.replace("postgres@", "root@")]
    )
    for url in candidates:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect():
                return url
        except Exception:
            if configured:
                raise
        finally:
            engine.dispose()
    return None


class SqliteTemplate:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "template.db"
        engine = make_engine(f"sqlite:///{self.path}")
        upgrade(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()

    def fresh(self, folder: Path) -> str:
        target = folder / "custody.db"
        shutil.copyfile(self.path, target)
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        pass

    def close(self) -> None:
        pass


class PostgresTemplate:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"custody_tmpl_{secrets.token_hex(4)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        engine = make_engine(self._url(self.name))
        upgrade(engine)
        engine.dispose()

    def _url(self, name: str) -> str:
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def fresh(self, folder: Path) -> str:
        name = f"custody_t_{secrets.token_hex(6)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"'))
        return self._url(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()
