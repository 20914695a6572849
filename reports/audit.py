"""The regulator's report for one tenant and a period: a record of processing in the spirit
of GDPR Art. 30, consent and use statistics (with charts), retention and erasure
compliance, redactions, and the integrity of the log (a full verification run, the signed
checkpoint the report rests on, the keys).

Figures are aggregated by the database or streamed; only overdue items are listed one by
one. Everything is read in one snapshot that a signed checkpoint covers.

This module issues the report; reports.audit_facts reads its figures, reports.audit_layout
lays them out (with reports.charts for the charts)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ledger.errors import InvalidRequest
from ledger.log.appender import Appender
from ledger.log.keys import KeyRing
from ledger.log.verification import verify_database
from reports.audit_facts import AuditFacts
from reports.audit_layout import MARGIN, story
from reports.issued import Issued, ReportKind, Reports, new_report_id, snapshot
from reports.pdf import PAPER, build


def period_of(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The report's period: [since, until), by default from the tenant's start until now."""
    until = until or now
    since = since or datetime(1970, 1, 1, tzinfo=UTC)
    if since >= until:
        raise InvalidRequest("from must be before to", "from")
    return since, until


class AuditReport:
    """Writes the audit report of one tenant for a period and records it on the log."""

    def __init__(self, appender: Appender, reports: Reports, keys: KeyRing) -> None:
        self.appender = appender
        self.reports = reports
        self.keys = keys

    def write(
        self,
        tenant_id: str,
        out: Path,
        *,
        since: datetime | None,
        until: datetime | None,
        by: str | None,
    ) -> Issued:
        now = self.appender.clock.now()
        period = period_of(since, until, now)
        report_id = new_report_id()
        with snapshot(self.appender, tenant_id) as (session, anchor):
            integrity = verify_database(self.appender.db, tenant_id)[0]
            facts = AuditFacts(session, tenant_id, period, now)
            content = story(facts, report_id, integrity, self.keys.published(session), anchor)
            written = build(
                out,
                content,
                page=PAPER,
                margin=MARGIN,
                title="Audit report",
                footer=lambda page: f"Custody audit report {report_id} · {tenant_id} · page {page}",
            )
        return self.reports.record(
            tenant_id,
            ReportKind.AUDIT,
            report_id=report_id,
            sha256=written.sha256,
            size=written.size,
            anchor=anchor,
            period=(since, period[1]),
            by=by,
        )
