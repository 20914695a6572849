"""/v1/policies: the published versions of a platform's terms."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiflask import APIBlueprint

from api import schemas
from api.auth import ANY_ROLE, WRITERS, auth, principal
from api.cursors import Cursor, PageQuery
from api.deps import container, session
from ledger.clock import format_ts
from ledger.models import Policy

bp = APIBlueprint("policies", __name__, url_prefix="/v1/policies", tag="Policies")
CURSOR = Cursor("policies", datetime, str)


def _render(policy: Policy) -> dict[str, Any]:
    return {
        "version": policy.version,
        "url": policy.url,
        "purposes": policy.purposes,
        "published_at": format_ts(policy.published_at),
        "log_index": policy.log_index,
    }


@bp.post("")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.PolicyIn, arg_name="body")
@bp.output(schemas.PolicyOut, status_code=201)
def publish(body: dict[str, Any]) -> dict[str, Any]:
    """Publish a policy version. Consents under it may ask only for its purposes; consents
    under older versions do not cover purposes it adds until the worker renews them."""
    return _render(container().policies.publish(principal().tenant_id, **body))


@bp.get("")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(schemas.PolicyList)
def index(query: dict[str, Any]) -> dict[str, Any]:
    """The published versions, in the order they were published."""
    page = container().policies.page(
        session(), principal().tenant_id, CURSOR.decode(query["after"]), query["limit"]
    )
    return {"policies": [_render(p) for p in page.rows], "next": CURSOR.encode(page.next)}
