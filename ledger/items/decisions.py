"""The use check: may this item be used for this purpose by this recipient? Deny by default.

An item is allowed only when it is active and within its retention window, and the consent
in force for every clip it descends from (the latest amendment of the consent the clip was
registered under) covers the purpose, the item's data categories and the recipient, with
nothing of it withdrawn. A clip whose consent does not cover faces is never released itself
(`redaction_required`): only copies derived from it with the faces removed are. Each
decision is taken under the log's lock, so a withdrawal committed before it always counts,
and each is on the log with its reasons.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.consent.consents import ConsentStatus, latest_amendment
from ledger.consent.vocabulary import PARTY_PATTERN, PLATFORM, PURPOSES
from ledger.errors import InvalidRequest, NotFound
from ledger.ids import new_id
from ledger.items.items import ItemKind, ItemStatus, StoredContent
from ledger.log.appender import Appended, Appender, LogWriter
from ledger.log.entries import ID, EntryType, obj, register
from ledger.log.reader import tenant_log_id
from ledger.models import Consent, Item, ItemRoot, Policy, UseDecision, Worker
from ledger.pages import Key, Page, cut, keyset


class Verdict(StrEnum):
    """What a check decides: deny by default, allow only when nothing stands in the way."""

    ALLOW = "allow"
    DENY = "deny"


class Reason(StrEnum):
    """Why a check denies, in the order the reasons are reported. `parent_` reasons are
    those of a derived item whose clip is erased, expired or withdrawn."""

    UNKNOWN_ITEM = "unknown_item"
    ERASED = "erased"
    RETENTION_EXPIRED = "retention_expired"
    NO_CONSENT = "no_consent"
    WITHDRAWN = "withdrawn"
    PARENT_ERASED = "parent_erased"
    PARENT_RETENTION_EXPIRED = "parent_retention_expired"
    PARENT_WITHDRAWN = "parent_withdrawn"
    PURPOSE_NOT_COVERED = "purpose_not_covered"
    RENEWAL_REQUIRED = "renewal_required"
    CATEGORY_NOT_COVERED = "category_not_covered"
    REDACTION_REQUIRED = "redaction_required"
    RECIPIENT_NOT_ALLOWED = "recipient_not_allowed"


# Every reason a check can give, in the order they are reported.
REASONS = tuple(Reason)
_ORDER = {reason: n for n, reason in enumerate(REASONS)}
# A consent that does not let faces be kept releases no original clip, only redacted copies.
REDACT_UNLESS = "face"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_ITEM_ID = re.compile(r"[a-z]{1,8}_[a-z0-9]{8,64}")
MAX_BATCH = 10_000

DECISION_TERMS = {
    "decision": {"enum": [v.value for v in Verdict]},
    "reasons": {"type": "array", "uniqueItems": True, "items": {"enum": [r.value for r in Reason]}},
}
ASKED_TERMS = {
    "purpose": {"enum": list(PURPOSES)},
    "recipient": {"type": "string", "pattern": PARTY_PATTERN},
    "by": {"anyOf": [ID, {"type": "null"}]},
}
ITEM_REF = {"anyOf": [ID, {"type": "null"}]}
USE_DECIDED = register(
    EntryType("use.decided", 1, obj({"item": ITEM_REF, **ASKED_TERMS, **DECISION_TERMS}))
)
USES_DECIDED = register(
    EntryType(
        "uses.decided",
        1,
        obj(
            {
                **ASKED_TERMS,
                "decisions": {"type": "array", "items": obj({"item": ITEM_REF, **DECISION_TERMS})},
            }
        ),
    )
)


@dataclass(frozen=True)
class Decision:
    asked: str  # the id or content hash the caller gave
    item: str | None  # the item it names, None when unknown
    decision: Verdict
    reasons: list[Reason]
    consents: list[str]  # the consents in force that the decision weighed
    log_index: int = -1


@dataclass(frozen=True)
class Release:
    """The answer to a request for an item's bytes: the logged decision, and the bytes
    when it allows the use (None when it refuses)."""

    item: Item
    decision: Decision
    content: Iterator[bytes] | None


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


def _recipient_allowed(consent: _ConsentFacts, recipient: str) -> bool:
    if recipient == PLATFORM or consent.recipients == "any":
        return True
    return consent.recipients == "named_third_parties" and recipient in consent.parties


@dataclass(frozen=True, slots=True)
class _ItemFacts:
    id: str
    kind: str
    active: bool
    delete_after: datetime | None
    categories: frozenset[str]
    roots: tuple[str, ...]  # the clips it descends from (a clip: itself)
    consent: str | None  # clips: the consent it was registered under


@dataclass(frozen=True, slots=True)
class _ConsentFacts:
    id: str
    withdrawn: bool
    purposes: frozenset[str]
    withdrawn_purposes: frozenset[str]
    categories: frozenset[str]
    recipients: str
    parties: frozenset[str]
    policy_version: str
    superseded_by: str | None


@dataclass
class _TenantFacts:
    """What decisions read, kept between batches while the log's epoch and the appender's
    failed-commit count are unchanged: nothing that could change a decision has happened."""

    epoch: int
    failed_commits: int
    items: dict[str, _ItemFacts] = field(default_factory=dict)
    consents: dict[str, _ConsentFacts] = field(default_factory=dict)
    # The consent in force for each consent asked about: fixed while the cache lives, as an
    # amendment bumps the epoch.
    in_force: dict[str, _ConsentFacts] = field(default_factory=dict)
    policies: list[tuple[str, frozenset[str]]] | None = None


MAX_CACHED_ITEMS = 200_000


class _Facts:
    """Loads the facts for a set of asked items into the tenant's cache, in a few queries."""

    def __init__(self, session: Session, tenant_id: str, cache: _TenantFacts) -> None:
        self.session, self.tenant_id, self.cache = session, tenant_id, cache

    def resolve(self, asked: list[str]) -> list[tuple[str, str | None]]:
        parsed = [_parse(a) for a in asked]
        hashes = {v for v in parsed if isinstance(v, bytes)}
        by_hash: dict[bytes | None, str] = {}
        if hashes:
            query = select(Item.sha256, Item.id).where(
                Item.tenant_id == self.tenant_id, Item.sha256.in_(hashes)
            )
            by_hash = {sha: item_id for sha, item_id in self.session.execute(query)}
        ids = [by_hash.get(v) if isinstance(v, bytes) else v for v in parsed]
        self._load_items({i for i in ids if i is not None})
        return [(a, i if i in self.cache.items else None) for a, i in zip(asked, ids, strict=True)]

    def _load_items(self, ids: set[str]) -> None:
        items = self.cache.items
        wanted = ids - items.keys()
        if not wanted:
            return
        if len(items) + len(wanted) > MAX_CACHED_ITEMS:
            items.clear()
            wanted = set(ids)
        rows = self.session.execute(
            select(
                Item.id,
                Item.kind,
                Item.status,
                Item.delete_after,
                Item.data_categories,
                Item.consent_id,
            ).where(Item.tenant_id == self.tenant_id, Item.id.in_(wanted))
        ).all()
        derived = [row.id for row in rows if row.kind != ItemKind.CLIP]
        roots: dict[str, list[str]] = {}
        if derived:
            for item_id, clip_id in self.session.execute(
                select(ItemRoot.item_id, ItemRoot.clip_id).where(ItemRoot.item_id.in_(derived))
            ):
                roots.setdefault(item_id, []).append(clip_id)
        for row in rows:
            items[row.id] = _ItemFacts(
                row.id,
                row.kind,
                row.status == ItemStatus.ACTIVE,
                row.delete_after,
                frozenset(row.data_categories),
                tuple(sorted(roots.get(row.id, []))) if row.kind != ItemKind.CLIP else (row.id,),
                row.consent_id,
            )
        clips = {c for row in rows for c in items[row.id].roots} - items.keys()
        if clips:
            self._load_items(clips)
        self._load_consents({f.consent for f in items.values() if f.consent})

    def _load_consents(self, ids: set[str]) -> None:
        consents = self.cache.consents
        wanted = ids - consents.keys()
        while wanted:
            for c in self.session.scalars(select(Consent).where(Consent.id.in_(wanted))):
                terms = c.terms
                consents[c.id] = _ConsentFacts(
                    c.id,
                    c.status == ConsentStatus.WITHDRAWN,
                    frozenset(terms["purposes"]),
                    frozenset(c.withdrawn_purposes),
                    frozenset(terms["data_categories"]),
                    terms["recipients"],
                    frozenset(terms.get("parties") or ()),
                    c.policy_version,
                    c.superseded_by,
                )
            wanted = {
                c.superseded_by for c in consents.values() if c.superseded_by
            } - consents.keys()

    def in_force(self, consent_id: str) -> _ConsentFacts:
        """The consent in force for a clip's consent, from the cache: `_load_consents` has
        loaded every amendment."""
        found = self.cache.in_force.get(consent_id)
        if found is None:
            latest = latest_amendment(consent_id, self._superseded_by)
            found = self.cache.in_force[consent_id] = self.cache.consents[latest]
        return found

    def _superseded_by(self, consent_id: str) -> str | None:
        return self.cache.consents[consent_id].superseded_by

    def renewable(self, consent: _ConsentFacts, purpose: str) -> bool:
        """Does a policy version other than the consent's ask for this purpose?"""
        if self.cache.policies is None:
            self.cache.policies = [
                (version, frozenset(purposes))
                for version, purposes in self.session.execute(
                    select(Policy.version, Policy.purposes).where(
                        Policy.tenant_id == self.tenant_id
                    )
                )
            ]
        return any(
            version != consent.policy_version and purpose in purposes
            for version, purposes in self.cache.policies
        )

    def decide(
        self, asked: str, item_id: str | None, purpose: str, recipient: str, now: datetime
    ) -> Decision:
        if item_id is None:
            return Decision(asked, None, Verdict.DENY, [Reason.UNKNOWN_ITEM], [])
        items = self.cache.items
        item = items[item_id]
        reasons: set[Reason] = set()
        basis: set[str] = set()
        if not item.active:
            reasons.add(Reason.ERASED)
        elif item.delete_after is not None and item.delete_after <= now:
            reasons.add(Reason.RETENTION_EXPIRED)
        clip_itself = item.kind == ItemKind.CLIP  # else the consents weighed are its clips'
        if not item.roots:
            reasons.add(Reason.NO_CONSENT)
        for clip in (items[c] for c in item.roots):
            if clip is not item:
                if not clip.active:
                    reasons.add(Reason.PARENT_ERASED)
                elif clip.delete_after is not None and clip.delete_after <= now:
                    reasons.add(Reason.PARENT_RETENTION_EXPIRED)
            if clip.consent is None:
                reasons.add(Reason.NO_CONSENT)
                continue
            consent = self.in_force(clip.consent)
            basis.add(consent.id)
            if consent.withdrawn or purpose in consent.withdrawn_purposes:
                reasons.add(Reason.WITHDRAWN if clip_itself else Reason.PARENT_WITHDRAWN)
            elif purpose not in consent.purposes:
                reasons.add(Reason.PURPOSE_NOT_COVERED)
                if self.renewable(consent, purpose):
                    reasons.add(Reason.RENEWAL_REQUIRED)
            if not item.categories <= consent.categories:
                reasons.add(Reason.CATEGORY_NOT_COVERED)
            if clip_itself and REDACT_UNLESS not in consent.categories:
                reasons.add(Reason.REDACTION_REQUIRED)
            if not _recipient_allowed(consent, recipient):
                reasons.add(Reason.RECIPIENT_NOT_ALLOWED)
        ordered = sorted(reasons, key=_ORDER.__getitem__)
        verdict = Verdict.DENY if ordered else Verdict.ALLOW
        return Decision(asked, item.id, verdict, ordered, sorted(basis))


