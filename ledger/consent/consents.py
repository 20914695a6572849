"""Consent receipts: given, amended and withdrawn, each a signed receipt and a log entry.

A receipt is immutable. An amendment is a new consent that points at the one it replaces
(which becomes `superseded`); a withdrawal is a new record that points at its consent.
Only pseudonyms, vocabulary terms and hashes go on the log; the platform's worker
reference, the policy URL and the receipt itself stay off it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import isodate
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.clock import format_ts
from ledger.consent.receipts import sign_receipt
from ledger.consent.vocabulary import (
    COLLECTION_METHODS,
    DATA_CATEGORIES,
    PARTY_PATTERN,
    PURPOSES,
    RECIPIENT_KINDS,
    terms,
)
from ledger.errors import Conflict, InvalidRequest, NotFound
from ledger.ids import new_id
from ledger.log.appender import Appender, LogWriter
from ledger.log.entries import ID, EntryType, obj, register
from ledger.log.reader import tenant_log_id
from ledger.log.signing import Signer
from ledger.models import Consent, ConsentEvent, Policy, Worker
from ledger.pages import Key, Page, cut, keyset
from verify.jws import receipt_hash

RECEIPT_VERSION = "custody-consent-receipt/1"
WITHDRAWAL_VERSION = "custody-withdrawal-receipt/1"
_TERMS = {"type": "array", "uniqueItems": True, "minItems": 1}
_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


class ConsentStatus(StrEnum):
    """A consent is `active` until an amendment replaces it (`superseded`) or every purpose
    of it is withdrawn (`withdrawn`); a partial withdrawal leaves it active."""

    ACTIVE = "active"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


class ConsentEventKind(StrEnum):
    """A consent's history: given, superseded by an amendment, withdrawn (some or all)."""

    GIVEN = "given"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


class ActorKind(StrEnum):
    """Who withdraws: the platform (through an API key) or the worker (a worker token)."""

    PLATFORM = "platform"
    WORKER = "worker"


CONSENT_GIVEN = register(
    EntryType(
        "consent.given",
        1,
        obj(
            {
                "consent": ID,
                "amends": {"anyOf": [ID, {"type": "null"}]},
                "policy_version": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,40}$"},
                "policy": _HEX64,
                "jurisdiction": {"type": "string", "pattern": "^[A-Z]{2}$"},
                "collection_method": {"enum": list(COLLECTION_METHODS)},
                "purposes": {**_TERMS, "items": {"enum": list(PURPOSES)}},
                "data_categories": {**_TERMS, "items": {"enum": list(DATA_CATEGORIES)}},
                "recipients": {"enum": list(RECIPIENT_KINDS)},
                "parties": {"type": "array", "items": {"type": "string", "pattern": PARTY_PATTERN}},
                "retention": {"type": "string", "maxLength": 40},
                "bystanders_may_appear": {"type": "boolean"},
                "minors_may_appear": {"type": "boolean"},
                "worker_is_minor": {"type": "boolean"},
                "receipt": _HEX64,
            }
        ),
    )
)
CONSENT_WITHDRAWN = register(
    EntryType(
        "consent.withdrawn",
        1,
        obj(
            {
                "consent": ID,
                "purposes": {**_TERMS, "items": {"enum": list(PURPOSES)}},
                "complete": {"type": "boolean"},
                "by": {"enum": [k.value for k in ActorKind]},
                "receipt": _HEX64,
            }
        ),
    )
)


