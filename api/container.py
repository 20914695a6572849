"""The composition root: every service is built here, once, from Settings."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta

from api.settings import Settings
from ledger.access.apikeys import ApiKeyService
from ledger.access.links import WorkerAccess, derive_key
from ledger.clock import Clock, DatabaseClock
from ledger.consent.consents import ConsentService
from ledger.consent.policies import PolicyService
from ledger.db import Database, make_engine, upgrade
from ledger.idempotency import Idempotency
from ledger.items.decisions import CheckService
from ledger.items.items import ItemService
from ledger.items.manifests import Manifests
from ledger.log.appender import CHECKPOINT_INTERVAL, Appender
from ledger.log.keys import KeyRing
from ledger.log.signing import FileKeyStore, KeyStore
from ledger.tenants import TenantService
from ledger.vault.s3 import S3Backend
from ledger.vault.vault import Backend, LocalBackend, Vault, master_key_file
from redaction.jobs import Redactions
from reports.audit import AuditReport
from reports.export import AuditExport
from reports.issued import Reports
from reports.worker import WorkerReport
from retention.manifests import ManifestWatch
from retention.requests import ErasureRequests
from retention.sweep import Retention
from retention.webhooks import Webhooks


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
    policies: PolicyService
    vault: Vault
    items: ItemService
    checks: CheckService
    manifests: Manifests
    manifest_watch: ManifestWatch
    erasure_requests: ErasureRequests
    webhooks: Webhooks
    retention: Retention
    redactions: Redactions
    reports: Reports
    worker_report: WorkerReport
    audit_report: AuditReport
    audit_export: AuditExport
    access: WorkerAccess
    idempotency: Idempotency
    cookie_key: bytes  # signs the portal's cookies

    def close(self) -> None:
        self.db.dispose()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    key_store: KeyStore | None = None,
    migrate: bool = True,
) -> Container:
    """Open the database. On first run (`migrate`) bring its schema up to date and make the
    signing keys; a process opening a database prepared before (`custody db upgrade`) leaves
    it alone, so it starts even while the database is briefly unreachable."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    if migrate:
        upgrade(engine)
    clock = clock or DatabaseClock(engine)  # deadlines agree across hosts: the database's time
    db = Database(engine)
    keys = KeyRing(
        key_store or FileKeyStore(settings.key_folder), clock, settings.origin, settings.key_overlap
    )
    if migrate:
        with db.write() as session, session.begin():
            keys.ensure(session)
    interval = max(CHECKPOINT_INTERVAL, timedelta(seconds=settings.checkpoint_seconds))
    appender = Appender(db, clock, keys.log_signers, checkpoint_interval=interval)
    master = (
        base64.b64decode(settings.master_key)
        if settings.master_key
        else master_key_file(settings.key_folder / "vault-master.key")
    )
    backend: Backend = (
        S3Backend(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region or None,
        )
        if settings.s3_bucket
        else LocalBackend(settings.vault_folder)
    )
    vault = Vault(backend, master)
    requests = ErasureRequests(appender, settings.erasure_deadline)
    webhooks = Webhooks(appender, vault, clock)
    items = ItemService(appender, vault)
    checks = CheckService(appender)
    reports = Reports(appender)
    return Container(
        settings=settings,
        clock=clock,
        db=db,
        keys=keys,
        appender=appender,
        tenants=TenantService(appender, settings.origin),
        apikeys=ApiKeyService(appender),
        consents=ConsentService(appender, keys.statement_signer),
        policies=PolicyService(appender),
        vault=vault,
        items=items,
        checks=checks,
        manifests=Manifests(appender, checks, keys.statement_signer, settings.origin),
        manifest_watch=ManifestWatch(appender, webhooks, clock),
        erasure_requests=requests,
        webhooks=webhooks,
        retention=Retention(
            appender,
            vault,
            keys,
            requests,
            webhooks,
            clock,
            settings.origin,
            timedelta(days=settings.confirm_copies_days),
        ),
        redactions=Redactions(
            appender, vault, items, clock, timedelta(seconds=settings.redaction_lease_seconds)
        ),
        reports=reports,
        worker_report=WorkerReport(appender, reports),
        audit_report=AuditReport(appender, reports, keys),
        audit_export=AuditExport(appender, reports, keys),
        access=WorkerAccess(
            db,
            clock,
            derive_key(master, b"access-links"),
            timedelta(seconds=settings.worker_session_seconds),
        ),
        idempotency=Idempotency(db, clock, derive_key(master, b"idempotency")),
        cookie_key=derive_key(master, b"portal-cookies"),
    )
