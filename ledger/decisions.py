"""The use check: may this item be used for this purpose by this recipient? Deny by default.

An item is allowed only when it is active and within its retention window, and the consent
in force for every clip it descends from (the latest amendment of the consent the clip was
registered under) covers the purpose, the item's data categories and the recipient, with
nothing of it withdrawn. Each decision is taken under the log's lock, so a withdrawal
committed before it always counts, and each is on the log with its reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, tuple_
from sqlalchemy.orm import Session

from ledger.appender import Appender, LogWriter
from ledger.entries import ID, EntryType, obj, register
from ledger.errors import InvalidRequest, NotFound
from ledger.ids import new_id
from ledger.logs import tenant_log_id
from ledger.models import Consent, Item, ItemRoot, Policy, UseDecision, Worker
from ledger.vocabulary import PARTY_PATTERN, PLATFORM, PURPOSES

# Every reason a check can give, in the order they are reported.
REASONS = (
    "unknown_item",
    "erased",
    "retention_expired",
    "no_consent",
    "withdrawn",
    "parent_erased",
    "parent_retention_expired",
    "parent_withdrawn",
    "purpose_not_covered",
    "renewal_required",
    "category_not_covered",
    "recipient_not_allowed",
)
_ORDER = {reason: n for n, reason in enumerate(REASONS)}
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_ITEM_ID = re.compile(r"[a-z]{1,8}_[a-z0-9]{8,64}")
MAX_BATCH = 10_000

_DECISION = {
    "decision": {"enum": ["allow", "deny"]},
    "reasons": {"type": "array", "uniqueItems": True, "items": {"enum": list(REASONS)}},
}
_ASKED = {
    "purpose": {"enum": list(PURPOSES)},
    "recipient": {"type": "string", "pattern": PARTY_PATTERN},
    "by": {"anyOf": [ID, {"type": "null"}]},
}
_ITEM = {"anyOf": [ID, {"type": "null"}]}
USE_DECIDED = register(EntryType("use.decided", 1, obj({"item": _ITEM, **_ASKED, **_DECISION})))
USES_DECIDED = register(
    EntryType(
        "uses.decided",
        1,
        obj(
            {
                **_ASKED,
                "decisions": {"type": "array", "items": obj({"item": _ITEM, **_DECISION})},
            }
        ),
    )
)


@dataclass(frozen=True)
class Decision:
    asked: str  # the id or content hash the caller gave
    item: str | None  # the item it names, None when unknown
    decision: str
    reasons: list[str]
    consents: list[str]  # the consents in force that the decision weighed
    log_index: int = -1


@dataclass(frozen=True)
class Use:
    item: str
    kind: str
    purpose: str
    recipient: str
    at: datetime
    log_index: int
    by: str | None
    decision_id: str


def _parse(asked: str) -> str | bytes:
    """An item id stays a str; a content hash becomes its 32 bytes."""
    if _HEX64.fullmatch(asked):
        return bytes.fromhex(asked)
    if _ITEM_ID.fullmatch(asked):
        return asked
    raise InvalidRequest(
        f"{asked[:80]!r} is neither an item id (such as clp_...) nor a 64-hex SHA-256", "item"
    )


def _check_terms(purpose: str, recipient: str) -> None:
    if purpose not in PURPOSES:
        raise InvalidRequest(f"unknown purpose; use one of {', '.join(PURPOSES)}", "purpose")
    if not re.fullmatch(PARTY_PATTERN, recipient):
        raise InvalidRequest(
            f"recipient is {PLATFORM!r} or the slug of a named party, such as acme-robotics",
            "recipient",
        )


def _recipient_allowed(terms: dict[str, object], recipient: str) -> bool:
    kind = terms["recipients"]
    if recipient == PLATFORM or kind == "any":
        return True
    parties = terms.get("parties") or []
    return kind == "named_third_parties" and isinstance(parties, list) and recipient in parties


class _Snapshot:
    """Everything the decisions for a set of items need, read in a handful of queries."""

    def __init__(self, session: Session, tenant_id: str, asked: list[str]) -> None:
        self.session = session
        parsed = [_parse(a) for a in asked]
        ids = {v for v in parsed if isinstance(v, str)}
        hashes = {v for v in parsed if isinstance(v, bytes)}
        found: list[Item] = []
        if ids:
            found += session.scalars(
                select(Item).where(Item.tenant_id == tenant_id, Item.id.in_(ids))
            ).all()
        if hashes:
            found += session.scalars(
                select(Item).where(Item.tenant_id == tenant_id, Item.sha256.in_(hashes))
            ).all()
        self.items = {item.id: item for item in found}
        by_hash = {item.sha256: item.id for item in found if item.sha256 is not None}
        self.resolved = [
            (a, by_hash.get(v) if isinstance(v, bytes) else (v if v in self.items else None))
            for a, v in zip(asked, parsed, strict=True)
        ]
        self.roots: dict[str, list[str]] = {}
        derived = [i.id for i in found if i.kind != "clip"]
        for item in found:
            if item.kind == "clip":
                self.roots[item.id] = [item.id]
        if derived:
            for item_id, clip_id in session.execute(
                select(ItemRoot.item_id, ItemRoot.clip_id).where(ItemRoot.item_id.in_(derived))
            ):
                self.roots.setdefault(item_id, []).append(clip_id)
        wanted = {c for clips in self.roots.values() for c in clips} - set(self.items)
        if wanted:
            for clip in session.scalars(select(Item).where(Item.id.in_(wanted))):
                self.items[clip.id] = clip
        self.consents: dict[str, Consent] = {}
        self._load_consents({i.consent_id for i in self.items.values() if i.consent_id})
        self._policies: list[Policy] | None = None
        self.tenant_id = tenant_id

    def _load_consents(self, ids: set[str]) -> None:
        while ids:
            rows = self.session.scalars(select(Consent).where(Consent.id.in_(ids))).all()
            self.consents.update((c.id, c) for c in rows)
            ids = {c.superseded_by for c in rows if c.superseded_by} - set(self.consents)

    def in_force(self, consent_id: str) -> Consent:
        consent = self.consents[consent_id]
        seen = {consent.id}
        while consent.superseded_by and consent.superseded_by not in seen:
            consent = self.consents[consent.superseded_by]
            seen.add(consent.id)
        return consent

    def renewable(self, consent: Consent, purpose: str) -> bool:
        """Does a policy version other than the consent's ask for this purpose?"""
        if self._policies is None:
            self._policies = list(
                self.session.scalars(select(Policy).where(Policy.tenant_id == self.tenant_id))
            )
        return any(
            p.version != consent.policy_version and purpose in p.purposes for p in self._policies
        )

    def decide(
        self, asked: str, item_id: str | None, purpose: str, recipient: str, now: datetime
    ) -> Decision:
        if item_id is None:
            return Decision(asked, None, "deny", ["unknown_item"], [])
        item = self.items[item_id]
        reasons: set[str] = set()
        basis: set[str] = set()
        if item.status != "active":
            reasons.add("erased")
        elif item.delete_after is not None and item.delete_after <= now:
            reasons.add("retention_expired")
        prefix = "" if item.kind == "clip" else "parent_"
        roots = [self.items[c] for c in self.roots.get(item.id, []) if c in self.items]
        if not roots:
            reasons.add("no_consent")
        for clip in roots:
            if clip is not item:
                if clip.status != "active":
                    reasons.add("parent_erased")
                elif clip.delete_after is not None and clip.delete_after <= now:
                    reasons.add("parent_retention_expired")
            if clip.consent_id is None or clip.consent_id not in self.consents:
                reasons.add("no_consent")
                continue
            consent = self.in_force(clip.consent_id)
            basis.add(consent.id)
            terms = consent.terms
            if consent.status == "withdrawn" or purpose in consent.withdrawn_purposes:
                reasons.add(prefix + "withdrawn")
            elif purpose not in terms["purposes"]:
                reasons.add("purpose_not_covered")
                if self.renewable(consent, purpose):
                    reasons.add("renewal_required")
            if not set(item.data_categories) <= set(terms["data_categories"]):
                reasons.add("category_not_covered")
            if not _recipient_allowed(terms, recipient):
                reasons.add("recipient_not_allowed")
        ordered = sorted(reasons, key=_ORDER.__getitem__)
        return Decision(asked, item.id, "deny" if ordered else "allow", ordered, sorted(basis))


