"""Reports: the worker's report and the audit report (PDF), the audit export (zip), and the
record of a report issued. Each is recorded on the log as it is issued."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from custody_client.downloads import Destination, Download, receive
from custody_client.resource import Resource, seg
from custody_client.types import ReportRecord


class Reports(Resource):
    def worker_report(self, worker: str, *, to: Destination = None) -> Download:
        """The worker's report (PDF); `content` holds the bytes unless `to` names a file."""
        return self._file(f"/v1/workers/{seg(worker)}/report.pdf", {}, to)

    def audit_report(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        to: Destination = None,
    ) -> Download:
        """The audit report (PDF) for [since, until)."""
        return self._file("/v1/audit/report.pdf", {"from": since, "to": until}, to)

    def audit_export(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        to: Destination = None,
    ) -> Download:
        """The verifiable audit bundle (zip) for [since, until); best streamed to a file."""
        return self._file("/v1/audit/export", {"from": since, "to": until}, to)

    def get(self, report: str) -> ReportRecord:
        """A report issued: kind, period, checkpoint size, SHA-256 and log index."""
        return cast(ReportRecord, self._t.json("GET", f"/v1/reports/{seg(report)}"))

    def _file(self, path: str, params: dict[str, datetime | None], to: Destination) -> Download:
        with self._t.stream("GET", path, params=params, accept="*/*") as response:
            return receive(response, to)
