"""/v1/apikeys: a tenant's admin manages its own keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiflask import APIBlueprint

from api import schemas
from api.auth import ADMINS, auth, principal
from api.cursors import Cursor, PageQuery
from api.deps import container

bp = APIBlueprint("apikeys", __name__, url_prefix="/v1/apikeys", tag="API keys")
CURSOR = Cursor("apikeys", datetime, str)


def _ts(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


@bp.post("")
@bp.auth_required(auth, roles=ADMINS)
@bp.input(schemas.ApiKeyIn, arg_name="body")
@bp.output(schemas.ApiKeyOut, status_code=201)
def create(body: dict[str, str]) -> dict[str, Any]:
    """Create a key for this tenant. The key is in the answer once and never again."""
    issued = container().apikeys.create(principal().tenant_id, body["role"])
    return {"id": issued.key_id, "role": issued.role, "api_key": issued.token}


@bp.get("")
@bp.auth_required(auth, roles=ADMINS)
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(schemas.ApiKeyList)
def index(query: dict[str, Any]) -> dict[str, Any]:
    """This tenant's keys (never the keys themselves), oldest first."""
    page = container().apikeys.page(
        principal().tenant_id, CURSOR.decode(query["after"]), query["limit"]
    )
    return {
        "keys": [
            {
                "id": k.id,
                "role": k.role,
                "created_at": _ts(k.created_at),
                "revoked_at": _ts(k.revoked_at),
            }
            for k in page.rows
        ],
        "next": CURSOR.encode(page.next),
    }


@bp.delete("/<key_id>")
@bp.auth_required(auth, roles=ADMINS)
@bp.output({}, status_code=204)
def revoke(key_id: str) -> tuple[str, int]:
    """Revoke a key of this tenant; it stops working at once."""
    container().apikeys.revoke(key_id, principal().tenant_id)
    return "", 204
