"""/v1/workers: what happened to a worker's recordings."""

from __future__ import annotations

import re
from typing import Any

from apiflask import APIBlueprint
from apiflask.exceptions import HTTPError

from api import schemas
from api.auth import WORKER_TOO, auth, principal, worker_in_path
from api.consents import render
from api.deps import container, session
from ledger.clock import format_ts

bp = APIBlueprint("workers", __name__, url_prefix="/v1/workers", tag="Workers")


def _cursor(raw: str | None) -> tuple[int, str] | None:
    if raw is None:
        return None
    index, _, use_id = raw.partition(":")
    if not re.fullmatch("[0-9]{1,18}", index) or not use_id:  # a 64-bit log index
        raise HTTPError(422, "after must be the `next` value of a previous page")
    return int(index), use_id


@bp.get("/<worker>/uses")
@bp.auth_required(auth, roles=WORKER_TOO)
@bp.input(schemas.UsesQuery, location="query", arg_name="query")
@bp.output(schemas.UsesOut)
def uses(worker: str, query: dict[str, Any]) -> dict[str, Any]:
    """Allowed uses of the worker's clips and everything derived from them: who used which
    item for what, when. `worker` is the pseudonym (wkr_...), the platform's reference, or
    `me` with a worker token."""
    tenant = principal().tenant_id
    limit = query["limit"]
    found, page = container().checks.uses(
        session(), tenant, worker_in_path(worker), _cursor(query["after"]), limit + 1
    )
    more = len(page) > limit
    page = page[:limit]
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
            for u in page
        ],
        "next": f"{page[-1].log_index}:{page[-1].decision_id}" if more else None,
    }


@bp.get("/<worker>/consents")
@bp.auth_required(auth, roles=WORKER_TOO)
@bp.output(schemas.ConsentList)
def consents(worker: str) -> dict[str, Any]:
    """Every consent of the worker, oldest first, with its history and every receipt."""
    found = worker_in_path(worker)
    given = container().consents.of_worker(session(), found)
    return {"worker": found, "consents": [render(c, events) for c, events in given]}
