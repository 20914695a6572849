"""Statements that carry their own proof of being on the log: a log entry's exact bytes,
its index, a signed checkpoint and the entry's RFC 9162 inclusion proof in it. Deletion
certificates, manifests and reports are checked this way, with nothing but the published
key document."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from verify import merkle
from verify.jws import ReceiptError, verify_receipt
from verify.log import keys_from_document
from verify.note import NoteError, parse_checkpoint, verify_note


class AnchorError(ValueError):
    """A statement's entry, checkpoint or inclusion proof that does not check out."""


def verify_anchored(
    entry_b64: str,
    index: int,
    checkpoint: Mapping[str, Any],
    proof_b64: Sequence[str],
    keys_document: Mapping[str, Any],
) -> bytes:
    """Check the checkpoint's signature against the key document, that it states that size
    and root, and that the entry (base64) is at `index` in it; return the entry's bytes."""
    try:
        entry = base64.b64decode(entry_b64, validate=True)
        root = base64.b64decode(checkpoint["root_hash"], validate=True)
        proof = [base64.b64decode(p, validate=True) for p in proof_b64]
        size = int(checkpoint["tree_size"])
        body, _ = verify_note(str(checkpoint["note"]), keys_from_document(keys_document))
        signed = parse_checkpoint(body)
    except NoteError as exc:
        raise AnchorError(f"the checkpoint does not verify: {exc}") from exc
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise AnchorError(f"the entry, checkpoint or proof is garbled: {exc}") from exc
    if signed.size != size or signed.root != root:
        raise AnchorError("the checkpoint note and the statement disagree")
    try:
        merkle.verify_inclusion(merkle.leaf_hash(entry), index, size, proof, root)
    except merkle.ProofError as exc:
        raise AnchorError(f"the entry is not in the checkpoint: {exc}") from exc
    return entry


@dataclass(frozen=True)
class Statement:
    """A signed statement whose entry is proven on the log: its claims and that entry."""

    claims: dict[str, Any]
    entry: dict[str, Any]


def open_statement(
    token: str,
    keys_document: Mapping[str, Any],
    *,
    pointer: str,
    entry_type: str,
    error: type[ValueError],
    what: str,
) -> Statement:
    """Check a JWS statement (statement key) whose claims hold `pointer` ({log, index,
        entry}), `checkpoint` and `inclusion_proof`; return it with its entry, which must be of
        `entry_type` and sit on that log at that index. Problems are raised as `error`, naming
    `what` the statement is."""
    try:
        claims = verify_receipt(token, keys_document.get("keys", []))
    except ReceiptError as exc:
        raise error(str(exc)) from exc
    try:
        logged = claims[pointer]
        index = int(logged["index"])
        raw = verify_anchored(
            logged["entry"], index, claims["checkpoint"], claims["inclusion_proof"], keys_document
        )
    except (KeyError, TypeError, ValueError) as exc:  # AnchorError is a ValueError
        raise error(f"{what}: {exc}") from exc
    try:
        entry = json.loads(raw)
        placed = (
            entry["type"] == entry_type and entry["log"] == logged["log"] and entry["seq"] == index
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise error(f"the entry is not a {entry_type} entry") from exc
    if not placed or not isinstance(entry.get("data"), dict):
        raise error(f"the entry is not a {entry_type} entry")
    return Statement(claims, entry)


def agrees(statement: Statement, check: Any, error: type[ValueError], what: str) -> None:
    """Run `check(claims, data)`; anything it cannot read, or a False, means the statement
    and its entry disagree."""
    try:
        matches = bool(check(statement.claims, statement.entry["data"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise error(f"the entry on the log does not match the {what}: {exc}") from exc
    if not matches:
        raise error(f"the entry on the log does not match the {what}")
