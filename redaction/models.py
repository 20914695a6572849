"""The redaction jobs table. A job is requested, claimed by one runner at a time (a lease
that a crashed runner's successor can take over), and ends done, with the redacted copy's
item, or failed, with the reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.models import Base, UTCDateTime


class Redaction(Base):
    __tablename__ = "redactions"
    __table_args__ = (
        Index("ix_redactions_status_lease_until", "status", "lease_until"),
        Index("ix_redactions_tenant_source", "tenant_id", "source_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    source_id: Mapped[str] = mapped_column(ForeignKey("items.id"))  # the clip redacted
    mode: Mapped[str] = mapped_column(String(20))
    fill: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(30))  # requested | consent_requires
    status: Mapped[str] = mapped_column(String(20))  # queued, running, done, failed
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str | None] = mapped_column(String(40))  # api key; none if automatic
    attempts: Mapped[int] = mapped_column(Integer)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    item_id: Mapped[str | None] = mapped_column(ForeignKey("items.id"))  # the redacted copy
    audit_sha256: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # counts and timing, no hashes
    error: Mapped[str | None] = mapped_column(Text)  # why it failed, for a person
    log_index: Mapped[int] = mapped_column(BigInteger)  # redaction.requested
