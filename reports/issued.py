"""Reports are events: issuing one appends `report.issued` (which report, for which period,
resting on which checkpoint, the SHA-256 of the file, who asked), so that a report handed
around later can be matched to the log. Nothing personal: the worker is a pseudonym."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from ledger.clock import format_ts
from ledger.ids import new_id
from ledger.log.appender import Appender, LogWriter, covering_checkpoint
from ledger.log.entries import ID, TS, EntryType, obj, register
from ledger.log.reader import tenant_log_id
from ledger.models import Log
from reports.models import Report


class ReportKind(StrEnum):
    """A worker's own report, a tenant's audit report, or a tenant's export bundle."""

    WORKER = "worker"
    AUDIT = "audit"
    EXPORT = "export"


KINDS = tuple(k.value for k in ReportKind)
_NULLABLE_TS = {"anyOf": [TS, {"type": "null"}]}
REPORT_ISSUED = register(
    EntryType(
        "report.issued",
        1,
        obj(
            {
                "report": ID,
                "kind": {"enum": list(KINDS)},
                "from": _NULLABLE_TS,
                "to": TS,
                "tree_size": {"type": "integer", "minimum": 1},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "by": {"anyOf": [ID, {"type": "null"}]},
            }
        ),
    )
)


@dataclass(frozen=True)
class Anchor:
    """The signed checkpoint a report rests on: every entry it relies on is in this tree."""

    log_id: str
    origin: str
    tree_size: int
    root: bytes
    note: str
    signed_at: datetime


@dataclass(frozen=True)
class Issued:
    id: str
    log_index: int
    sha256: bytes


@contextmanager
def snapshot(appender: Appender, tenant_id: str) -> Iterator[tuple[Session, Anchor]]:
    """A consistent read of the tenant's state and the signed checkpoint that covers it."""
    log_id = tenant_log_id(appender.db, tenant_id)
    with appender.db.snapshot() as session:
        head = session.get(Log, log_id)
        assert head is not None
        found = covering_checkpoint(appender, log_id, max(head.size, 1))
        yield (
            session,
            Anchor(
                log_id, head.origin, found.tree_size, found.root_hash, found.note, found.created_at
            ),
        )


def new_report_id() -> str:
    return new_id("rpt")


class Reports:
    def __init__(self, appender: Appender) -> None:
        self.appender = appender

    def record(
        self,
        tenant_id: str,
        kind: ReportKind,
        *,
        report_id: str | None = None,
        sha256: bytes,
        size: int,
        anchor: Anchor,
        period: tuple[datetime | None, datetime],
        by: str | None,
        worker_id: str | None = None,
    ) -> Issued:
        """Append `report.issued` for a file already written; return its id and index.
        A report that prints its own id is given that id (`new_report_id`)."""
        report_id = report_id or new_report_id()

        def work(writer: LogWriter) -> Issued:
            entry = writer.append(
                anchor.log_id,
                "report.issued",
                {
                    "report": report_id,
                    "kind": kind,
                    "from": format_ts(period[0]) if period[0] else None,
                    "to": format_ts(period[1]),
                    "tree_size": anchor.tree_size,
                    "sha256": sha256.hex(),
                    "by": by,
                },
                subject=worker_id,
            )
            writer.insert_later(
                Report,
                [
                    {
                        "id": report_id,
                        "tenant_id": tenant_id,
                        "kind": kind,
                        "worker_id": worker_id,
                        "period_from": period[0],
                        "period_to": period[1],
                        "tree_size": anchor.tree_size,
                        "sha256": sha256,
                        "size": size,
                        "issued_by": by,
                        "issued_at": writer.now(),
                        "log_index": entry.index,
                    }
                ],
            )
            return Issued(report_id, entry.index, sha256)

        return self.appender.run([anchor.log_id], work, savepoint=False)

    def get(self, session: Session, tenant_id: str, report_id: str) -> Report | None:
        report = session.get(Report, report_id)
        return report if report is not None and report.tenant_id == tenant_id else None