@dataclass(frozen=True)
class ConsentRequest:
    worker: str
    purposes: list[str]
    data_categories: list[str]
    recipients: str
    retention: str
    jurisdiction: str
    collection_method: str
    policy_url: str
    policy_version: str
    parties: list[str] = field(default_factory=list)
    bystanders_may_appear: bool = False
    bystanders_consented: bool = False
    minors_may_appear: bool = False
    minors_guardian_consent: bool = False
    worker_is_minor: bool = False
    guardian: str | None = None
    amends: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who acts: the platform (through one of its API keys) or the worker themselves (through
    a worker token, scoped to that worker: any other worker's consent is not found)."""

    kind: ActorKind
    id: str  # the API key id, or the worker's pseudonym


@dataclass(frozen=True)
class Withdrawal:
    event: ConsentEvent
    consent: Consent  # as it stands after the withdrawal


@dataclass(frozen=True)
class GivenConsent:
    consent: Consent
    worker_id: str
    given: ConsentEvent


def parse_retention(value: str) -> timedelta | isodate.Duration | date | None:
    """An ISO 8601 duration from capture (P30D, PT45S, P1Y), `until:YYYY-MM-DD`, or
    `until_project_end` (None: no fixed term)."""
    if value == "until_project_end":
        return None
    if value.startswith("until:"):
        try:
            return date.fromisoformat(value[6:])
        except ValueError:
            raise InvalidRequest("retention date must be until:YYYY-MM-DD", "retention") from None
    try:
        duration = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError):
        raise InvalidRequest(
            "retention must be an ISO 8601 duration such as P30D or PT45S, "
            "until:YYYY-MM-DD, or until_project_end",
            "retention",
        ) from None
    positive = (
        duration > timedelta(0)
        if isinstance(duration, timedelta)
        else (duration.years > 0 or duration.months > 0 or duration.tdelta > timedelta(0))
    )
    if not positive:
        raise InvalidRequest("retention must be longer than zero", "retention")
    return duration


def _check(request: ConsentRequest) -> None:
    terms(request.purposes, PURPOSES, "purposes")
    terms(request.data_categories, DATA_CATEGORIES, "data_categories")
    if request.recipients not in RECIPIENT_KINDS:
        raise InvalidRequest(
            f"recipients must be one of {', '.join(RECIPIENT_KINDS)}", "recipients"
        )
    if (request.recipients == "named_third_parties") != bool(request.parties):
        raise InvalidRequest(
            "name the parties exactly when recipients is named_third_parties", "parties"
        )
    if any(not re.fullmatch(PARTY_PATTERN, p) for p in request.parties):
        raise InvalidRequest("parties are short lowercase slugs such as acme-robotics", "parties")
    if request.collection_method not in COLLECTION_METHODS:
        raise InvalidRequest(
            f"collection_method must be one of {', '.join(COLLECTION_METHODS)}", "collection_method"
        )
    if not re.fullmatch(r"[A-Z]{2}", request.jurisdiction):
        raise InvalidRequest(
            "jurisdiction is an ISO 3166-1 alpha-2 code such as NG", "jurisdiction"
        )
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", request.policy_version):
        raise InvalidRequest(
            "policy_version is 1-40 letters, digits, '.', '_' or '-'", "policy_version"
        )
    if not re.fullmatch(r"https?://[^\s]{1,490}", request.policy_url):
        raise InvalidRequest("policy_url must be an http(s) URL", "policy_url")
    if not 0 < len(request.worker) <= 200 or not request.worker.isprintable():
        raise InvalidRequest(
            "worker is the platform's reference, 1-200 printable characters", "worker"
        )
    parse_retention(request.retention)
    if "bystanders" in request.data_categories and not request.bystanders_may_appear:
        raise InvalidRequest(
            "data category bystanders needs bystanders_may_appear", "bystanders_may_appear"
        )
    if request.bystanders_may_appear and not request.bystanders_consented:
        raise InvalidRequest(
            "bystanders may appear only when they consented (bystanders_consented)",
            "bystanders_consented",
        )
    if request.minors_may_appear and not request.minors_guardian_consent:
        raise InvalidRequest(
            "minors may appear only with their guardians' consent (minors_guardian_consent)",
            "minors_guardian_consent",
        )
    if request.worker_is_minor and not request.guardian:
        raise InvalidRequest("a minor's consent needs a guardian's: give guardian", "guardian")


def _receipt_claims(consent: Consent, worker_id: str, controller: str) -> dict[str, Any]:
    return {
        "version": RECEIPT_VERSION,
        "receipt_id": consent.id,
        "consent_timestamp": format_ts(consent.given_at),
        "controller": {"tenant": controller},
        "subject": worker_id,
        "policy": {"url": consent.policy_url, "version": consent.policy_version},
        **consent.terms,
        "amends": consent.amends,
    }


