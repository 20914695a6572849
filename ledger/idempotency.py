"""Idempotent creation: a creating call that carries a key is claimed before it runs and
answered from the stored answer when the same key comes again, so a retry after a lost
answer never creates twice.

A claim is a row (credential scope, key, request fingerprint) committed before the call
runs; the answer is stored after it, encrypted (AES-256-GCM, bound to the row) since it may
hold a secret shown once. A key reused for a different request is refused, as is a key whose
first call is still running.

Whether the call took effect is recorded with its effect: every log transaction the call
commits also moves its claim from `running` to `effected` (`mark_effected`, which the HTTP
layer hands the appender as its unit hook), and fails if the claim is gone. So a claim
still `running` after `STALE` (its process died, or the database went away before the call could answer) provably changed
nothing: a retry takes it over and runs afresh, and should the first call come back to
commit after all, it finds its claim gone and rolls back. A claim `effected` without an
answer (the process died in the instant between commit and answer) took effect: the key
stays refused until it expires rather than risk a second creation. A call refused before it
changed anything (a 5xx, a 429, an authentication failure) releases its key at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.clock import Clock
from ledger.db import Database
from ledger.errors import Conflict, CustodyError
from ledger.ids import new_id
from ledger.models import IdempotencyKey

KEPT = timedelta(hours=24)
# A claim that changed nothing for this long is taken over by a retry; liveness only: a
# first call that still commits later is rolled back.
STALE = timedelta(seconds=20)


class ClaimState(StrEnum):
    """A claim's progress: `running` (nothing committed yet), `effected` (the call's effect
    committed, no answer stored yet), `done` (its answer stored, to replay)."""

    RUNNING = "running"
    EFFECTED = "effected"
    DONE = "done"


_UNANSWERED = (ClaimState.RUNNING, ClaimState.EFFECTED)


class KeyReused(CustodyError):
    """The key was first used for a different request."""


class _Raced(Exception):
    """The claim changed between reading and taking it over."""


class TakenOver(Conflict):
    """A retry with the same key took the claim over: this call must change nothing."""


class StillRunning(Conflict):
    """The first call with this key has not answered yet."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def fingerprint(*parts: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.digest()


def scope_of(credential: str) -> str:
    """Keys are per credential; the credential itself is never stored."""
    return hashlib.sha256(b"custody/idempotency/v1\x00" + credential.encode()).hexdigest()


class Idempotency:
    def __init__(self, db: Database, clock: Clock, key: bytes) -> None:
        self.db, self.clock, self.aead = db, clock, AESGCM(key)

    def claim(self, scope: str, key: str, fingerprint: bytes) -> tuple[str, Answer | None]:
        """Claim the key for this request: (claim id, None) to go ahead, or (id, the first
        answer) to replay it. Raises KeyReused or StillRunning."""
        for _ in range(3):
            try:
                return self._claim(scope, key, fingerprint)
            except (IntegrityError, _Raced):  # another process claimed it first: look again
                continue
        raise StillRunning("this Idempotency-Key is being claimed concurrently", 1)

    def _claim(self, scope: str, key: str, fingerprint: bytes) -> tuple[str, Answer | None]:
        now = self.clock.now()
        with self.db.write() as session, session.begin():
            row = session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.scope == scope, IdempotencyKey.key == key
                )
            )
            if row is not None and row.fingerprint != fingerprint and row.created_at > now - KEPT:
                raise KeyReused(
                    "this Idempotency-Key was first used for a different request; "
                    "use a new key for a new request"
                )
            if row is not None and (
                row.created_at <= now - KEPT
                or (row.state == ClaimState.RUNNING and row.created_at <= now - STALE)
            ):
                # Expired, or a first call that changed nothing and will not: start afresh.
                # The state is checked again by the delete, which waits for a commit marking
                # it `effected` and then leaves it.
                gone = session.execute(
                    delete(IdempotencyKey).where(
                        IdempotencyKey.id == row.id, IdempotencyKey.state == row.state
                    )
                )
                if not getattr(gone, "rowcount", 0):
                    raise _Raced  # the first call committed meanwhile: look again
                row = None
            if row is None:
                claim = IdempotencyKey(
                    id=new_id("idk"),
                    scope=scope,
                    key=key,
                    fingerprint=fingerprint,
                    state=ClaimState.RUNNING,
                    created_at=now,
                )
                session.add(claim)
                session.flush()
                return claim.id, None
            if row.state == ClaimState.EFFECTED and row.created_at <= now - STALE:
                raise StillRunning(
                    "the first request with this Idempotency-Key took effect but its answer "
                    "was lost: look for what it created rather than trying again",
                    int(KEPT.total_seconds()),
                )
            if row.state in _UNANSWERED:
                left = row.created_at + STALE - now
                raise StillRunning(
                    "the first request with this Idempotency-Key is still running",
                    max(1, min(5, int(left.total_seconds()) + 1)),
                )
            assert row.response is not None
            return row.id, self._open(row.id, row.response)

    def answer(self, claim_id: str, answer: Answer) -> None:
        """Store the answer of the call that holds the claim."""
        with self.db.write() as session, session.begin():
            row = session.get(IdempotencyKey, claim_id)
            if row is not None and row.state in _UNANSWERED:
                row.state, row.response = ClaimState.DONE, self._seal(claim_id, answer)

    def release(self, claim_id: str) -> None:
        """The call failed or was refused: a retry may run afresh, unless the call took
        effect after all (it failed after a commit, or the commit's answer was lost)."""
        with self.db.write() as session, session.begin():
            session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.id == claim_id, IdempotencyKey.state == ClaimState.RUNNING
                )
            )

    def expire(self) -> int:
        """Forget keys older than a day; returns how many."""
        with self.db.write() as session, session.begin():
            done = session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.created_at <= self.clock.now() - KEPT)
            )
        return int(getattr(done, "rowcount", 0) or 0)

    def _seal(self, claim_id: str, answer: Answer) -> bytes:
        head = json.dumps({"status": answer.status, "headers": answer.headers}).encode()
        plain = len(head).to_bytes(4, "big") + head + answer.body
        nonce = os.urandom(12)
        return nonce + self.aead.encrypt(nonce, plain, claim_id.encode())

    def _open(self, claim_id: str, sealed: bytes) -> Answer:
        plain = self.aead.decrypt(sealed[:12], sealed[12:], claim_id.encode())
        size = int.from_bytes(plain[:4], "big")
        head: dict[str, Any] = json.loads(plain[4 : 4 + size])
        return Answer(int(head["status"]), dict(head["headers"]), plain[4 + size :])


def mark_effected(session: Session, claim_id: str) -> None:
    """In the transaction of a call's effect: record that its claim took effect, or refuse
    (TakenOver) if a retry took the claim over, which rolls the effect back."""
    done = session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_id, IdempotencyKey.state.in_(_UNANSWERED))
        .values(state=ClaimState.EFFECTED)
    )
    if not getattr(done, "rowcount", 0):
        raise TakenOver(
            "a retry with the same Idempotency-Key took this request over; its answer is the "
            "one that counts"
        )
