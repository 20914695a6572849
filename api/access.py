"""Worker access: a platform asks for a single-use link; the worker (in the portal, or an
app of theirs through the API) redeems it for a session that reaches only their records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from apiflask import APIBlueprint
from flask import current_app, request, url_for

from api import schemas
from api.auth import WORKERS, WRITERS, auth, principal
from api.deps import container
from api.throttle import Attempts
from ledger.access.links import Grant, LinkRefused
from ledger.clock import format_ts
from ledger.models import AccessLink

bp = APIBlueprint("access", __name__, tag="Worker access")
FAILED_ATTEMPTS = "10 per minute"  # failed link attempts allowed per client address


def attempts() -> Attempts:
    found: Attempts = current_app.extensions["custody_attempts"]
    return found


def _throttled(use: Any, token: str) -> Any:
    client = request.remote_addr or "unknown"
    attempts().check(client)
    try:
        return use(token)
    except LinkRefused:
        attempts().failed(client)
        raise


def peek(token: str) -> AccessLink:
    """The link, if it could be redeemed now; failures count against the client."""
    link: AccessLink = _throttled(container().access.peek, token)
    return link


def redeem(token: str) -> Grant:
    """Use the link and open a session; failures count against the client."""
    grant: Grant = _throttled(container().access.redeem, token)
    return grant


@bp.post("/v1/workers/<worker>/access-links")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.AccessLinkIn, arg_name="body")
@bp.output(schemas.AccessLinkOut, status_code=201)
def create_link(worker: str, body: dict[str, Any]) -> dict[str, Any]:
    """A single-use, short-lived link to the worker's portal, to show or send to the worker
    (`worker`: pseudonym or your reference). It opens a session for that worker only."""
    who = principal()
    link = container().access.issue(
        who.tenant_id,
        worker,
        who.key_id,
        timedelta(seconds=body["expires_in"]),
        body["language"],
    )
    base = container().settings.public_url or request.url_root.rstrip("/")
    return {
        "id": link.id,
        "url": f"{base}{url_for('portal.enter')}?link={link.token}",
        "expires_at": format_ts(link.expires_at),
    }


@bp.post("/v1/worker-sessions")
@bp.input(schemas.WorkerSessionIn, arg_name="body")
@bp.output(schemas.WorkerSessionOut, status_code=201)
@bp.doc(
    responses={
        403: "The link is not valid.",
        410: "The link was used already, or has expired.",
        429: "Too many failed attempts from this address; wait Retry-After seconds.",
    }
)
def open_session(body: dict[str, Any]) -> dict[str, Any]:
    """Redeem an access link for a worker token (for a worker's own app). The link is used
    up. Failed attempts from one address are limited; past the limit, 429."""
    grant = redeem(body["link"])
    return {
        "token": grant.token,
        "worker": grant.worker_id,
        "expires_at": format_ts(grant.expires_at),
    }


@bp.delete("/v1/worker-sessions/current")
@bp.auth_required(auth, roles=WORKERS)
@bp.output({}, status_code=204)
def close_session() -> str:
    """Sign out: the worker token stops working at once."""
    container().access.end(principal().key_id)
    return ""