class ConsentService:
    def __init__(self, appender: Appender, statement_signer: Callable[[Session], Signer]) -> None:
        self.appender = appender
        self.statement_signer = statement_signer

    def give(self, tenant_id: str, request: ConsentRequest) -> GivenConsent:
        _check(request)
        log_id = tenant_log_id(self.appender.db, tenant_id)
        terms = _terms(request)

        def work(writer: LogWriter) -> GivenConsent:
            session = writer.session
            _check_policy(session, tenant_id, request)
            worker = _worker(writer, tenant_id, request.worker)
            old = _amended(session, tenant_id, worker.id, request.amends)
            consent = Consent(
                id=new_id("con"),
                tenant_id=tenant_id,
                worker_id=worker.id,
                amends=request.amends,
                given_at=writer.now(),
                policy_url=request.policy_url,
                policy_version=request.policy_version,
                terms=terms,
                guardian_ref=request.guardian,
                receipt="",
                log_index=-1,
                status=ConsentStatus.ACTIVE,
                withdrawn_purposes=[],
            )
            consent.receipt = sign_receipt(
                self.statement_signer(session), _receipt_claims(consent, worker.id, tenant_id)
            )
            appended = writer.append(
                log_id, "consent.given", _given_data(consent, request), subject=worker.id
            )
            consent.log_index = appended.index
            session.add(consent)
            session.flush()
            given = ConsentEvent(
                id=new_id("cev"),
                consent_id=consent.id,
                kind=ConsentEventKind.GIVEN,
                purposes=terms["purposes"],
                at=consent.given_at,
                receipt=None,
                log_index=appended.index,
            )
            session.add(given)
            if old is not None:
                writer.bump_epoch(log_id)
                old.status = ConsentStatus.SUPERSEDED
                old.superseded_by = consent.id
                session.add(
                    ConsentEvent(
                        id=new_id("cev"),
                        consent_id=old.id,
                        kind=ConsentEventKind.SUPERSEDED,
                        purposes=list(old.terms["purposes"]),
                        at=consent.given_at,
                        receipt=None,
                        log_index=appended.index,
                    )
                )
            return GivenConsent(consent, worker.id, given)

        return self.appender.run([log_id], work)

    def withdraw(
        self, tenant_id: str, consent_id: str, purposes: list[str] | None, by: Actor
    ) -> Withdrawal:
        """Withdraw some purposes, or all (None). Takes effect for every check after it."""
        if purposes is not None:
            terms(purposes, PURPOSES, "purposes")
        log_id = tenant_log_id(self.appender.db, tenant_id)

        def work(writer: LogWriter) -> Withdrawal:
            session = writer.session
            consent = session.get(Consent, consent_id, with_for_update=True)
            if (
                consent is None
                or consent.tenant_id != tenant_id
                or (by.kind == ActorKind.WORKER and consent.worker_id != by.id)
            ):
                raise NotFound("consent", consent_id)
            if consent.status != ConsentStatus.ACTIVE:
                raise Conflict(f"consent {consent_id} is already {consent.status}")
            given = list(consent.terms["purposes"])
            wanted = sorted(purposes) if purposes is not None else purposes_in_force(consent)
            outside = sorted(set(wanted) - set(given))
            if outside:
                raise InvalidRequest(
                    f"the consent does not cover: {', '.join(outside)}", "purposes"
                )
            again = sorted(set(wanted) & set(consent.withdrawn_purposes))
            if again:
                raise Conflict(f"already withdrawn: {', '.join(again)}")
            withdrawn = sorted(set(consent.withdrawn_purposes) | set(wanted))
            complete = set(withdrawn) == set(given)
            event = ConsentEvent(
                id=new_id("wdr"),
                consent_id=consent.id,
                kind=ConsentEventKind.WITHDRAWN,
                purposes=wanted,
                at=writer.now(),
                receipt=None,
                log_index=-1,
            )
            event.receipt = sign_receipt(
                self.statement_signer(session),
                {
                    "version": WITHDRAWAL_VERSION,
                    "receipt_id": event.id,
                    "withdraws": consent.id,
                    "withdrawn_at": format_ts(event.at),
                    "controller": {"tenant": tenant_id},
                    "subject": consent.worker_id,
                    "purposes": wanted,
                    "complete": complete,
                },
            )
            appended = writer.append(
                log_id,
                "consent.withdrawn",
                {
                    "consent": consent.id,
                    "purposes": wanted,
                    "complete": complete,
                    "by": by.kind,
                    "receipt": receipt_hash(event.receipt),
                },
                subject=consent.worker_id,
            )
            event.log_index = appended.index
            writer.bump_epoch(log_id)
            consent.withdrawn_purposes = withdrawn
            consent.status = ConsentStatus.WITHDRAWN if complete else ConsentStatus.ACTIVE
            session.add(event)
            return Withdrawal(event, consent)

        return self.appender.run([log_id], work)

    def get(
        self, session: Session, tenant_id: str, consent_id: str
    ) -> tuple[Consent, list[ConsentEvent]]:
        consent = session.get(Consent, consent_id)
        if consent is None or consent.tenant_id != tenant_id:
            raise NotFound("consent", consent_id)
        events = session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.consent_id == consent_id)
            .order_by(ConsentEvent.log_index)
        ).all()
        return consent, list(events)

    @staticmethod
    def of_worker(session: Session, worker_id: str) -> list[tuple[Consent, list[ConsentEvent]]]:
        """Every consent of the worker, oldest first, each with its history."""
        given = session.scalars(
            select(Consent).where(Consent.worker_id == worker_id).order_by(*CONSENT_ORDER)
        ).all()
        return _with_events(session, given)

    @staticmethod
    def page_of_worker(
        session: Session, worker_id: str, after: Key | None, limit: int
    ) -> Page[tuple[Consent, list[ConsentEvent]]]:
        """The worker's consents, oldest first, `limit` at a time after the key `after`."""
        query = keyset(
            select(Consent).where(Consent.worker_id == worker_id), CONSENT_ORDER, after, limit
        )
        page = cut(session.scalars(query).all(), limit, lambda c: (c.given_at, c.id))
        return Page(_with_events(session, page.rows), page.next)


