"""/v1/webhook-endpoints: where a platform hears about erasures (Standard Webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiflask import APIBlueprint

from api import schemas
from api.auth import ANY_ROLE, WRITERS, auth, principal
from api.cursors import Cursor, PageQuery
from api.deps import container, session
from ledger.clock import format_ts
from retention.models import WebhookEndpoint

bp = APIBlueprint("webhooks", __name__, url_prefix="/v1/webhook-endpoints", tag="Retention")
CURSOR = Cursor("webhook-endpoints", datetime, str)


def render(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"id": endpoint.id, "url": endpoint.url, "created_at": format_ts(endpoint.created_at)}


@bp.post("")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.WebhookEndpointIn, arg_name="body")
@bp.output(schemas.WebhookEndpointOut, status_code=201)
def add(body: dict[str, Any]) -> dict[str, Any]:
    """Register an endpoint (https, or http to this machine). Its `whsec_` signing secret is
    shown once."""
    added = container().webhooks.add(principal().tenant_id, body["url"])
    return {**render(added.endpoint), "secret": added.secret}


@bp.get("")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(schemas.WebhookEndpointList)
def list_endpoints(query: dict[str, Any]) -> dict[str, Any]:
    """The endpoints in use, oldest first."""
    page = container().webhooks.page(
        session(), principal().tenant_id, CURSOR.decode(query["after"]), query["limit"]
    )
    return {"endpoints": [render(e) for e in page.rows], "next": CURSOR.encode(page.next)}


@bp.delete("/<endpoint_id>")
@bp.auth_required(auth, roles=WRITERS)
@bp.output({}, status_code=204)
def remove(endpoint_id: str) -> tuple[str, int]:
    container().webhooks.remove(principal().tenant_id, endpoint_id)
    return "", 204