# Appends the entry holding the decisions: (writer, log, asked terms, decisions) -> the entry.
Record = Callable[[LogWriter, str, dict[str, Any], list[Decision]], Appended]


def decisions_data(decided: list[Decision]) -> list[dict[str, Any]]:
    return [{"item": d.item, "decision": d.decision, "reasons": d.reasons} for d in decided]


def _record_one(
    writer: LogWriter, log_id: str, asked: dict[str, Any], decided: list[Decision]
) -> Appended:
    d = decided[0]
    data = {**asked, "item": d.item, "decision": d.decision, "reasons": d.reasons}
    return writer.append(log_id, "use.decided", data, subject=d.item)


def _record_batch(
    writer: LogWriter, log_id: str, asked: dict[str, Any], decided: list[Decision]
) -> Appended:
    return writer.append(log_id, "uses.decided", {**asked, "decisions": decisions_data(decided)})


class CheckService:
    def __init__(self, appender: Appender) -> None:
        self.appender = appender
        self._facts: dict[str, _TenantFacts] = {}  # used only by the appender's leader

    def _cache(self, writer: LogWriter, log_id: str, tenant_id: str) -> _TenantFacts:
        epoch, failed = writer.epoch(log_id), self.appender.failed_commits
        cache = self._facts.get(tenant_id)
        if cache is None or cache.epoch != epoch or cache.failed_commits != failed:
            cache = self._facts[tenant_id] = _TenantFacts(epoch, failed)
        return cache

    def check(
        self, tenant_id: str, asked: str, purpose: str, recipient: str, by: str | None
    ) -> Decision:
        """One item: one `use.decided` entry."""
        return self.decide_and_record(tenant_id, [asked], purpose, recipient, by, _record_one)[0]

    def check_batch(
        self, tenant_id: str, asked: list[str], purpose: str, recipient: str, by: str | None
    ) -> list[Decision]:
        """Many items, one purpose: one `uses.decided` entry holding every decision."""
        return self.decide_and_record(tenant_id, asked, purpose, recipient, by, _record_batch)

    def release(
        self, stored: StoredContent, purpose: str, recipient: str, by: str | None
    ) -> Release:
        """An item's bytes, only to a use that its check (logged, as any check) allows. The
        first chunk is read before this returns, so that a damaged object fails here, before
        any byte is sent."""
        item = stored.item
        decision = self.check(item.tenant_id, item.id, purpose, recipient, by)
        if decision.decision != Verdict.ALLOW:
            return Release(item, decision, None)
        chunks = stored.read()
        first = next(chunks, b"")

        def content() -> Iterator[bytes]:
            yield first
            yield from chunks

        return Release(item, decision, content())

    @staticmethod
    def evaluate(
        session: Session,
        tenant_id: str,
        item_ids: list[str],
        purpose: str,
        recipient: str,
        now: datetime,
    ) -> list[Decision]:
        """What checks would answer now, recorded nowhere: for re-checking a manifest."""
        facts = _Facts(session, tenant_id, _TenantFacts(epoch=-1, failed_commits=-1))
        return [
            facts.decide(a, item_id, purpose, recipient, now)
            for a, item_id in facts.resolve(item_ids)
        ]

    def decide_and_record(
        self,
        tenant_id: str,
        asked: list[str],
        purpose: str,
        recipient: str,
        by: str | None,
        record: Record,
    ) -> list[Decision]:
        """Decide every item under the log's lock and let `record` append the entry that holds
        the decisions (and write what goes with it) in the same unit; each decision is also
        a row of the record of uses, pointing at that entry."""
        if not 0 < len(asked) <= MAX_BATCH:
            raise InvalidRequest(f"items must list 1 to {MAX_BATCH} items", "items")
        _check_terms(purpose, recipient)
        for a in asked:
            _parse(a)
        log_id = tenant_log_id(self.appender.db, tenant_id)

        def work(writer: LogWriter) -> list[Decision]:
            now = writer.now()
            facts = _Facts(writer.session, tenant_id, self._cache(writer, log_id, tenant_id))
            decided = [
                facts.decide(a, item_id, purpose, recipient, now)
                for a, item_id in facts.resolve(asked)
            ]
            asked_terms = {"purpose": purpose, "recipient": recipient, "by": by}
            entry = record(writer, log_id, asked_terms, decided)
            writer.insert_later(
                UseDecision,
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

        return self.appender.run([log_id], work, savepoint=False)

    def uses(
        self,
        session: Session,
        tenant_id: str,
        worker: str,
        after: Key | None = None,
        limit: int = 100,
    ) -> tuple[str, Page[Use]]:
        """Allowed uses of any item descending from the worker's clips, oldest first, `limit`
        at a time after the key `after`. `worker` is the worker's pseudonym or the platform's
        reference."""
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
                UseDecision.decision == Verdict.ALLOW,
                UseDecision.item_id.in_(items),
            )
        )
        order = (UseDecision.log_index, UseDecision.id)
        uses = [
            Use(
                d.item_id or "", kind, d.purpose, d.recipient, d.at, d.log_index, d.api_key_id, d.id
            )
            for d, kind in session.execute(keyset(query, order, after, limit))
        ]
        return found, cut(uses, limit, lambda u: (u.log_index, u.decision_id))
