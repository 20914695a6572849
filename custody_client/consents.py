"""Policies, consents and what the service holds on a worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from custody_client.pages import Page, page
from custody_client.resource import Resource, given, seg
from custody_client.types import AccessLink, Consent, Policy, Use, Withdrawal


class Policies(Resource):
    def publish(
        self, version: str, url: str, purposes: Sequence[str], *, idempotency_key: str | None = None
    ) -> Policy:
        """Publish a version of the terms and the purposes it asks for."""
        body = {"version": version, "url": url, "purposes": list(purposes)}
        return cast(
            Policy, self._t.json("POST", "/v1/policies", body=body, idempotency_key=idempotency_key)
        )

    def list(self, *, after: str | None = None, limit: int | None = None) -> Page[Policy]:
        answer = self._t.json("GET", "/v1/policies", params={"after": after, "limit": limit})
        return page(answer, "policies")


class Consents(Resource):
    def give(
        self,
        *,
        worker: str,
        purposes: Sequence[str],
        data_categories: Sequence[str],
        recipients: str,
        retention: str,
        jurisdiction: str,
        collection_method: str,
        policy_url: str,
        policy_version: str,
        parties: Sequence[str] | None = None,
        bystanders_may_appear: bool | None = None,
        bystanders_consented: bool | None = None,
        minors_may_appear: bool | None = None,
        minors_guardian_consent: bool | None = None,
        worker_is_minor: bool | None = None,
        guardian: str | None = None,
        amends: str | None = None,
        idempotency_key: str | None = None,
    ) -> Consent:
        """Record a consent; the answer holds its signed receipt (compact JWS)."""
        body = given(
            worker=worker,
            purposes=list(purposes),
            data_categories=list(data_categories),
            recipients=recipients,
            retention=retention,
            jurisdiction=jurisdiction,
            collection_method=collection_method,
            policy_url=policy_url,
            policy_version=policy_version,
            parties=list(parties) if parties is not None else None,
            bystanders_may_appear=bystanders_may_appear,
            bystanders_consented=bystanders_consented,
            minors_may_appear=minors_may_appear,
            minors_guardian_consent=minors_guardian_consent,
            worker_is_minor=worker_is_minor,
            guardian=guardian,
            amends=amends,
        )
        answer = self._t.json("POST", "/v1/consents", body=body, idempotency_key=idempotency_key)
        return cast(Consent, answer)

    def get(self, consent: str) -> Consent:
        """The consent, what of it is in force, its history and every receipt."""
        return cast(Consent, self._t.json("GET", f"/v1/consents/{seg(consent)}"))

    def withdraw(
        self,
        consent: str,
        purposes: Sequence[str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Withdrawal:
        """Withdraw some purposes, or all when `purposes` is None; a signed withdrawal
        receipt comes back."""
        body: dict[str, Any] = {} if purposes is None else {"purposes": list(purposes)}
        path = f"/v1/consents/{seg(consent)}/withdraw"
        return cast(
            Withdrawal, self._t.json("POST", path, body=body, idempotency_key=idempotency_key)
        )


class Workers(Resource):
    """A worker is named by the platform's reference or the pseudonym (wkr_...)."""

    def consents(
        self, worker: str, *, after: str | None = None, limit: int | None = None
    ) -> Page[Consent]:
        """The worker's consents, oldest first, with their history and receipts."""
        path = f"/v1/workers/{seg(worker)}/consents"
        return page(self._t.json("GET", path, params={"after": after, "limit": limit}), "consents")

    def uses(self, worker: str, *, after: str | None = None, limit: int | None = None) -> Page[Use]:
        """Allowed uses of the worker's clips and of everything derived from them."""
        path = f"/v1/workers/{seg(worker)}/uses"
        return page(self._t.json("GET", path, params={"after": after, "limit": limit}), "uses")

    def access_link(
        self,
        worker: str,
        *,
        expires_in: int | None = None,
        language: str | None = None,
        idempotency_key: str | None = None,
    ) -> AccessLink:
        """A single-use link to the worker's own portal, to show or send to the worker."""
        path = f"/v1/workers/{seg(worker)}/access-links"
        body = given(expires_in=expires_in, language=language)
        return cast(
            AccessLink, self._t.json("POST", path, body=body, idempotency_key=idempotency_key)
        )
