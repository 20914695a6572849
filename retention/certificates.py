"""Deletion certificates: compact JWS (EdDSA, the statement key) that say what was erased,
why and when, and carry their own proof that the erasure is on the log.

A certificate holds the tombstone entry's exact bytes, a signed checkpoint of the log and
the RFC 9162 inclusion proof of the tombstone in that checkpoint. `verify_certificate`
checks all of it with nothing but the published key document: the JWS signature (statement
key), the checkpoint's signature (log key), that the tombstone hashes into the checkpoint's
root, and that the tombstone names exactly the certificate's erasure and items; it lives
in the stand-alone verifier, `verify.certificates`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from ledger.clock import format_ts
from ledger.consent.receipts import sign_receipt
from ledger.log.signing import Signer
from retention.models import Erasure
from verify.jws import CERTIFICATE_TYPE


def sign_certificate(
    signer: Signer,
    *,
    origin: str,
    erasure: Erasure,
    items: Sequence[tuple[str, str, bytes]],  # (id, kind, sha256)
    log_id: str,
    entry: bytes,
    note: str,
    tree_size: int,
    root: bytes,
    proof: Sequence[bytes],
    issued_at: str,
) -> str:
    assert erasure.erased_at is not None and erasure.log_index is not None
    claims = {
        "iss": origin,
        "iat": issued_at,
        "certificate": erasure.id,
        "tenant": erasure.tenant_id,
        "worker": erasure.worker_id,
        "reason": erasure.reason,
        "request": erasure.request_id,
        "erased_at": format_ts(erasure.erased_at),
        "key_destroyed": bool(erasure.key_destroyed),
        "items": [{"id": i, "kind": k, "sha256": h.hex()} for i, k, h in sorted(items)],
        "tombstone": {
            "log": log_id,
            "index": erasure.log_index,
            "entry": base64.b64encode(entry).decode(),
        },
        "checkpoint": {
            "tree_size": tree_size,
            "root_hash": base64.b64encode(root).decode(),
            "note": note,
        },
        "inclusion_proof": [base64.b64encode(p).decode() for p in proof],
    }
    return sign_receipt(signer, claims, typ=CERTIFICATE_TYPE)
