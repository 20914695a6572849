"""The reports table: every report issued (worker report, audit report, export bundle), with
the SHA-256 of the file and the log entry that recorded it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.models import Base, UTCDateTime


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_tenant_issued_at", "tenant_id", "issued_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(10))  # worker, audit, export
    worker_id: Mapped[str | None] = mapped_column(ForeignKey("workers.id"), index=True)
    period_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    period_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tree_size: Mapped[int] = mapped_column(BigInteger)  # the checkpoint the report rests on
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    size: Mapped[int] = mapped_column(BigInteger)
    issued_by: Mapped[str | None] = mapped_column(String(40))  # api key; none from the CLI
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_index: Mapped[int] = mapped_column(BigInteger)