CONSENT_ORDER = (Consent.given_at, Consent.id)


def _with_events(
    session: Session, given: Sequence[Consent]
) -> list[tuple[Consent, list[ConsentEvent]]]:
    """Each consent with its history, in the order of the log."""
    events: dict[str, list[ConsentEvent]] = {c.id: [] for c in given}
    for event in session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.consent_id.in_(events))
        .order_by(ConsentEvent.log_index, ConsentEvent.id)
    ):
        events[event.consent_id].append(event)
    return [(c, events[c.id]) for c in given]


def latest_amendment(consent_id: str, successor: Callable[[str], str | None]) -> str:
    """The consent in force in place of `consent_id`: its latest amendment, reached by
    following `successor` (a consent's `superseded_by`, None when nothing replaced it or the
    caller does not know what did). A chain that comes back on itself, which only damaged
    data could make, ends at the last consent before it repeats rather than looping."""
    latest, seen = consent_id, {consent_id}
    while (after := successor(latest)) is not None and after not in seen:
        latest = after
        seen.add(after)
    return latest


def consent_in_force(session: Session, consent_id: str) -> Consent:
    """The latest amendment of the consent, as a row. An amendment that is not there ends
    the chain at the consent before it."""

    def successor(current: str) -> str | None:
        consent = session.get(Consent, current)
        after = consent.superseded_by if consent is not None else None
        return after if after is not None and session.get(Consent, after) is not None else None

    consent = session.get(Consent, latest_amendment(consent_id, successor))
    if consent is None:
        raise NotFound("consent", consent_id)
    return consent


def purposes_in_force(consent: Consent) -> list[str]:
    """The purposes of an active consent not withdrawn; none of a superseded or withdrawn
    one."""
    if consent.status != ConsentStatus.ACTIVE:
        return []
    return [p for p in consent.terms["purposes"] if p not in consent.withdrawn_purposes]


