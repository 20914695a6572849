"""/v1/logs: checkpoints and proofs (public), entries and head (the owning tenant's keys)."""

from __future__ import annotations

import base64
from typing import Any

from apiflask import APIBlueprint
from flask import Response

from api import schemas
from api.auth import ANY_ROLE, AUDITORS, auth, principal
from api.deps import container, session
from ledger.log.reader import LogReader
from ledger.log.verification import verify_database

bp = APIBlueprint("logs", __name__, url_prefix="/v1/logs", tag="Logs")


NOTE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "C2SP signed checkpoint note",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@bp.get("/<log>")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.output(schemas.LogHead)
def head(log: str) -> dict[str, Any]:
    """The log's current size and root, and its latest signed checkpoint."""
    reader = LogReader(session())
    current = reader.head(log, principal().tenant_id)
    checkpoints = reader.checkpoints(log, after=current.checkpoint_size - 1, limit=1).rows
    return {
        "log": current.id,
        "origin": current.origin,
        "tree_size": current.size,
        "root_hash": b64(current.root_hash),
        "checkpoint": checkpoints[0].note if checkpoints else None,
    }


@bp.get("/<log>/checkpoint")
@bp.doc(responses=NOTE_RESPONSE)
def checkpoint(log: str) -> Response:
    """The latest signed checkpoint (C2SP tlog-checkpoint as a signed note). Public."""
    note = LogReader(session()).latest_checkpoint(log).note
    return Response(note, mimetype="text/plain", headers={"Cache-Control": "no-cache"})


@bp.get("/<log>/checkpoints")
@bp.input(schemas.CheckpointsQuery, location="query", arg_name="query", unknown=None)
@bp.output(schemas.CheckpointsOut)
def checkpoints(log: str, query: dict[str, int]) -> dict[str, Any]:
    """Every stored checkpoint, oldest first, so that consistency between any two can be
    checked. The cursor is a tree size: `next` is the last one of the page. Public."""
    page = LogReader(session()).checkpoints(log, query["after"], query["limit"])
    return {
        "checkpoints": [
            {
                "tree_size": c.tree_size,
                "root_hash": b64(c.root_hash),
                "created_at": c.created_at.isoformat().replace("+00:00", "Z"),
                "note": c.note,
            }
            for c in page.rows
        ],
        "next": page.next[0] if page.next is not None else None,
    }


@bp.get("/<log>/entries")
@bp.auth_required(auth, roles=ANY_ROLE)
@bp.input(schemas.EntriesQuery, location="query", arg_name="query", unknown=None)
@bp.output(schemas.EntriesOut)
def entries(log: str, query: dict[str, int]) -> dict[str, Any]:
    """Entries [start, end) with their leaf hashes and exact bytes, at most 1000 a page."""
    reader = LogReader(session())
    current = reader.head(log, principal().tenant_id)
    rows = reader.entries(log, query["start"], query["end"])
    last = rows[-1].idx + 1 if rows else query["start"]
    more = last < min(query["end"], current.size)
    return {
        "entries": [
            {"index": e.idx, "leaf_hash": b64(e.leaf_hash), "entry": b64(e.body)} for e in rows
        ],
        "next": last if more else None,
    }


@bp.get("/<log>/proofs/inclusion")
@bp.input(schemas.InclusionQuery, location="query", arg_name="query", unknown=None)
@bp.output(schemas.InclusionOut)
def inclusion(log: str, query: dict[str, int]) -> dict[str, Any]:
    """RFC 9162 inclusion proof of entry `index` in the tree of `tree_size` entries. Public."""
    proof = LogReader(session()).inclusion(log, query["index"], query["tree_size"])
    return {
        "index": proof.index,
        "tree_size": proof.tree_size,
        "leaf_hash": b64(proof.leaf_hash),
        "root_hash": b64(proof.root_hash),
        "proof": [b64(h) for h in proof.proof],
    }


@bp.get("/<log>/proofs/consistency")
@bp.input(schemas.ConsistencyQuery, location="query", arg_name="query", unknown=None)
@bp.output(schemas.ConsistencyOut)
def consistency(log: str, query: dict[str, int]) -> dict[str, Any]:
    """RFC 9162 consistency proof between tree sizes `first` and `second`. Public."""
    proof = LogReader(session()).consistency(log, query["first"], query["second"])
    return {
        "first": proof.first,
        "second": proof.second,
        "first_root": b64(proof.first_root),
        "second_root": b64(proof.second_root),
        "proof": [b64(h) for h in proof.proof],
    }


@bp.get("/<log>/verification")
@bp.auth_required(auth, roles=AUDITORS)
@bp.output(schemas.VerificationOut)
def verification(log: str) -> dict[str, Any]:
    """Run a full verification of this log now: every entry re-hashed, the chain, every
    checkpoint's signature and root, consistency between checkpoints, the head."""
    reader = LogReader(session())
    current = reader.head(log, principal().tenant_id)
    report = verify_database(container().db, current.tenant_id)[0]
    return {
        "log": report.log_id,
        "ok": report.ok,
        "entries": report.entries,
        "checkpoints": report.checkpoints,
        "root_hash": b64(report.root),
        "signed_by": sorted(report.signed_by),
        "error": report.error,
        "bad_index": report.bad_index,
    }
