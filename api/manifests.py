"""/v1/manifests: consent snapshots of training sets, and what became of them since."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiflask import APIBlueprint

from api import schemas
from api.auth import ANY_ROLE, WRITERS, auth, principal
from api.cursors import Cursor, PageQuery
from api.deps import container, session
from api.metrics import metrics
from ledger.clock import format_ts
from ledger.models import Manifest
from retention.manifests import status as manifest_status
from verify.jws import own_claims

bp = APIBlueprint("manifests", __name__, url_prefix="/v1/manifests", tag="Manifests")
CURSOR = Cursor("manifests", datetime, str)


def summary(manifest: Manifest) -> dict[str, Any]:
    return {
        "id": manifest.id,
        "name": manifest.name,
        "purpose": manifest.purpose,
        "recipient": manifest.recipient,
        "issued_at": format_ts(manifest.issued_at),
        "log_index": manifest.log_index,
        "allowed": manifest.allowed,
        "refused": manifest.refused,
        "tainted_since": format_ts(manifest.tainted_at) if manifest.tainted_at else None,
    }


def render(manifest: Manifest, checkpoint: dict[str, Any] | None) -> dict[str, Any]:
    return {
        **summary(manifest),
        "items": manifest.content["items"],
        "refused_items": manifest.content["refused"],
        "erased_items": manifest.content.get("erased", []),
        "checkpoint": checkpoint,
        "manifest": manifest.token,
    }


def _checkpoint(token: str | None) -> dict[str, Any] | None:
    """The checkpoint the signed manifest carries (it is the one that covers the entry)."""
    if token is None:
        return None
    claims = own_claims(token)
    return dict(claims["checkpoint"])


@bp.post("")
@bp.auth_required(auth, roles=WRITERS)
@bp.input(schemas.ManifestIn, arg_name="body")
@bp.output(schemas.ManifestOut, status_code=201)
def issue(body: dict[str, Any]) -> dict[str, Any]:
    """Check every item of a training set for one purpose (one log entry, each allowed item
    recorded as a use) and return the signed manifest: the items allowed with their content
    hashes and the hashes of the consent receipts that covered them, the items refused with
    reasons, the log index and a signed checkpoint covering it."""
    who = principal()
    issued = container().manifests.issue(
        who.tenant_id, body["items"], body["purpose"], body["recipient"], body["name"], who.key_id
    )
    metrics().decided(issued.decisions)
    return render(issued.manifest, _checkpoint(issued.manifest.token))


@bp.get("")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(schemas.ManifestList)
def list_manifests(query: dict[str, Any]) -> dict[str, Any]:
    """The tenant's manifests, oldest first, with when each was first seen tainted."""
    page = container().manifests.page(
        session(), principal().tenant_id, CURSOR.decode(query["after"]), query["limit"]
    )
    return {"manifests": [summary(m) for m in page.rows], "next": CURSOR.encode(page.next)}


@bp.get("/<manifest_id>")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.output(schemas.ManifestOut)
def show(manifest_id: str) -> dict[str, Any]:
    """A manifest as issued, with its signed form."""
    manifest = container().manifests.get(session(), principal().tenant_id, manifest_id)
    return render(manifest, _checkpoint(manifest.token))


@bp.get("/<manifest_id>/status")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.output(schemas.ManifestStatusOut)
def status(manifest_id: str) -> dict[str, Any]:
    """Re-check a manifest's items now: which were withdrawn, erased or expired since it was
    issued (or are no longer covered after an amendment), each with the date; a manifest with
    any is tainted from the earliest, and so is every model trained on it."""
    now = container().clock.now()
    found = manifest_status(
        session(), container().manifests, principal().tenant_id, manifest_id, now
    )
    since = found.tainted_since
    return {
        "id": manifest_id,
        "checked_at": format_ts(now),
        "items": found.items,
        "tainted": bool(found.affected),
        "tainted_since": format_ts(since) if since else None,
        "affected": [a.render() for a in found.affected],
    }
