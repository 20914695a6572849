"""Reports: the worker's report and the audit report as PDF, and the record of any report
issued. Each file is written to a temporary file, recorded on the log, then sent."""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from apiflask import APIBlueprint
from flask import Response

from api import schemas
from api.auth import AUDITORS, WORKER_TOO, auth, principal, visible, worker_in_path
from api.deps import container, session
from ledger.clock import format_ts
from ledger.errors import NotFound
from reports.issued import Issued

bp = APIBlueprint("reports", __name__, tag="Reports")


def _file(mimetype: str, description: str) -> dict[int | str, Any]:
    """The OpenAPI response of an endpoint that sends a file."""
    schema = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": {mimetype: schema}}}


PDF = _file("application/pdf", "the report (PDF)")
ZIP = _file("application/zip", "the audit bundle (zip); its README.txt says how to verify it")


def send_issued(write: Callable[[Path], Issued], mimetype: str, filename: str) -> Response:
    """Write a report into a temporary folder, then stream it and delete it."""
    folder = tempfile.TemporaryDirectory(prefix="custody-report-")
    path = Path(folder.name) / "report"
    try:
        issued = write(path)
        handle = path.open("rb")
    except BaseException:
        folder.cleanup()
        raise

    def body() -> Iterator[bytes]:
        try:
            while chunk := handle.read(1 << 16):
                yield chunk
        finally:
            handle.close()
            folder.cleanup()

    return Response(
        body(),
        mimetype=mimetype,
        headers={
            "Content-Length": str(path.stat().st_size),
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Repr-Digest": f"sha-256=:{base64.b64encode(issued.sha256).decode()}:",
            "Custody-Report-Id": issued.id,
            "Custody-Log-Index": str(issued.log_index),
        },
    )


def _for_period(writer: str, query: dict[str, Any], mimetype: str, filename: str) -> Response:
    who = principal()
    write = getattr(container(), writer).write
    return send_issued(
        lambda out: write(
            who.tenant_id, out, since=query["since"], until=query["until"], by=who.key_id
        ),
        mimetype,
        filename,
    )


@bp.get("/v1/workers/<worker>/report.pdf")
@bp.auth_required(auth, roles=WORKER_TOO)
@bp.doc(responses=PDF)
def worker_report(worker: str) -> Response:
    """The worker's report, in plain words: agreements, recordings and items, uses, erasures,
    scheduled deletions, open requests, rights, and the signed checkpoint it rests on.
    `worker` is the pseudonym, the platform's reference, or `me` with a worker token.
    Issuing it is a log entry."""
    who, found = principal(), worker_in_path(worker)
    return send_issued(
        lambda out: container().worker_report.write(who.tenant_id, found, out, who.key_id),
        "application/pdf",
        "custody-worker-report.pdf",
    )


@bp.get("/v1/audit/report.pdf")
@bp.auth_required(auth, roles=AUDITORS)
@bp.input(schemas.ReportPeriodQuery, location="query", arg_name="query")
@bp.doc(responses=PDF)
def audit_report(query: dict[str, Any]) -> Response:
    """The regulator's report for a period (`from`, `to`): record of processing, consents,
    use decisions, retention, erasure requests, redactions and the log's integrity."""
    return _for_period("audit_report", query, "application/pdf", "custody-audit-report.pdf")


@bp.get("/v1/audit/export")
@bp.auth_required(auth, roles=AUDITORS)
@bp.input(schemas.ReportPeriodQuery, location="query", arg_name="query")
@bp.doc(responses=ZIP)
def audit_export(query: dict[str, Any]) -> Response:
    """The verifiable audit export for a period (`from`, `to`): every log entry of the period
    with its inclusion proof against a signed checkpoint, the checkpoints and consistency
    proofs, the keys, and the tenant's records as CSV and JSON Lines. `custody verify FILE`
    checks it with no database. Issuing it is a log entry."""
    return _for_period("audit_export", query, "application/zip", "custody-audit-export.zip")


@bp.get("/v1/reports/<report_id>")
@bp.auth_required(auth, roles=WORKER_TOO)
@bp.output(schemas.ReportOut)
def show(report_id: str) -> dict[str, Any]:
    """A report issued earlier: what it covered and the SHA-256 of the file."""
    report = container().reports.get(session(), principal().tenant_id, report_id)
    if report is None:
        raise NotFound("report")
    visible(report.worker_id, "report")
    return {
        "id": report.id,
        "kind": report.kind,
        "worker": report.worker_id,
        "period_from": format_ts(report.period_from) if report.period_from else None,
        "period_to": format_ts(report.period_to) if report.period_to else None,
        "tree_size": report.tree_size,
        "sha256": report.sha256.hex(),
        "size": report.size,
        "issued_at": format_ts(report.issued_at),
        "log_index": report.log_index,
    }
