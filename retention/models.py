"""Tables of retention: erasure requests, erasures, their items, webhook endpoints and
deliveries. Like every projection, each changes in the transaction of its log entry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.models import Base, UTCDateTime


class ErasureRequest(Base):
    """A worker's request to erase one item, a consent's items, or everything."""

    __tablename__ = "erasure_requests"
    __table_args__ = (Index("ix_erasure_requests_tenant_status", "tenant_id", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"), index=True)
    scope: Mapped[str] = mapped_column(String(10))  # all, consent, item
    target: Mapped[str | None] = mapped_column(String(40))  # the consent or item
    status: Mapped[str] = mapped_column(String(20))  # in_progress, completed
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    log_index: Mapped[int] = mapped_column(BigInteger)
    requested_by: Mapped[str | None] = mapped_column(String(40))  # api key or worker token


class Erasure(Base):
    """Items erased together, for one reason: planned (their status `erasing`), then done
    (bytes deleted, hashes forgotten, tombstone on the log), then certified."""

    __tablename__ = "erasures"
    __table_args__ = (
        Index("ix_erasures_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_erasures_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    worker_id: Mapped[str | None] = mapped_column(ForeignKey("workers.id"))
    reason: Mapped[str] = mapped_column(String(30))
    request_id: Mapped[str | None] = mapped_column(ForeignKey("erasure_requests.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # pending, done
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    log_index: Mapped[int | None] = mapped_column(BigInteger)  # the tombstone
    key_destroyed: Mapped[bool | None] = mapped_column(Boolean)
    certificate: Mapped[str | None] = mapped_column(Text)
    certified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The platform confirms it deleted its own copies by then.
    confirm_by: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ErasureItem(Base):
    """An item of an erasure, with the content hash its certificate names (the item row
    forgets it when the erasure is done)."""

    __tablename__ = "erasure_items"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    erasure_id: Mapped[str] = mapped_column(ForeignKey("erasures.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    stored: Mapped[bool] = mapped_column(Boolean)  # had bytes in the vault


class WebhookEndpoint(Base):
    """Where a tenant is told about erasures; the signing secret is sealed by the master key."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[bytes] = mapped_column(LargeBinary(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One message to one endpoint, retried with backoff until a 2xx or the last attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    erasure_id: Mapped[str | None] = mapped_column(ForeignKey("erasures.id"), index=True)
    manifest_id: Mapped[str | None] = mapped_column(ForeignKey("manifests.id"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # exactly the bytes sent and signed
    status: Mapped[str] = mapped_column(String(20))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
