"""/v1/policies: the published versions of a platform's terms."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from api import schemas
from api.auth import ANY_ROLE, auth, principal
from api.deps import container, session
from ledger.clock import format_ts
from ledger.models import Policy

bp = APIBlueprint("policies", __name__, url_prefix="/v1/policies", tag="Policies")


def _render(policy: Policy) -> dict[str, Any]:
    return {
        "version": policy.version,
        "url": policy.url,
        "purposes": policy.purposes,
        "published_at": format_ts(policy.published_at),
        "log_index": policy.log_index,
    }


@bp.post("")
@bp.auth_required(auth, roles=["platform", "admin"])
@bp.input(schemas.PolicyIn, arg_name="body")
@bp.output(schemas.PolicyOut, status_code=201)
def publish(body: dict[str, Any]) -> dict[str, Any]:
    """Publish a policy version. Consents under it may ask only for its purposes; consents
    under older versions do not cover purposes it adds until the worker renews them."""
    return _render(container().policies.publish(principal().tenant_id, **body))


@bp.get("")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.output(schemas.PolicyList)
def index() -> dict[str, Any]:
    return {
        "policies": [
            _render(p) for p in container().policies.list(session(), principal().tenant_id)
        ]
    }
