"""The use check, one row per reason it can give: the setup, what is asked, and the exact
answer. Deny by default: every row but the allowed ones must name its reasons, in the order
`REASONS` reports them. Through the domain (`container.checks`), on every test database."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import delete, select

from api.container import Container
from ledger.clock import FakeClock
from ledger.items.decisions import REASONS, CheckService
from ledger.items.items import Activity
from ledger.models import ItemRoot, UseDecision
from ledger.tenants import CreatedTenant
from tests.support import factories as f

PURPOSE = "motion_imitation"  # what the default consent covers
OTHER_PURPOSE = "benchmarking"
PARTY = "acme-robotics"


@dataclass(frozen=True)
class Asked:
    """What a setup made to ask about: the id or hash to ask with, the item it names (None:
    none) and the consents in force the decision must weigh."""

    asked: str
    item: str | None
    consents: list[str]


Setup = Callable[[Container, str, FakeClock], Asked]


@dataclass(frozen=True)
class Row:
    name: str
    setup: Setup
    decision: str
    reasons: list[str]
    purpose: str = PURPOSE
    recipient: str = "platform"


# Setups --------------------------------------------------------------------------------------


def clip_allowed(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    consent = f.consent(c, tenant_id)
    clip = f.clip(c, tenant_id, consent)
    return Asked(clip.id, clip.id, [consent.id])


def label_allowed(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    consent = f.consent(c, tenant_id)
    label = f.derived(c, tenant_id, [f.clip(c, tenant_id, consent)])
    return Asked(label.id, label.id, [consent.id])


def asked_by_hash(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    consent = f.consent(c, tenant_id)
    clip = f.clip(c, tenant_id, consent, b"clip asked by its content hash")
    digest = hashlib.sha256(b"clip asked by its content hash").hexdigest()
    return Asked(digest, clip.id, [consent.id])


def named_party_clip(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    consent = f.consent(c, tenant_id, recipients="named_third_parties", parties=[PARTY])
    clip = f.clip(c, tenant_id, consent)
    return Asked(clip.id, clip.id, [consent.id])


def unknown_id(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    f.clip(c, tenant_id, f.consent(c, tenant_id))  # the tenant has items, not this one
    return Asked("clp_" + "0" * 26, None, [])


def unknown_hash(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    f.clip(c, tenant_id, f.consent(c, tenant_id))
    return Asked(hashlib.sha256(b"never registered").hexdigest(), None, [])


def erased_clip(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    consent = f.consent(c, tenant_id)
    clip = f.clip(c, tenant_id, consent)
    f.erasure(c, tenant_id, clip)  # claimed at once: denied before the sweep erases it
    return Asked(clip.id, clip.id, [consent.id])


def label_of_erased_clip(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    # Erasing a clip takes everything derived from it along: the label is erased too.
    consent = f.consent(c, tenant_id)
    clip = f.clip(c, tenant_id, consent)
    label = f.derived(c, tenant_id, [clip])
    f.erasure(c, tenant_id, clip)
    return Asked(label.id, label.id, [consent.id])


def expired_clip(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    consent = f.consent(c, tenant_id, retention="P30D")
    clip = f.clip(c, tenant_id, consent)
    clock.advance(days=31)  # past its delete_after; no sweep has erased it yet
    return Asked(clip.id, clip.id, [consent.id])


def label_of_expired_clip(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    # A derived item inherits its parents' earliest delete_after: it expires with its clip.
    consent = f.consent(c, tenant_id, retention="P30D")
    label = f.derived(c, tenant_id, [f.clip(c, tenant_id, consent)])
    clock.advance(days=31)
    return Asked(label.id, label.id, [consent.id])


def label_without_roots(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    # No service makes an item that descends from no clip; a broken lineage (an import,
    # a bad repair) must still deny rather than allow with no consent weighed.
    label = f.derived(c, tenant_id, [f.clip(c, tenant_id, f.consent(c, tenant_id))])
    with c.db.write() as session, session.begin():
        session.execute(delete(ItemRoot).where(ItemRoot.item_id == label.id))
    return Asked(label.id, label.id, [])


def withdrawn_clip(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    consent = f.consent(c, tenant_id)
    clip = f.clip(c, tenant_id, consent)
    f.withdrawal(c, tenant_id, consent)
    return Asked(clip.id, clip.id, [consent.id])


def purpose_withdrawn_clip(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    consent = f.consent(c, tenant_id, purposes=[PURPOSE, OTHER_PURPOSE])
    clip = f.clip(c, tenant_id, consent)
    f.withdrawal(c, tenant_id, consent, [PURPOSE])  # benchmarking stays consented
    return Asked(clip.id, clip.id, [consent.id])


def label_of_withdrawn_clip(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    consent = f.consent(c, tenant_id)
    label = f.derived(c, tenant_id, [f.clip(c, tenant_id, consent)])
    f.withdrawal(c, tenant_id, consent)
    return Asked(label.id, label.id, [consent.id])


def renewable_clip(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    # Given under 2026-04; 2026-05 asks for benchmarking too: the worker must renew.
    consent = f.consent(c, tenant_id)
    clip = f.clip(c, tenant_id, consent)
    f.policy(c, tenant_id, "2026-05", [PURPOSE, OTHER_PURPOSE])
    return Asked(clip.id, clip.id, [consent.id])


def label_after_narrowing(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    # The amendment in force no longer covers faces, which the label (from its clip) holds.
    consent = f.consent(c, tenant_id, data_categories=["body_motion", "face"])
    label = f.derived(c, tenant_id, [f.clip(c, tenant_id, consent)])
    narrower = f.amendment(c, tenant_id, consent, data_categories=["body_motion"])
    return Asked(label.id, label.id, [narrower.id])


def faces_not_consented(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    consent = f.consent(c, tenant_id, data_categories=["body_motion"])
    clip = f.clip(c, tenant_id, consent)
    return Asked(clip.id, clip.id, [consent.id])


def redacted_copy(c: Container, tenant_id: str, clock: FakeClock) -> Asked:
    # The clip itself is never released; a copy with the faces removed is.
    consent = f.consent(c, tenant_id, data_categories=["body_motion"])
    copy = f.derived(
        c,
        tenant_id,
        [f.clip(c, tenant_id, consent)],
        "redacted_copy",
        activity=Activity("redaction", "custody-redactor"),
    )
    return Asked(copy.id, copy.id, [consent.id])


# The table ------------------------------------------------------------------------------------

ALLOW: list[str] = []
ROWS = [
    Row("allow: a clip, its purpose, the platform", clip_allowed, "allow", ALLOW),
    Row("allow: a label of it", label_allowed, "allow", ALLOW),
    Row("allow: asked by content hash", asked_by_hash, "allow", ALLOW),
    Row("allow: a named party", named_party_clip, "allow", ALLOW, recipient=PARTY),
    Row("allow: a redacted copy", redacted_copy, "allow", ALLOW),
    Row("allow: a purpose not withdrawn", purpose_withdrawn_clip, "allow", ALLOW, OTHER_PURPOSE),
    Row("unknown_item", unknown_id, "deny", ["unknown_item"]),
    Row("unknown_item: by hash", unknown_hash, "deny", ["unknown_item"]),
    Row("erased", erased_clip, "deny", ["erased"]),
    Row("retention_expired", expired_clip, "deny", ["retention_expired"]),
    Row("no_consent", label_without_roots, "deny", ["no_consent"]),
    Row("withdrawn", withdrawn_clip, "deny", ["withdrawn"]),
    Row("withdrawn: the asked purpose only", purpose_withdrawn_clip, "deny", ["withdrawn"]),
    Row("parent_erased", label_of_erased_clip, "deny", ["erased", "parent_erased"]),
    Row(
        "parent_retention_expired",
        label_of_expired_clip,
        "deny",
        ["retention_expired", "parent_retention_expired"],
    ),
    Row("parent_withdrawn", label_of_withdrawn_clip, "deny", ["parent_withdrawn"]),
    Row("purpose_not_covered", clip_allowed, "deny", ["purpose_not_covered"], OTHER_PURPOSE),
    Row(
        "renewal_required",
        renewable_clip,
        "deny",
        ["purpose_not_covered", "renewal_required"],
        OTHER_PURPOSE,
    ),
    Row("category_not_covered", label_after_narrowing, "deny", ["category_not_covered"]),
    Row("redaction_required", faces_not_consented, "deny", ["redaction_required"]),
    Row("recipient_not_allowed", clip_allowed, "deny", ["recipient_not_allowed"], recipient=PARTY),
    Row(
        "recipient_not_allowed: another party",
        named_party_clip,
        "deny",
        ["recipient_not_allowed"],
        recipient="other-lab",
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_use_check(row: Row, container: Container, tenant: CreatedTenant, clock: FakeClock) -> None:
    asked = row.setup(container, tenant.tenant_id, clock)
    decided = container.checks.check(
        tenant.tenant_id, asked.asked, row.purpose, row.recipient, None
    )
    assert (decided.decision, decided.reasons) == (row.decision, row.reasons)
    assert (decided.asked, decided.item, decided.consents) == (
        asked.asked,
        asked.item,
        asked.consents,
    )
    with container.db.session() as session:
        # On the record of uses as decided, pointing at its log entry ...
        recorded = session.scalars(
            select(UseDecision).where(UseDecision.log_index == decided.log_index)
        ).one()
        assert (recorded.decision, recorded.reasons) == (row.decision, row.reasons)
        # ... and what a manifest's re-check would answer now is the same.
        again = CheckService.evaluate(
            session, tenant.tenant_id, [asked.asked], row.purpose, row.recipient, clock.now()
        )
    assert [(d.decision, d.reasons) for d in again] == [(row.decision, row.reasons)]


def test_the_table_has_a_row_for_every_reason() -> None:
    covered = {reason for row in ROWS for reason in row.reasons}
    assert covered == set(REASONS), f"no row for: {sorted(set(REASONS) - covered)}"
    for row in ROWS:  # deny comes with reasons, allow with none, in the reported order
        assert (row.decision == "deny") == bool(row.reasons), row.name
        assert row.reasons == sorted(row.reasons, key=list(REASONS).index), row.name
