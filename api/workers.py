"""/v1/workers: what happened to a worker's recordings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiflask import APIBlueprint

from api import schemas
from api.auth import WORKER_TOO, auth, principal, worker_in_path
from api.consents import render
from api.cursors import Cursor, PageQuery
from api.deps import container, session
from ledger.clock import format_ts

bp = APIBlueprint("workers", __name__, url_prefix="/v1/workers", tag="Workers")
USES = Cursor("uses", int, str)
CONSENTS = Cursor("consents", datetime, str)


@bp.get("/<worker>/uses")
@bp.auth_required(auth, roles=WORKER_TOO)
@bp.input(schemas.UsesQuery, location="query", arg_name="query")
@bp.output(schemas.UsesOut)
def uses(worker: str, query: dict[str, Any]) -> dict[str, Any]:
    """Allowed uses of the worker's clips and everything derived from them: who used which
    item for what, when. `worker` is the pseudonym (wkr_...), the platform's reference, or
    `me` with a worker token."""
    found, page = container().checks.uses(
        session(),
        principal().tenant_id,
        worker_in_path(worker),
        USES.decode(query["after"]),
        query["limit"],
    )
    return {
        "worker": found,
        "uses": [
            {
                "item": u.item,
                "kind": u.kind,
                "purpose": u.purpose,
                "recipient": u.recipient,
                "at": format_ts(u.at),
                "log_index": u.log_index,
            }
            for u in page.rows
        ],
        "next": USES.encode(page.next),
    }


@bp.get("/<worker>/consents")
@bp.auth_required(auth, roles=WORKER_TOO)
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(schemas.ConsentList)
def consents(worker: str, query: dict[str, Any]) -> dict[str, Any]:
    """Every consent of the worker, oldest first, with its history and every receipt."""
    found = worker_in_path(worker)
    page = container().consents.page_of_worker(
        session(), found, CONSENTS.decode(query["after"]), query["limit"]
    )
    return {
        "worker": found,
        "consents": [render(c, events) for c, events in page.rows],
        "next": CONSENTS.encode(page.next),
    }
