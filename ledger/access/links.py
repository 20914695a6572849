"""Worker access: single-use, short-lived links a platform hands to a worker, and the worker
sessions they open.

A link reads `lnk_<id>.<mac>`: the id of its row and an HMAC-SHA-256 of that id under a key
derived from the master key. A forged or altered link is refused before the database is
asked; the row decides the rest: its expiry, and that it is used once. Redeeming a link
opens a worker session whose token (`cwk_...`) is stored only as its SHA-256: the token is
both the portal's session and the worker's bearer token for the API, and reaches that
worker of that tenant only. None of this is on the log: it grants access and records no
processing; what the worker then does (a withdrawal, an erasure request) is on the log as
usual.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.access.apikeys import Principal, Role
from ledger.clock import Clock
from ledger.consent.consents import find_worker
from ledger.db import Database
from ledger.errors import CustodyError, InvalidRequest
from ledger.ids import new_id, random_token
from ledger.models import AccessLink, WorkerSession

LINK_TTL = timedelta(minutes=15)
LINK_TTL_RANGE = (timedelta(minutes=1), timedelta(days=1))
SESSION_TTL = timedelta(hours=1)
TOKEN_PREFIX = "cwk_"
_LINK = re.compile(r"^(lnk_[a-z2-7]{16})\.([A-Za-z0-9_-]{43})$")
_TOKEN = re.compile(r"^cwk_[a-z2-7]{52}$")


def derive_key(master: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the master key (HKDF-SHA-256)."""
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"custody/" + purpose).derive(master)


class Refusal(StrEnum):
    """Why an access link cannot be used."""

    INVALID = "invalid"
    EXPIRED = "expired"
    USED = "used"


class LinkRefused(CustodyError):
    """An access link that cannot be used, and why."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(f"access link {reason}")
        self.reason = reason


@dataclass(frozen=True)
class IssuedLink:
    id: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Grant:
    """A worker session just opened: the token is shown once, here."""

    session_id: str
    token: str
    tenant_id: str
    worker_id: str
    expires_at: datetime
    language: str | None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class WorkerAccess:
    def __init__(
        self, db: Database, clock: Clock, key: bytes, session_ttl: timedelta = SESSION_TTL
    ) -> None:
        self.db = db
        self.clock = clock
        self.key = key
        self.session_ttl = session_ttl

    def _mac(self, link_id: str) -> str:
        mac = hmac.new(self.key, link_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(
        self,
        tenant_id: str,
        worker: str,
        by: str,
        ttl: timedelta = LINK_TTL,
        language: str | None = None,
    ) -> IssuedLink:
        """A link for the worker (pseudonym or the platform's reference) of this tenant."""
        low, high = LINK_TTL_RANGE
        if not low <= ttl <= high:
            raise InvalidRequest("a link lives between 60 seconds and one day", "expires_in")
        with self.db.write() as session, session.begin():
            found = find_worker(session, tenant_id, worker)
            now = self.clock.now()
            link = AccessLink(
                id=f"lnk_{random_token()}",
                tenant_id=tenant_id,
                worker_id=found.id,
                language=language,
                created_by=by,
                created_at=now,
                expires_at=now + ttl,
                used_at=None,
            )
            session.add(link)
        return IssuedLink(link.id, f"{link.id}.{self._mac(link.id)}", link.expires_at)

    def _verified_id(self, token: str) -> str:
        match = _LINK.fullmatch(token)
        if match is None or not hmac.compare_digest(match[2], self._mac(match[1])):
            raise LinkRefused(Refusal.INVALID)
        return match[1]

    def peek(self, token: str) -> AccessLink:
        """The link, if it could be redeemed now; nothing is changed."""
        with self.db.session() as session:
            link = session.get(AccessLink, self._verified_id(token))
            self._refuse(link, self.clock.now())
            assert link is not None
            return link

    @staticmethod
    def _refuse(link: AccessLink | None, now: datetime) -> None:
        if link is None:
            raise LinkRefused(Refusal.INVALID)
        if link.used_at is not None:
            raise LinkRefused(Refusal.USED)
        if link.expires_at <= now:
            raise LinkRefused(Refusal.EXPIRED)

    def redeem(self, token: str) -> Grant:
        """Use the link (once: of two at the same moment, one wins) and open a session."""
        link_id = self._verified_id(token)
        with self.db.write() as session, session.begin():
            now = self.clock.now()
            taken = session.execute(
                update(AccessLink)
                .where(
                    AccessLink.id == link_id,
                    AccessLink.used_at.is_(None),
                    AccessLink.expires_at > now,
                )
                .values(used_at=now)
            )
            link = session.get(AccessLink, link_id)
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                self._refuse(link, now)
                raise LinkRefused(Refusal.USED)  # taken by a concurrent redemption
            assert link is not None
            secret = f"{TOKEN_PREFIX}{random_token(32)}"
            opened = WorkerSession(
                id=new_id("wss"),
                tenant_id=link.tenant_id,
                worker_id=link.worker_id,
                link_id=link.id,
                token_hash=_digest(secret),
                created_at=now,
                expires_at=now + self.session_ttl,
                ended_at=None,
            )
            session.add(opened)
        return Grant(
            opened.id, secret, link.tenant_id, link.worker_id, opened.expires_at, link.language
        )

    def authenticate(self, session: Session, token: str) -> Principal | None:
        """The worker principal of a live session token, or None."""
        if _TOKEN.fullmatch(token) is None:
            return None
        found = session.scalar(
            select(WorkerSession).where(WorkerSession.token_hash == _digest(token))
        )
        if found is None or found.ended_at is not None or found.expires_at <= self.clock.now():
            return None
        return Principal(found.tenant_id, Role.WORKER, found.id, worker_id=found.worker_id)

    def end(self, session_id: str) -> None:
        """Sign out: the token stops working at once."""
        with self.db.write() as session, session.begin():
            session.execute(
                update(WorkerSession)
                .where(WorkerSession.id == session_id, WorkerSession.ended_at.is_(None))
                .values(ended_at=self.clock.now())
            )
