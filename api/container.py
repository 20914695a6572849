"""The composition root: every service is built here, once, from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from api.settings import Settings
from ledger.apikeys import ApiKeyService
from ledger.appender import CHECKPOINT_INTERVAL, Appender
from ledger.clock import Clock, SystemClock
from ledger.consents import ConsentService
from ledger.db import Database, make_engine, upgrade
from ledger.keys import KeyRing
from ledger.signing import FileKeyStore, KeyStore
from ledger.tenants import TenantService


@dataclass
class Container:
    settings: Settings
    clock: Clock
    db: Database
    keys: KeyRing
    appender: Appender
    tenants: TenantService
    apikeys: ApiKeyService
    consents: ConsentService

    def close(self) -> None:
        self.db.dispose()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    key_store: KeyStore | None = None,
    migrate: bool = True,
) -> Container:
    """Open the database (migrating it unless told not to) and make sure signing keys exist."""
    clock = clock or SystemClock()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    if migrate:
        upgrade(engine)
    db = Database(engine)
    keys = KeyRing(
        key_store or FileKeyStore(settings.key_folder), clock, settings.origin, settings.key_overlap
    )
    with db.write() as session, session.begin():
        keys.ensure(session)
    interval = max(CHECKPOINT_INTERVAL, timedelta(seconds=settings.checkpoint_seconds))
    appender = Appender(db, clock, keys.log_signers, checkpoint_interval=interval)
    return Container(
        settings=settings,
        clock=clock,
        db=db,
        keys=keys,
        appender=appender,
        tenants=TenantService(appender, settings.origin),
        apikeys=ApiKeyService(appender),
        consents=ConsentService(appender, keys.statement_signer),
    )
