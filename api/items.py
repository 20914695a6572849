"""/v1/clips, /v1/derivations and /v1/items: provenance of clips and what is derived from them."""

from __future__ import annotations

import base64
from typing import Any

from apiflask import APIBlueprint
from flask import Response, request

from api import schemas
from api.auth import ANY_ROLE, WRITERS, auth, principal
from api.deps import container, session
from api.errors import problem
from api.openapi import answers, error_answer, file_answer, json_answer
from ledger.clock import format_ts
from ledger.items.items import (
    Activity,
    ClipRequest,
    DerivationRequest,
    Registered,
    StoredContent,
)
from ledger.models import Item

bp = APIBlueprint("items", __name__, tag="Provenance")
ERASED = "The clip was erased: its content is gone."
SAME_CONTENT = answers(
    {200: json_answer("ItemOut", "This content was registered before: that item, unchanged.")}
)


def render(item: Item, created: bool | None = None) -> dict[str, Any]:
    rendered = {
        "id": item.id,
        "kind": item.kind,
        "status": item.status,
        "sha256": item.sha256.hex() if item.sha256 else None,
        "worker": item.worker_id,
        "consent": item.consent_id,
        "data_categories": item.data_categories,
        "delete_after": format_ts(item.delete_after) if item.delete_after else None,
        "created_at": format_ts(item.created_at),
        "log_index": item.log_index,
        "content_stored": item.content_size is not None,
        "content_size": item.content_size,
    }
    if created is not None:  # registration answers say whether this call made the item
        rendered["created"] = created
    return rendered


def _registered(registered: Registered) -> tuple[dict[str, Any], int]:
    return render(registered.item, registered.created), 201 if registered.created else 200


@bp.post("/v1/clips")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.ClipIn, arg_name="body")
@bp.output(schemas.ItemOut, status_code=201)
@bp.doc(responses=SAME_CONTENT)
def register_clip(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Register a clip by its content hash under a consent. The same content again answers
    200 with the same clip."""
    return _registered(container().items.register_clip(principal().tenant_id, ClipRequest(**body)))


@bp.get("/v1/clips/<item_id>")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.output(schemas.ItemOut)
def show_clip(item_id: str) -> dict[str, Any]:
    return render(container().items.get(session(), principal().tenant_id, item_id))


@bp.put("/v1/clips/<item_id>/content")
@bp.auth_required(auth, roles=WRITERS)
@bp.output(schemas.ItemOut)
@bp.doc(
    description="Raw bytes, streamed into the vault; they must hash to the clip's sha256. When "
    "the clip's consent does not let faces be kept, a faces redaction is queued at once.",
    responses={410: ERASED},
)
def put_content(item_id: str) -> dict[str, Any]:
    request.max_content_length = container().settings.max_clip_bytes
    stored = container().redactions.store_content(principal().tenant_id, item_id, request.stream)
    return render(stored)


@bp.get("/v1/clips/<item_id>/content")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.ContentQuery, location="query", arg_name="query")
@bp.doc(
    description="The clip's bytes, to a caller whose use check (logged) allows this purpose "
    "and recipient; 403 with the reasons otherwise, 410 once erased.",
    responses=answers(
        {
            200: file_answer("application/octet-stream", "the clip's bytes"),
            403: error_answer("This use is denied; `errors` holds the reasons."),
            410: error_answer(ERASED),
        }
    ),
)
def get_content(item_id: str, query: dict[str, Any]) -> Response:
    # 404 / 410 come before any check.
    return send(container().items.clip_content(session(), principal().tenant_id, item_id), query)


def send(stored: StoredContent, query: dict[str, Any]) -> Response:
    """Stored bytes, to a caller whose use check (logged) allows the purpose and recipient
    asked; 403 with the reasons otherwise."""
    released = container().checks.release(
        stored, query["purpose"], query["recipient"], principal().key_id
    )
    item, decision = released.item, released.decision
    if released.content is None:
        return problem(
            403,
            f"This use is denied: {', '.join(decision.reasons)} (log index {decision.log_index}).",
            errors=[{"field": "purpose", "message": r} for r in decision.reasons],
        )
    assert item.sha256 is not None
    return Response(
        released.content,
        mimetype="application/octet-stream",
        headers={
            "Content-Length": str(item.content_size),
            "Repr-Digest": f"sha-256=:{base64.b64encode(item.sha256).decode()}:",
            "X-Custody-Log-Index": str(decision.log_index),
        },
    )


@bp.post("/v1/derivations")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.DerivationIn, arg_name="body")
@bp.output(schemas.ItemOut, status_code=201)
@bp.doc(responses=SAME_CONTENT)
def derive(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Record an item derived from one or more parents (PROV entity, activity, agent)."""
    derivation = DerivationRequest(**{**body, "activity": Activity(**body["activity"])})
    return _registered(container().items.derive(principal().tenant_id, derivation))


@bp.get("/v1/items/<item_id>")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.output(schemas.ItemOut)
def show_item(item_id: str) -> dict[str, Any]:
    return render(container().items.get(session(), principal().tenant_id, item_id))


@bp.get("/v1/items/<item_id>/lineage")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.output(schemas.LineageOut)
def lineage(item_id: str) -> dict[str, Any]:
    """Every ancestor and descendant of the item, and the derivation edges between them."""
    graph = container().items.lineage(session(), principal().tenant_id, item_id)
    return {
        "item": graph.item.id,
        "nodes": [render(node) for node in graph.nodes],
        "edges": [{"entity": child, "was_derived_from": parent} for parent, child in graph.edges],
    }
