"""Published versions of a platform's terms. A consent given under a published version may
ask only for that version's purposes; a later version with wider purposes does not widen
consents given under an earlier one: the worker renews (amends) their consent for that."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.consent.vocabulary import PURPOSES, terms
from ledger.errors import Conflict, InvalidRequest
from ledger.log.appender import Appender, LogWriter
from ledger.log.entries import EntryType, obj, register
from ledger.log.reader import tenant_log_id
from ledger.models import Policy
from ledger.pages import Key, Page, cut, keyset

VERSION_PATTERN = r"^[A-Za-z0-9._-]{1,40}$"

POLICY_PUBLISHED = register(
    EntryType(
        "policy.published",
        1,
        obj(
            {
                "version": {"type": "string", "pattern": VERSION_PATTERN},
                "policy": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "purposes": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"enum": list(PURPOSES)},
                },
            }
        ),
    )
)


class PolicyService:
    def __init__(self, appender: Appender) -> None:
        self.appender = appender

    def publish(self, tenant_id: str, version: str, url: str, purposes: list[str]) -> Policy:
        if not re.fullmatch(VERSION_PATTERN, version):
            raise InvalidRequest("version is 1-40 letters, digits, '.', '_' or '-'", "version")
        if not re.fullmatch(r"https?://[^\s]{1,490}", url):
            raise InvalidRequest("url must be an http(s) URL", "url")
        purposes = terms(purposes, PURPOSES, "purposes")
        log_id = tenant_log_id(self.appender.db, tenant_id)

        def work(writer: LogWriter) -> Policy:
            if writer.session.get(Policy, (tenant_id, version)) is not None:
                raise Conflict(
                    f"policy version {version} is already published; versions are immutable"
                )
            policy = Policy(
                tenant_id=tenant_id,
                version=version,
                url=url,
                purposes=purposes,
                published_at=writer.now(),
                log_index=-1,
            )
            policy.log_index = writer.append(
                log_id,
                "policy.published",
                {
                    "version": version,
                    "policy": hashlib.sha256(url.encode()).hexdigest(),
                    "purposes": policy.purposes,
                },
            ).index
            writer.session.add(policy)
            writer.bump_epoch(log_id)  # "renewal_required" may now apply to older consents
            return policy

        return self.appender.run([log_id], work)

    @staticmethod
    def page(session: Session, tenant_id: str, after: Key | None, limit: int) -> Page[Policy]:
        """The tenant's versions in the order they were published, `limit` at a time."""
        order = (Policy.published_at, Policy.version)
        query = keyset(select(Policy).where(Policy.tenant_id == tenant_id), order, after, limit)
        return cut(session.scalars(query).all(), limit, lambda p: (p.published_at, p.version))
