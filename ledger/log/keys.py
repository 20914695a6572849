"""The key ring: which Ed25519 keys sign what, since when, and until when.

Two purposes, two keys: `log` signs checkpoints, `statement` signs receipts, certificates
and report hashes. A rotation makes a new active key; the old one is retired but stays
published with the time range it signed, and a retired log key keeps co-signing
checkpoints during the overlap so that verifiers can move over.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.clock import Clock, format_ts
from ledger.db import serialize
from ledger.errors import InvalidRequest
from ledger.log.appender import Appender, LogWriter
from ledger.log.entries import KID, TS, EntryType, obj, register
from ledger.log.signing import KeyStore, Signer
from ledger.models import Log, SigningKeyRecord
from verify.note import verifier_key


class KeyPurpose(StrEnum):
    """What a key signs: `log` checkpoints, `statement` receipts, certificates and reports."""

    LOG = "log"
    STATEMENT = "statement"


class KeyStatus(StrEnum):
    """A published key: `active` signs; `retiring` (a log key inside its overlap) still
    co-signs; `retired` signs nothing any more."""

    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"


PURPOSES = tuple(p.value for p in KeyPurpose)

KEY_ROTATED = register(
    EntryType(
        "key.rotated",
        1,
        obj(
            {
                "purpose": {"enum": list(PURPOSES)},
                "new_key": KID,
                "old_key": KID,
                "old_key_signs_until": TS,
            }
        ),
    )
)


@dataclass(frozen=True)
class Rotation:
    purpose: str
    old_kid: str
    new_kid: str
    old_key_signs_until: datetime


class KeyRing:
    def __init__(self, store: KeyStore, clock: Clock, name: str, overlap: timedelta) -> None:
        self.store = store
        self.clock = clock
        self.name = name
        self.overlap = overlap

    def ensure(self, session: Session) -> None:
        """Create the first key of each purpose that has none (first run)."""
        serialize(session, "custody/keys")
        for purpose in PURPOSES:
            if self._active(session, purpose) is None:
                self._create(session, purpose)

    def _create(self, session: Session, purpose: str) -> SigningKeyRecord:
        kid, public_key = self.store.generate()
        record = SigningKeyRecord(
            kid=kid,
            purpose=purpose,
            name=self.name,
            public_key=public_key,
            created_at=self.clock.now(),
            retired_at=None,
            overlap_until=None,
        )
        session.add(record)
        session.flush()
        return record

    @staticmethod
    def _active(session: Session, purpose: str) -> SigningKeyRecord | None:
        return session.scalars(
            select(SigningKeyRecord)
            .where(SigningKeyRecord.purpose == purpose, SigningKeyRecord.retired_at.is_(None))
            .order_by(SigningKeyRecord.created_at.desc())
        ).first()

    def signers(self, session: Session, purpose: str) -> list[Signer]:
        """The active key first, then retired keys still inside their overlap."""
        now = self.clock.now()
        records = session.scalars(
            select(SigningKeyRecord)
            .where(SigningKeyRecord.purpose == purpose)
            .order_by(SigningKeyRecord.created_at.desc())
        ).all()
        chosen = sorted(
            (
                r
                for r in records
                if r.retired_at is None or (r.overlap_until is not None and r.overlap_until > now)
            ),
            key=lambda r: r.retired_at is not None,
        )
        if not chosen or chosen[0].retired_at is not None:
            raise InvalidRequest(f"no active {purpose} key; run `custody keys rotate`")
        return [self.store.signer(r.kid, r.name) for r in chosen]

    def statement_signer(self, session: Session) -> Signer:
        return self.signers(session, KeyPurpose.STATEMENT)[0]

    def log_signers(self, session: Session) -> list[Signer]:
        return self.signers(session, KeyPurpose.LOG)

    def rotate(self, appender: Appender, purpose: str) -> Rotation:
        """Replace the active key of `purpose`; record it on every tenant's log, atomically."""
        if purpose not in PURPOSES:
            raise InvalidRequest(f"purpose must be one of {', '.join(PURPOSES)}", "purpose")
        with appender.db.session() as session:
            log_ids = list(session.scalars(select(Log.id)))

        def work(writer: LogWriter) -> Rotation:
            session = writer.session
            old = self._active(session, purpose)
            if old is None:
                raise InvalidRequest(f"there is no {purpose} key to rotate yet")
            now = writer.now()
            new = self._create(session, purpose)
            old.retired_at = now
            # Only checkpoints carry several signatures; other statements stop at once.
            old.overlap_until = now + self.overlap if purpose == KeyPurpose.LOG else None
            rotation = Rotation(purpose, old.kid, new.kid, old.overlap_until or now)
            for log_id in log_ids:
                writer.append(
                    log_id,
                    "key.rotated",
                    {
                        "purpose": purpose,
                        "new_key": new.kid,
                        "old_key": old.kid,
                        "old_key_signs_until": format_ts(rotation.old_key_signs_until),
                    },
                )
            return rotation

        return appender.run(log_ids, work)

    def published(self, session: Session) -> list[dict[str, Any]]:
        now = self.clock.now()
        records = session.scalars(
            select(SigningKeyRecord).order_by(SigningKeyRecord.purpose, SigningKeyRecord.created_at)
        ).all()
        return [_describe(record, now) for record in records]


def _describe(record: SigningKeyRecord, now: datetime) -> dict[str, Any]:
    if record.retired_at is None:
        status = KeyStatus.ACTIVE
    elif record.overlap_until is not None and record.overlap_until > now:
        status = KeyStatus.RETIRING
    else:
        status = KeyStatus.RETIRED
    signs_until = record.overlap_until or record.retired_at
    described: dict[str, Any] = {
        "kid": record.kid,
        "purpose": record.purpose,
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "x": base64.urlsafe_b64encode(record.public_key).rstrip(b"=").decode(),
        "status": status,
        "valid_from": format_ts(record.created_at),
        "valid_until": format_ts(signs_until) if signs_until else None,
    }
    if record.purpose == KeyPurpose.LOG:
        described["verifier_key"] = verifier_key(record.name, record.public_key)
    return described