def consent_family(session: Session, worker_id: str, consent_id: str) -> set[str]:
    """The consent and every amendment before or after it."""
    links = {
        c.id: (c.amends, c.superseded_by)
        for c in session.scalars(select(Consent).where(Consent.worker_id == worker_id))
    }
    family, todo = set(), [consent_id]
    while todo:
        current = todo.pop()
        if current in family or current not in links:
            continue
        family.add(current)
        todo += [c for c in links[current] if c]
    return family


def find_worker(session: Session, tenant_id: str, worker: str) -> Worker:
    """The worker by pseudonym or the platform's reference, within the tenant only."""
    found = session.scalar(
        select(Worker).where(
            Worker.tenant_id == tenant_id, (Worker.id == worker) | (Worker.ref == worker)
        )
    )
    if found is None:
        raise NotFound("worker")
    return found


def _worker(writer: LogWriter, tenant_id: str, ref: str) -> Worker:
    worker = writer.session.scalar(
        select(Worker).where(Worker.tenant_id == tenant_id, Worker.ref == ref)
    )
    if worker is None:
        worker = Worker(id=new_id("wkr"), tenant_id=tenant_id, ref=ref, created_at=writer.now())
        writer.session.add(worker)
        writer.session.flush()
    return worker


def _terms(request: ConsentRequest) -> dict[str, Any]:
    """The terms a consent holds; the guardian's reference is kept apart (`guardian_ref`)."""
    return {
        "jurisdiction": request.jurisdiction,
        "collection_method": request.collection_method,
        "purposes": sorted(request.purposes),
        "data_categories": sorted(request.data_categories),
        "recipients": request.recipients,
        "parties": sorted(request.parties),
        "retention": request.retention,
        "bystanders_may_appear": request.bystanders_may_appear,
        "bystanders_consented": request.bystanders_consented,
        "minors_may_appear": request.minors_may_appear,
        "minors_guardian_consent": request.minors_guardian_consent,
        "worker_is_minor": request.worker_is_minor,
        "guardian_consented": request.guardian is not None,
    }


def _check_policy(session: Session, tenant_id: str, request: ConsentRequest) -> None:
    """A consent under a published policy version asks for no purpose beyond it, and names
    the policy where it was published."""
    policy = session.get(Policy, (tenant_id, request.policy_version))
    if policy is None:
        return
    beyond = sorted(set(request.purposes) - set(policy.purposes))
    if beyond:
        raise InvalidRequest(
            f"policy version {policy.version} does not ask for: {', '.join(beyond)}", "purposes"
        )
    if policy.url != request.policy_url:
        raise InvalidRequest(
            f"policy version {policy.version} was published at {policy.url}", "policy_url"
        )


def _amended(
    session: Session, tenant_id: str, worker_id: str, amends: str | None
) -> Consent | None:
    """The consent a new one amends, locked: the same worker's, and active."""
    if amends is None:
        return None
    old = session.get(Consent, amends, with_for_update=True)
    if old is None or old.tenant_id != tenant_id or old.worker_id != worker_id:
        raise InvalidRequest("amends must name a consent of the same worker", "amends")
    if old.status != ConsentStatus.ACTIVE:
        raise Conflict(f"consent {old.id} is {old.status}; only an active one can be amended")
    return old


def _given_data(consent: Consent, request: ConsentRequest) -> dict[str, Any]:
    """What `consent.given` holds: vocabulary terms and hashes, nothing personal."""
    terms = consent.terms
    return {
        "consent": consent.id,
        "amends": request.amends,
        "policy_version": request.policy_version,
        "policy": hashlib.sha256(request.policy_url.encode()).hexdigest(),
        "jurisdiction": request.jurisdiction,
        "collection_method": request.collection_method,
        "purposes": terms["purposes"],
        "data_categories": terms["data_categories"],
        "recipients": request.recipients,
        "parties": terms["parties"],
        "retention": request.retention,
        "bystanders_may_appear": request.bystanders_may_appear,
        "minors_may_appear": request.minors_may_appear,
        "worker_is_minor": request.worker_is_minor,
        "receipt": receipt_hash(consent.receipt),
    }
