"""Training-set manifests: a consent snapshot of many items for one purpose.

Issuing one decides every item under the log's lock (like a batch check), appends
`manifest.issued` holding each decision and the SHA-256 of what the manifest lists, and
records each allowed item as a use. The signed manifest (compact JWS, EdDSA, the statement
key) lists the items allowed, each with its content hash and the hashes of the consent
receipts in force that covered it, and the items refused with reasons; it carries the entry's
exact bytes, a signed checkpoint covering it and the RFC 9162 inclusion proof, so that
`verify_manifest` checks it with nothing but the published key document.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.clock import format_ts
from ledger.consent.receipts import sign_receipt
from ledger.errors import InvalidRequest, KeyUnavailable, NotFound, TryLater
from ledger.ids import new_id
from ledger.items.decisions import (
    ASKED_TERMS,
    DECISION_TERMS,
    ITEM_REF,
    CheckService,
    Decision,
    Verdict,
    decisions_data,
)
from ledger.log.appender import Appended, Appender, LogWriter, covering_checkpoint
from ledger.log.entries import ID, EntryType, obj, register
from ledger.log.reader import LogReader, tenant_log_id
from ledger.log.signing import Signer
from ledger.models import Consent, Item, Log, Manifest, ManifestItem
from ledger.pages import Key, Page, cut, keyset
from verify.jws import MANIFEST_TYPE, receipt_hash
from verify.manifests import listed_sha256

MAX_NAME = 200
_IN = 500  # ids per IN (...) list
_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
MANIFEST_ISSUED = register(
    EntryType(
        "manifest.issued",
        1,
        obj(
            {
                "manifest": ID,
                **ASKED_TERMS,
                "decisions": {"type": "array", "items": obj({"item": ITEM_REF, **DECISION_TERMS})},
                "items_sha256": _HEX64,
            }
        ),
    )
)


def _content(session: Session, decided: list[Decision]) -> dict[str, Any]:
    """The items allowed (once each, in the order asked), with content hashes and the hashes
    of the receipts in force that covered them; the items refused, with reasons."""
    allowed = list({d.item: d for d in decided if d.decision == Verdict.ALLOW and d.item}.values())
    hashes = dict(
        session.execute(
            select(Item.id, Item.sha256).where(Item.id.in_([d.item for d in allowed]))
        ).all()
    )
    consent_ids = {c for d in allowed for c in d.consents}
    receipts = dict(
        session.execute(
            select(Consent.id, Consent.receipt).where(Consent.id.in_(consent_ids))
        ).all()
    )
    items = []
    for d in allowed:
        digest = hashes.get(d.item or "")
        assert digest is not None  # an allowed item is active, so it still has its hash
        consents = [{"id": c, "receipt_sha256": receipt_hash(receipts[c])} for c in d.consents]
        items.append({"item": d.item, "sha256": digest.hex(), "consents": consents})
    refused = [
        {"asked": d.asked, "item": d.item, "reasons": d.reasons}
        for d in decided
        if d.decision != Verdict.ALLOW
    ]
    return {"items": items, "refused": refused}


@dataclass(frozen=True)
class Issued:
    manifest: Manifest
    decisions: list[Decision]


class Manifests:
    def __init__(
        self,
        appender: Appender,
        checks: CheckService,
        statement_signer: Callable[[Session], Signer],
        origin: str,
    ) -> None:
        self.appender = appender
        self.checks = checks
        self.statement_signer = statement_signer
        self.origin = origin

    def issue(
        self,
        tenant_id: str,
        asked: list[str],
        purpose: str,
        recipient: str,
        name: str | None,
        by: str | None,
    ) -> Issued:
        """Decide, record and sign. The manifest is issued once its entry commits; if no
        signed checkpoint covers the entry within a few seconds, it is signed when next read."""
        if name is not None and not 0 < len(name) <= MAX_NAME:
            raise InvalidRequest(f"name must be 1 to {MAX_NAME} characters", "name")
        manifest_id = new_id("man")
        made: list[Manifest] = []

        def record(
            writer: LogWriter, log_id: str, terms: dict[str, Any], decided: list[Decision]
        ) -> Appended:
            content = _content(writer.session, decided)
            entry = writer.append(
                log_id,
                "manifest.issued",
                {
                    "manifest": manifest_id,
                    **terms,
                    "decisions": decisions_data(decided),
                    "items_sha256": listed_sha256(content),
                },
            )
            row = {
                "id": manifest_id,
                "tenant_id": tenant_id,
                "name": name,
                "purpose": purpose,
                "recipient": recipient,
                "issued_at": writer.now(),
                "log_index": entry.index,
                "api_key_id": by,
                "allowed": len(content["items"]),
                "refused": len(content["refused"]),
                "content": content,
                "token": None,
                "tainted_at": None,
            }
            writer.insert_later(Manifest, [row])
            writer.insert_later(
                ManifestItem,
                [{"manifest_id": manifest_id, "item_id": i["item"]} for i in content["items"]],
            )
            made.append(Manifest(**row))
            return entry

        decided = self.checks.decide_and_record(tenant_id, asked, purpose, recipient, by, record)
        manifest = made[-1]
        try:
            manifest.token = self.seal(manifest)
        except (TryLater, KeyUnavailable):
            pass  # issued and on the log, which is what counts; `get` signs it later
        return Issued(manifest, decided)

    def seal(self, manifest: Manifest) -> str | None:
        """Sign the manifest with the entry, a checkpoint covering it and the proof; None
        once items of it were erased (see `forget_erased`)."""
        if manifest.content.get("erased"):
            return None
        log_id = tenant_log_id(self.appender.db, manifest.tenant_id)
        found = covering_checkpoint(self.appender, log_id, manifest.log_index + 1)
        with self.appender.db.session() as session:
            reader = LogReader(session)
            entry = reader.entries(log_id, manifest.log_index, manifest.log_index + 1)[0]
            proof = reader.inclusion(log_id, manifest.log_index, found.tree_size)
            signer = self.statement_signer(session)
        claims = {
            "iss": self.origin,
            "manifest": manifest.id,
            "tenant": manifest.tenant_id,
            "name": manifest.name,
            "purpose": manifest.purpose,
            "recipient": manifest.recipient,
            "issued_at": format_ts(manifest.issued_at),
            **manifest.content,
            "entry": {
                "log": log_id,
                "index": manifest.log_index,
                "entry": base64.b64encode(entry.body).decode(),
            },
            "checkpoint": {
                "tree_size": found.tree_size,
                "root_hash": base64.b64encode(found.root_hash).decode(),
                "note": found.note,
            },
            "inclusion_proof": [base64.b64encode(p).decode() for p in proof.proof],
        }
        token = sign_receipt(signer, claims, typ=MANIFEST_TYPE)
        with self.appender.db.write() as session, session.begin():
            session.execute(
                update(Manifest)
                .where(Manifest.id == manifest.id, Manifest.token.is_(None))
                .values(token=token)
            )
        return token

    def get(self, session: Session, tenant_id: str, manifest_id: str) -> Manifest:
        manifest = session.get(Manifest, manifest_id)
        if manifest is None or manifest.tenant_id != tenant_id:
            raise NotFound("manifest", manifest_id)
        if manifest.token is None:
            manifest.token = self.seal(manifest)
        return manifest

    @staticmethod
    def forget_erased(session: Session, item_ids: Sequence[str]) -> int:
        """In the erasure's transaction: the stored manifests listing erased items forget
        those items' content hashes, and their signed form, which holds them (the platform's
        copy still verifies). Returns how many manifests changed."""
        erased = set(item_ids)
        listing: set[str] = set()
        for start in range(0, len(item_ids), _IN):
            listing.update(
                session.scalars(
                    select(ManifestItem.manifest_id).where(
                        ManifestItem.item_id.in_(item_ids[start : start + _IN])
                    )
                )
            )
        for manifest in session.scalars(
            select(Manifest).where(Manifest.id.in_(sorted(listing))).with_for_update()
        ):
            content = json.loads(json.dumps(manifest.content))
            for item in content["items"]:
                if item["item"] in erased:
                    item["sha256"] = None
            gone = {i["item"] for i in content["items"] if i["sha256"] is None}
            content["erased"] = sorted(gone)
            manifest.content, manifest.token = content, None
        return len(listing)

    @staticmethod
    def page(session: Session, tenant_id: str, after: Key | None, limit: int) -> Page[Manifest]:
        """The tenant's manifests, oldest first, `limit` at a time after `after`."""
        query = keyset(
            select(Manifest).where(Manifest.tenant_id == tenant_id),
            (Manifest.issued_at, Manifest.id),
            after,
            limit,
        )
        return cut(session.scalars(query).all(), limit, lambda m: (m.issued_at, m.id))

    @staticmethod
    def epoch(session: Session, tenant_id: str) -> int:
        """The tenant's decision epoch: it moves whenever an earlier decision may turn."""
        return session.scalar(select(Log.epoch).where(Log.tenant_id == tenant_id)) or 0