class CheckService:
    def __init__(self, appender: Appender) -> None:
        self.appender = appender

    def check(
        self, tenant_id: str, asked: str, purpose: str, recipient: str, by: str | None
    ) -> Decision:
        """One item: one `use.decided` entry."""
        return self._run(tenant_id, [asked], purpose, recipient, by, batch=False)[0]

    def check_batch(
        self, tenant_id: str, asked: list[str], purpose: str, recipient: str, by: str | None
    ) -> list[Decision]:
        """Many items, one purpose: one `uses.decided` entry holding every decision."""
        if not 0 < len(asked) <= MAX_BATCH:
            raise InvalidRequest(f"items must list 1 to {MAX_BATCH} items", "items")
        return self._run(tenant_id, asked, purpose, recipient, by, batch=True)

    def _run(
        self,
        tenant_id: str,
        asked: list[str],
        purpose: str,
        recipient: str,
        by: str | None,
        *,
        batch: bool,
    ) -> list[Decision]:
        _check_terms(purpose, recipient)
        for a in asked:
            _parse(a)
        log_id = tenant_log_id(self.appender.db, tenant_id)

        def work(writer: LogWriter) -> list[Decision]:
            now = writer.now()
            snapshot = _Snapshot(writer.session, tenant_id, asked)
            decided = [
                snapshot.decide(a, item_id, purpose, recipient, now)
                for a, item_id in snapshot.resolved
            ]
            asked_terms = {"purpose": purpose, "recipient": recipient, "by": by}
            if batch:
                entry = writer.append(
                    log_id,
                    "uses.decided",
                    {
                        **asked_terms,
                        "decisions": [
                            {"item": d.item, "decision": d.decision, "reasons": d.reasons}
                            for d in decided
                        ],
                    },
                )
            else:
                d = decided[0]
                entry = writer.append(
                    log_id,
                    "use.decided",
                    {**asked_terms, "item": d.item, "decision": d.decision, "reasons": d.reasons},
                    subject=d.item,
                )
            writer.session.execute(
                insert(UseDecision),
                [
                    {
                        "id": new_id("use"),
                        "tenant_id": tenant_id,
                        "item_id": d.item,
                        "purpose": purpose,
                        "recipient": recipient,
                        "decision": d.decision,
                        "reasons": d.reasons,
                        "api_key_id": by,
                        "at": now,
                        "log_index": entry.index,
                    }
                    for d in decided
                ],
            )
            return [
                Decision(d.asked, d.item, d.decision, d.reasons, d.consents, entry.index)
                for d in decided
            ]

        return self.appender.run([log_id], work)

    def uses(
        self,
        session: Session,
        tenant_id: str,
        worker: str,
        after: tuple[int, str] | None = None,
        limit: int = 100,
    ) -> tuple[str, list[Use]]:
        """Allowed uses of any item descending from the worker's clips, oldest first.
        `worker` is the worker's pseudonym or the platform's reference."""
        found = session.scalar(
            select(Worker.id).where(
                Worker.tenant_id == tenant_id, (Worker.id == worker) | (Worker.ref == worker)
            )
        )
        if found is None:
            raise NotFound("worker")
        clips = select(Item.id).where(Item.worker_id == found)
        items = select(ItemRoot.item_id).where(ItemRoot.clip_id.in_(clips))
        query = (
            select(UseDecision, Item.kind)
            .join(Item, Item.id == UseDecision.item_id)
            .where(
                UseDecision.tenant_id == tenant_id,
                UseDecision.decision == "allow",
                UseDecision.item_id.in_(items),
            )
            .order_by(UseDecision.log_index, UseDecision.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(UseDecision.log_index, UseDecision.id) > tuple_(*after))
        return found, [
            Use(
                d.item_id or "", kind, d.purpose, d.recipient, d.at, d.log_index, d.api_key_id, d.id
            )
            for d, kind in session.execute(query)
        ]
