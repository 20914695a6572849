"""/v1/redactions: a clip's faces (or its room) removed by the job runner, as a derived item."""

from __future__ import annotations

import json
from typing import Any

from apiflask import APIBlueprint
from flask import Response, url_for

from api import schemas
from api.auth import ANY_ROLE, WRITERS, auth, principal
from api.deps import container, session
from api.items import ERASED, send
from api.openapi import answers, error_answer, file_answer, json_answer
from ledger.clock import format_ts
from redaction.models import Redaction

bp = APIBlueprint("redactions", __name__, tag="Redaction")
NOT_DONE = "The redaction is not done (queued, running or failed): no copy to read yet."
COPY_ERASED = "The redacted copy was erased."


def render(job: Redaction) -> dict[str, Any]:
    return {
        "id": job.id,
        "item": job.source_id,
        "mode": job.mode,
        "fill": job.fill,
        "reason": job.reason,
        "status": job.status,
        "requested_at": format_ts(job.requested_at),
        "finished_at": format_ts(job.finished_at) if job.finished_at else None,
        "attempts": job.attempts,
        "output": job.item_id,
        "audit_sha256": job.audit_sha256.hex() if job.audit_sha256 else None,
        "summary": job.summary,
        "error": job.error,
        "log_index": job.log_index,
    }


@bp.post("/v1/redactions")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.RedactionIn, arg_name="body")
@bp.output(schemas.RedactionOut, status_code=202)
@bp.doc(
    responses=answers(
        {
            200: json_answer("RedactionOut", "Asked before (and not failed): the first job."),
            410: error_answer(ERASED),
        }
    )
)
def create(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Ask for a redacted copy of a stored clip. The job runner makes it; the same redaction
    asked again (unless it failed) answers 200 with the first job."""
    requested = container().redactions.request(
        principal().tenant_id, body["item"], body["mode"], body["fill"], principal().key_id
    )
    location = url_for("redactions.show", redaction_id=requested.job.id)
    return render(requested.job), 202 if requested.created else 200, {"Location": location}


@bp.get("/v1/redactions/<redaction_id>")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.output(schemas.RedactionOut)
def show(redaction_id: str) -> dict[str, Any]:
    """The job's status, the redacted copy's item id and the audit summary."""
    return render(container().redactions.get(session(), principal().tenant_id, redaction_id))


@bp.get("/v1/redactions/<redaction_id>/audit")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.doc(
    description="The full audit record: input and output SHA-256, tools, model and its hash, "
    "parameters, every frame's boxes with their source, frames flagged for review, timing. "
    "Its RFC 8785 form hashes to `audit_sha256`, which is on the log.",
    responses=answers(
        {
            200: file_answer("application/json", "the audit record", {"type": "object"}),
            409: error_answer(NOT_DONE),
            410: error_answer(COPY_ERASED),
        }
    ),
)
def audit(redaction_id: str) -> Response:
    record = container().redactions.audit(session(), principal().tenant_id, redaction_id)
    return Response(json.dumps(record), mimetype="application/json")


@bp.get("/v1/redactions/<redaction_id>/content")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.ContentQuery, location="query", arg_name="query")
@bp.doc(
    description="The redacted bytes (MP4 H.264 for a video, the input's format for a still), "
    "to a caller whose use check (logged) allows this purpose and recipient.",
    responses=answers(
        {
            200: file_answer("application/octet-stream", "the redacted bytes"),
            403: error_answer("This use is denied; `errors` holds the reasons."),
            409: error_answer(NOT_DONE),
            410: error_answer(COPY_ERASED),
        }
    ),
)
def content(redaction_id: str, query: dict[str, Any]) -> Response:
    stored = container().redactions.output_content(session(), principal().tenant_id, redaction_id)
    return send(stored, query)
