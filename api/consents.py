"""/v1/consents: consent receipts, amendments and withdrawals."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from api import schemas
from api.auth import WORKER_TOO, WRITERS, WRITERS_AND_WORKER, auth, principal, visible
from api.deps import container, session
from ledger.clock import format_ts
from ledger.consent.consents import Actor, ActorKind, ConsentRequest, purposes_in_force
from ledger.models import Consent, ConsentEvent

bp = APIBlueprint("consents", __name__, url_prefix="/v1/consents", tag="Consents")


def render(consent: Consent, events: list[ConsentEvent]) -> dict[str, Any]:
    return {
        "id": consent.id,
        "worker": consent.worker_id,
        "status": consent.status,
        "purposes_in_force": purposes_in_force(consent),
        "withdrawn_purposes": consent.withdrawn_purposes,
        "given_at": format_ts(consent.given_at),
        "log_index": consent.log_index,
        "receipt": consent.receipt,
        "events": [
            {
                "id": e.id,
                "kind": e.kind,
                "purposes": e.purposes,
                "at": format_ts(e.at),
                "log_index": e.log_index,
                "receipt": e.receipt,
            }
            for e in events
        ],
    }


@bp.post("")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.ConsentIn, arg_name="body")
@bp.output(schemas.ConsentOut, status_code=201)
def give(body: dict[str, Any]) -> dict[str, Any]:
    """Record a consent and return its signed receipt."""
    given = container().consents.give(principal().tenant_id, ConsentRequest(**body))
    return render(given.consent, [given.given])


@bp.get("/<consent_id>")
@bp.auth_required(auth, roles=WORKER_TOO)
@bp.output(schemas.ConsentOut)
def show(consent_id: str) -> dict[str, Any]:
    """A consent, what of it is in force, and its history with every receipt."""
    consent, events = container().consents.get(session(), principal().tenant_id, consent_id)
    visible(consent.worker_id, "consent")
    return render(consent, events)


@bp.post("/<consent_id>/withdraw")
@bp.auth_required(auth, roles=WRITERS_AND_WORKER)
@bp.input(schemas.WithdrawIn, arg_name="body")
@bp.output(schemas.WithdrawalOut)
def withdraw(consent_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Withdraw some purposes, or all when `purposes` is omitted. Effective at once. A
    worker token withdraws its own worker's consents."""
    who = principal()
    actor = (
        Actor(ActorKind.WORKER, who.worker_id)
        if who.worker_id
        else Actor(ActorKind.PLATFORM, who.key_id)
    )
    withdrawal = container().consents.withdraw(
        who.tenant_id, consent_id, body.get("purposes"), actor
    )
    event, consent = withdrawal.event, withdrawal.consent
    return {
        "id": event.id,
        "consent": consent_id,
        "purposes": event.purposes,
        "status": consent.status,
        "purposes_in_force": purposes_in_force(consent),
        "log_index": event.log_index,
        "receipt": event.receipt,
    }
