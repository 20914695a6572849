"""Domain factories: tenants, policies, consents, clips, derived items, withdrawals and
erasures, made through the real services (no HTTP), for tests and benchmarks alike.

Each is a plain function of the composition root's `Container` (`api.container.build`)
and, past the tenant, of the tenant's id; each returns what the service made. The defaults
make a minimal valid case, and keywords change any term, so a caller names only what its
case is about:

    tenant_id = factories.tenant(container).tenant_id
    consent = factories.consent(container, tenant_id, data_categories=["body_motion"])
    clip = factories.clip(container, tenant_id, consent)
    label = factories.derived(container, tenant_id, [clip])
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from api.container import Container
from ledger.consent.consents import Actor, ConsentRequest, Withdrawal
from ledger.items.items import Activity, ClipRequest, DerivationRequest
from ledger.models import Consent, Item, Policy, Worker
from ledger.tenants import CreatedTenant
from retention.models import ErasureRequest
from retention.requests import RequestIn

WORKER = "w-123"  # the platform's reference of the default worker
POLICY_URL = "https://platform.example/terms"
POLICY_VERSION = "2026-04"
# A minimal consent's fields (tests/support/http.py's MINIMAL): here, so that benchmarks
# need none of the test-only dependencies.
CONSENT_TERMS: dict[str, Any] = {
    "worker": WORKER,
    "purposes": ["motion_imitation"],
    "data_categories": ["body_motion", "face"],
    "recipients": "platform_only",
    "retention": "P30D",
    "jurisdiction": "NG",
    "collection_method": "in_app",
    "policy_url": POLICY_URL,
    "policy_version": POLICY_VERSION,
}
ACTIVITY = Activity("annotation", "labeler-7")


def sha256_hex(content: bytes | None = None) -> str:
    """The content hash an item is registered under; random content when none is given."""
    return hashlib.sha256(os.urandom(32) if content is None else content).hexdigest()


def tenant(c: Container, name: str = "Platform A", role: str = "admin") -> CreatedTenant:
    """A tenant with its log and a first API key (`.api_key.token`)."""
    return c.tenants.create(name, role)


def policy(
    c: Container,
    tenant_id: str,
    version: str = POLICY_VERSION,
    purposes: Sequence[str] = ("motion_imitation",),
    url: str = POLICY_URL,
) -> Policy:
    """A published version of the platform's terms."""
    return c.policies.publish(tenant_id, version, url, list(purposes))


def consent(c: Container, tenant_id: str, **terms: Any) -> Consent:
    """A consent given on `CONSENT_TERMS`, with any of them changed (ConsentRequest's
    fields: purposes, data_categories, recipients, parties, retention, worker, ...)."""
    return c.consents.give(tenant_id, ConsentRequest(**{**CONSENT_TERMS, **terms})).consent


def amendment(c: Container, tenant_id: str, of: Consent, **changes: Any) -> Consent:
    """A consent amending `of` (which becomes superseded): its terms, with `changes`."""
    terms = of.terms
    same: dict[str, Any] = {
        "worker": worker_ref(c, of.worker_id),
        "purposes": terms["purposes"],
        "data_categories": terms["data_categories"],
        "recipients": terms["recipients"],
        "parties": terms.get("parties") or [],
        "retention": terms["retention"],
        "jurisdiction": terms["jurisdiction"],
        "collection_method": terms["collection_method"],
        "policy_url": of.policy_url,
        "policy_version": of.policy_version,
        "bystanders_may_appear": terms["bystanders_may_appear"],
        "bystanders_consented": terms["bystanders_consented"],
        "minors_may_appear": terms["minors_may_appear"],
        "minors_guardian_consent": terms["minors_guardian_consent"],
        "worker_is_minor": terms["worker_is_minor"],
        "guardian": of.guardian_ref,
    }
    return consent(c, tenant_id, **{**same, **changes, "amends": of.id})


def worker_ref(c: Container, worker_id: str) -> str:
    """The platform's reference of a worker known by pseudonym."""
    with c.db.session() as session:
        worker = session.get(Worker, worker_id)
        assert worker is not None, worker_id
        return worker.ref


def clip(
    c: Container,
    tenant_id: str,
    under: Consent,
    content: bytes | None = None,
    *,
    worker: str | None = None,
    **changes: Any,
) -> Item:
    """A clip registered under the consent `under`, captured now, holding the consent's
    data categories unless `data_categories` says otherwise (ClipRequest's fields).
    `worker`, the platform's reference of the consent's worker, saves looking it up."""
    request = {
        "sha256": sha256_hex(content),
        "worker": worker or worker_ref(c, under.worker_id),
        "consent": under.id,
        "data_categories": list(under.terms["data_categories"]),
        "captured_at": c.clock.now(),
        **changes,
    }
    return c.items.register_clip(tenant_id, ClipRequest(**request)).item


def derived(
    c: Container,
    tenant_id: str,
    parents: Sequence[Item | str],
    kind: str = "label",
    content: bytes | None = None,
    *,
    activity: Activity = ACTIVITY,
    data_categories: list[str] | None = None,
) -> Item:
    """An item derived from `parents` (items or ids): a label by default, holding its
    parents' data categories unless `data_categories` names fewer."""
    request = DerivationRequest(
        parents=[p if isinstance(p, str) else p.id for p in parents],
        kind=kind,
        sha256=sha256_hex(content),
        activity=activity,
        data_categories=data_categories,
    )
    return c.items.derive(tenant_id, request).item


def withdrawal(
    c: Container,
    tenant_id: str,
    of: Consent,
    purposes: Sequence[str] | None = None,
    by: Actor | None = None,
) -> Withdrawal:
    """The consent `of` withdrawn, for some purposes or (None) all of them; by the worker
    themselves unless `by` says otherwise."""
    actor = by or Actor("worker", of.worker_id)
    return c.consents.withdraw(
        tenant_id, of.id, list(purposes) if purposes is not None else None, actor
    )


def erasure(
    c: Container,
    tenant_id: str,
    target: Item | Consent | str,
    *,
    worker: str | None = None,
    by: str | None = None,
) -> ErasureRequest:
    """A worker's erasure request: of one item (an Item), of a consent's items (a Consent),
    or of everything a worker has (their reference or pseudonym). Its items are claimed at
    once, so checks deny them (`erased`); the next `c.retention.sweep()` erases them.
    `worker` is needed only for a derived item, which has no worker of its own."""
    if isinstance(target, str):
        asked = RequestIn(worker=target, scope="all")
    elif isinstance(target, Consent):
        asked = RequestIn(worker=worker or target.worker_id, consent=target.id)
    else:
        owner = worker or target.worker_id
        assert owner is not None, f"{target.id} is derived: say whose it is (worker=)"
        asked = RequestIn(worker=owner, item=target.id)
    return c.erasure_requests.request(tenant_id, asked, by).request
