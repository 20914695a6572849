"""Database tables of the ledger (SQLAlchemy 2.x typed models).

The log tables are the record; everything else is a projection kept in the same
transaction as the entry that changed it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Log(Base):
    """The head of one tenant's log; its row is the lock that serializes appends."""

    __tablename__ = "logs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), unique=True)
    origin: Mapped[str] = mapped_column(String(300), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    last_leaf: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    checkpoint_size: Mapped[int] = mapped_column(BigInteger)
    checkpoint_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped by every change that can turn an existing item's use decision (a withdrawal, an
    # amendment, a new policy version, an erasure): decision caches are valid per epoch.
    epoch: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class LogEntry(Base):
    __tablename__ = "log_entries"

    log_id: Mapped[str] = mapped_column(ForeignKey("logs.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    body: Mapped[bytes] = mapped_column(LargeBinary)


class LogNode(Base):
    """A complete subtree's hash; level 0 are the leaves. Written once, never changed."""

    __tablename__ = "log_nodes"

    log_id: Mapped[str] = mapped_column(ForeignKey("logs.id"), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    log_id: Mapped[str] = mapped_column(ForeignKey("logs.id"), primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text)


class SigningKeyRecord(Base):
    """A public signing key and its lifetime; the private half lives in the key store."""

    __tablename__ = "signing_keys"
    __table_args__ = (Index("ix_signing_keys_purpose_retired", "purpose", "retired_at"),)

    kid: Mapped[str] = mapped_column(String(40), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A retired log key keeps co-signing checkpoints until then, so that verifiers that
    # only know the old key can move to the new one.
    overlap_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Worker(Base):
    """A data subject. On the log only as `id`, a random pseudonym; the platform's own
    reference lives here, off the log, and is erased with the worker."""

    __tablename__ = "workers"
    __table_args__ = (UniqueConstraint("tenant_id", "ref", name="uq_workers_tenant_ref"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    ref: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Consent(Base):
    """A consent receipt as given: immutable, except for the projection columns at the end,
    which the consent's events (history in consent_events) determine."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"), index=True)
    amends: Mapped[str | None] = mapped_column(ForeignKey("consents.id"))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    policy_url: Mapped[str] = mapped_column(String(500))
    policy_version: Mapped[str] = mapped_column(String(40))
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    guardian_ref: Mapped[str | None] = mapped_column(String(200))
    receipt: Mapped[str] = mapped_column(Text)
    log_index: Mapped[int] = mapped_column(BigInteger)
    # Projection of the events: what is still in force.
    status: Mapped[str] = mapped_column(String(20))
    withdrawn_purposes: Mapped[list[str]] = mapped_column(JSON)
    superseded_by: Mapped[str | None] = mapped_column(String(40))


class ConsentEvent(Base):
    """History: consent given, withdrawn (some or all purposes), superseded by an amendment."""

    __tablename__ = "consent_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    receipt: Mapped[str | None] = mapped_column(Text)
    log_index: Mapped[int] = mapped_column(BigInteger)


class Policy(Base):
    """A published version of a platform's terms: the purposes it asks consent for."""

    __tablename__ = "policies"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_index: Mapped[int] = mapped_column(BigInteger)


class Item(Base):
    """A clip or an item derived from others (W3C PROV entity). The plain content hash and
    the commitment's salt are erasable; the log holds only the salted commitment."""

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_tenant_sha256", "tenant_id", "sha256"),
        # What the retention sweep looks for: active items by due date, per tenant.
        Index(
            "ix_items_due",
            "tenant_id",
            "delete_after",
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(30))
    sha256: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    salt: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32))
    worker_id: Mapped[str | None] = mapped_column(ForeignKey("workers.id"), index=True)
    consent_id: Mapped[str | None] = mapped_column(ForeignKey("consents.id"), index=True)
    data_categories: Mapped[list[str]] = mapped_column(JSON)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)  # capture metadata or activity
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))  # active, erasing (claimed), erased
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_index: Mapped[int] = mapped_column(BigInteger)
    content_size: Mapped[int | None] = mapped_column(BigInteger)


class ItemParent(Base):
    """An edge of the lineage graph: `child` was derived from `parent`."""

    __tablename__ = "item_parents"

    child_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    parent_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True, index=True)


class ItemRoot(Base):
    """Closure to the clips an item descends from (a clip is its own root): a check
    evaluates the consent of every root, and a withdrawal reaches every descendant."""

    __tablename__ = "item_roots"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True, index=True)


class UseDecision(Base):
    """A use check's answer for one item. Allowed decisions are the record of use."""

    __tablename__ = "use_decisions"
    __table_args__ = (Index("ix_use_decisions_tenant_at", "tenant_id", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    item_id: Mapped[str | None] = mapped_column(ForeignKey("items.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(10))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_index: Mapped[int] = mapped_column(BigInteger)


class WorkerKey(Base):
    """A worker's vault data key, wrapped by the master key. Destroying it (crypto-shredding)
    makes every copy of the worker's ciphertext unreadable."""

    __tablename__ = "worker_keys"

    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"), primary_key=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AccessLink(Base):
    """A single-use link a platform handed to a worker. The link carries its id and an HMAC
    of it; nothing secret is stored. Off the log: it grants access, it records no processing."""

    __tablename__ = "access_links"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"), index=True)
    language: Mapped[str | None] = mapped_column(String(10))
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WorkerSession(Base):
    """A worker signed in through a link: the portal's session and the API's worker token
    are one thing, stored as the token's SHA-256."""

    __tablename__ = "worker_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"), index=True)
    link_id: Mapped[str] = mapped_column(ForeignKey("access_links.id"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdempotencyKey(Base):
    """A creating call made with an `Idempotency-Key`: the request's fingerprint and, once
    answered, the answer (encrypted), so that a retry gets that answer instead of a second
    creation. Kept for a day."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))  # a hash of the credential that sent it
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32))
    state: Mapped[str] = mapped_column(String(10))  # running, effected, done
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    response: Mapped[bytes | None] = mapped_column(LargeBinary)


class Manifest(Base):
    """A training-set manifest: a consent snapshot of many items for one purpose, on the log
    as `manifest.issued`. `content` is what the signed manifest lists (items allowed with
    their content hashes and consent receipts' hashes, items refused with reasons); `token`
    is the signed manifest, made once a signed checkpoint covers the entry."""

    __tablename__ = "manifests"
    __table_args__ = (Index("ix_manifests_tenant_issued", "tenant_id", "issued_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(60))
    recipient: Mapped[str] = mapped_column(String(60))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_index: Mapped[int] = mapped_column(BigInteger)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    allowed: Mapped[int] = mapped_column(BigInteger)
    refused: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    token: Mapped[str | None] = mapped_column(Text)
    tainted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # first noticed


class ManifestItem(Base):
    """An item a manifest allowed; `noticed` is when a withdrawal, erasure or expiry that
    touches it was first noticed (and the platform told), and as what."""

    __tablename__ = "manifest_items"

    manifest_id: Mapped[str] = mapped_column(ForeignKey("manifests.id"), primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True, index=True)
    noticed_state: Mapped[str | None] = mapped_column(String(20))
    noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
