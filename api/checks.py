"""/v1/checks: may this item be used for this purpose by this recipient? Deny by default."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, jsonify

from api import schemas
from api.auth import WRITERS, auth, principal
from api.deps import container
from api.metrics import metrics
from ledger.items.decisions import Decision, Verdict

bp = APIBlueprint("checks", __name__, url_prefix="/v1/checks", tag="Use checks")


def _render(decision: Decision) -> dict[str, Any]:
    return {
        "item": decision.item,
        "asked": decision.asked,
        "decision": decision.decision,
        "reasons": decision.reasons,
        "consents": decision.consents,
        "log_index": decision.log_index,
    }


@bp.post("")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.CheckIn, arg_name="body")
@bp.output(schemas.CheckOut)
def check(body: dict[str, Any]) -> Response:
    """Decide one use; the decision and its reasons are a log entry. Unknown items are denied."""
    who = principal()
    decision = container().checks.check(
        who.tenant_id, body["item"], body["purpose"], body["recipient"], who.key_id
    )
    metrics().decided([decision])
    return jsonify(_render(decision))  # the hot path: rendered directly, in the documented shape


@bp.post("/batch")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.BatchCheckIn, arg_name="body")
@bp.output(schemas.BatchCheckOut)
def check_batch(body: dict[str, Any]) -> Response:
    """Decide many items for one purpose, e.g. assembling a training set: one log entry."""
    who = principal()
    decided = container().checks.check_batch(
        who.tenant_id, body["items"], body["purpose"], body["recipient"], who.key_id
    )
    metrics().decided(decided)
    allowed = sum(d.decision == Verdict.ALLOW for d in decided)
    return jsonify(
        {
            "log_index": decided[0].log_index,
            "allowed": allowed,
            "denied": len(decided) - allowed,
            "results": [_render(d) for d in decided],
        }
    )
