"""/v1/erasure-requests, /v1/erasures and /v1/retention: erasure asked for, done, proven."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from apiflask import APIBlueprint
from flask import Response, url_for
from sqlalchemy.orm import Session

from api import schemas
from api.auth import (
    ANY_ROLE,
    WORKER_TOO,
    WRITERS,
    WRITERS_AND_WORKER,
    auth,
    principal,
    visible,
    worker_in_path,
)
from api.cursors import Cursor
from api.deps import container, session
from api.openapi import answers, error_answer, file_answer
from ledger.clock import format_ts
from ledger.errors import Conflict, InvalidRequest
from retention.erasure import ErasureStatus
from retention.models import Erasure, ErasureRequest
from retention.requests import RequestIn, RequestScope, RequestStatus
from retention.status import retention_status

bp = APIBlueprint("erasures", __name__, tag="Retention")
REQUESTS = Cursor("erasure-requests", datetime, str)


def _ts(value: Any) -> str | None:
    return format_ts(value) if value is not None else None


def render_erasure(db: Session, erasure: Erasure) -> dict[str, Any]:
    now = container().clock.now()
    items = container().retention.items(db, erasure.id)
    return {
        "id": erasure.id,
        "status": erasure.status,
        "reason": erasure.reason,
        "request": erasure.request_id,
        "worker": erasure.worker_id,
        "items": [{"id": i, "kind": k, "sha256": h.hex()} for i, k, h in items],
        "planned_at": format_ts(erasure.planned_at),
        "deadline": format_ts(erasure.deadline),
        "overdue": erasure.status == ErasureStatus.PENDING and erasure.deadline < now,
        "attempts": erasure.attempts,
        "last_error": erasure.last_error,
        "erased_at": _ts(erasure.erased_at),
        "log_index": erasure.log_index,
        "key_destroyed": erasure.key_destroyed,
        "certificate": url_for("erasures.certificate", erasure_id=erasure.id)
        if erasure.certificate
        else None,
        "copies": {
            "confirm_by": _ts(erasure.confirm_by),
            "confirmed_at": _ts(erasure.confirmed_at),
            "overdue": erasure.confirmed_at is None
            and erasure.confirm_by is not None
            and erasure.confirm_by < now,
        },
    }


def render_request(db: Session, request: ErasureRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "status": request.status,
        "worker": request.worker_id,
        "scope": request.scope,
        "consent": request.target if request.scope == RequestScope.CONSENT else None,
        "item": request.target if request.scope == RequestScope.ITEM else None,
        "received_at": format_ts(request.received_at),
        "deadline": format_ts(request.deadline),
        "overdue": request.status != RequestStatus.COMPLETED
        and request.deadline < container().clock.now(),
        "completed_at": _ts(request.completed_at),
        "log_index": request.log_index,
        "erasures": [
            render_erasure(db, e) for e in container().erasure_requests.erasures(db, request.id)
        ],
    }


@bp.post("/v1/erasure-requests")
@bp.auth_required(auth, roles=WRITERS_AND_WORKER)
@bp.input(schemas.ErasureRequestIn, arg_name="body")
@bp.output(schemas.ErasureRequestOut, status_code=202)
def create_request(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Ask for a worker's item, a consent's items, or everything to be erased. Checks deny
    the items at once; the sweep erases them before the deadline. The same request while one
    is in progress answers with that one. A worker token asks for its own worker."""
    who = principal()
    if body["worker"] is None and who.worker_id is None:
        raise InvalidRequest("name the worker: their pseudonym or your reference", "worker")
    worker = worker_in_path(body["worker"] or "me")
    requested = container().erasure_requests.request(
        who.tenant_id, RequestIn(**{**body, "worker": worker}), who.key_id
    )
    location = url_for("erasures.show_request", request_id=requested.request.id)
    with container().db.session() as fresh:  # the request's own session predates the commit
        return render_request(fresh, requested.request), 202, {"Location": location}


@bp.get("/v1/erasure-requests")
@bp.auth_required(auth, roles=WORKER_TOO)
@bp.input(schemas.ErasureRequestsQuery, location="query", arg_name="query")
@bp.output(schemas.ErasureRequestList)
def list_requests(query: dict[str, Any]) -> dict[str, Any]:
    """Requests, earliest deadline first; `status=overdue` lists those past their deadline.
    A worker token lists its own worker's."""
    db = session()
    page = container().erasure_requests.page(
        db,
        principal().tenant_id,
        container().clock.now(),
        status=query["status"],
        worker_id=principal().worker_id,
        after=REQUESTS.decode(query["after"]),
        limit=query["limit"],
    )
    return {
        "requests": [render_request(db, r) for r in page.rows],
        "next": REQUESTS.encode(page.next),
    }


@bp.get("/v1/erasure-requests/<request_id>")
@bp.auth_required(auth, roles=WORKER_TOO)
@bp.output(schemas.ErasureRequestOut)
def show_request(request_id: str) -> dict[str, Any]:
    """The request, its status and deadline, and the erasures it caused."""
    db = session()
    request = container().erasure_requests.get(db, principal().tenant_id, request_id)
    visible(request.worker_id, "erasure request")
    return render_request(db, request)


@bp.get("/v1/erasures/<erasure_id>")
@bp.auth_required(auth, roles=WORKER_TOO)
@bp.output(schemas.ErasureOut)
def show_erasure(erasure_id: str) -> dict[str, Any]:
    db = session()
    erasure = container().retention.get(db, principal().tenant_id, erasure_id)
    visible(erasure.worker_id, "erasure")
    return render_erasure(db, erasure)


@bp.get("/v1/erasures/<erasure_id>/certificate")
@bp.auth_required(auth, roles=WORKER_TOO)
@bp.doc(
    description="The deletion certificate: a compact JWS (application/jose) signed with the "
    "statement key, verifiable offline with `custody certificates verify`. 409 until a "
    "signed checkpoint covers the erasure's tombstone.",
    responses=answers(
        {
            200: file_answer("application/jose", "the certificate (compact JWS)"),
            409: error_answer(
                "The erasure is not done, or no signed checkpoint covers its tombstone yet."
            ),
        }
    ),
)
def certificate(erasure_id: str) -> Response:
    erasure = container().retention.get(session(), principal().tenant_id, erasure_id)
    visible(erasure.worker_id, "erasure")
    if erasure.certificate is None:
        raise Conflict(
            f"erasure {erasure_id} is {erasure.status}; its certificate is issued once a "
            "signed checkpoint covers its tombstone"
        )
    return Response(erasure.certificate, mimetype="application/jose")


@bp.post("/v1/erasures/<erasure_id>/confirmation")
@bp.auth_required(auth, roles=WRITERS)
@bp.output(schemas.ErasureOut)
def confirm(erasure_id: str) -> dict[str, Any]:
    """Confirm that the platform deleted its own copies of the erased items (on the log)."""
    confirmed = container().retention.confirm(principal().tenant_id, erasure_id)
    return render_erasure(session(), confirmed)


@bp.get("/v1/retention/status")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.output(schemas.RetentionStatusOut)
def status() -> dict[str, Any]:
    """What is due, overdue, failing and done for this tenant."""
    report = retention_status(session(), container().clock.now(), principal().tenant_id)
    return {**asdict(report), "now": format_ts(report.now), "healthy": report.healthy}
