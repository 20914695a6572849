"""Statuses, kinds, roles and reasons are StrEnums, each defined once: their values are the
strings stored, logged and published, and what goes into JSON Schema (fastjsonschema) and
the OpenAPI document stays plain strings, in the same order."""

from __future__ import annotations

import json
from enum import Enum, StrEnum

import pytest

import api.app  # noqa: F401  (imports every domain module: every entry type is registered)
from api import auth
from ledger.access.apikeys import ROLES, Role
from ledger.access.links import Refusal
from ledger.consent.consents import ActorKind, ConsentEventKind, ConsentStatus
from ledger.idempotency import ClaimState
from ledger.items.decisions import REASONS, Reason, Verdict
from ledger.items.items import DERIVED_KINDS, ItemKind, ItemStatus
from ledger.log import entries
from ledger.log.canonical import canonical_json
from ledger.log.keys import PURPOSES, KeyPurpose, KeyStatus
from redaction.jobs import FAILURES, Failure, RedactionReason, RedactionStatus
from reports.issued import KINDS, ReportKind
from retention import erasure
from retention.erasure import ErasureReason, ErasureStatus
from retention.manifests import STATES, AffectedState
from retention.requests import SCOPES, STATUS_FILTERS, RequestScope, RequestStatus
from retention.webhooks import DeliveryStatus

VALUES: dict[type[StrEnum], list[str]] = {
    Role: ["platform", "auditor", "admin", "worker"],
    Refusal: ["invalid", "expired", "used"],
    ConsentStatus: ["active", "superseded", "withdrawn"],
    ConsentEventKind: ["given", "superseded", "withdrawn"],
    ActorKind: ["platform", "worker"],
    ClaimState: ["running", "effected", "done"],
    Verdict: ["allow", "deny"],
    Reason: [
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
        "redaction_required",
        "recipient_not_allowed",
    ],
    ItemStatus: ["active", "erasing", "erased"],
    ItemKind: [
        "clip",
        "label",
        "annotation",
        "redacted_copy",
        "feature_file",
        "dataset_membership",
    ],
    KeyPurpose: ["log", "statement"],
    KeyStatus: ["active", "retiring", "retired"],
    RedactionStatus: ["queued", "running", "done", "failed"],
    RedactionReason: ["requested", "consent_requires"],
    Failure: ["bad_media", "source_gone", "failed_repeatedly"],
    ReportKind: ["worker", "audit", "export"],
    ErasureReason: ["retention_ended", "consent_withdrawn", "erasure_requested"],
    ErasureStatus: ["pending", "done"],
    AffectedState: ["withdrawn", "erased", "expired", "no_longer_covered"],
    RequestScope: ["all", "consent", "item"],
    RequestStatus: ["in_progress", "completed"],
    DeliveryStatus: ["pending", "delivered", "failed"],
}


@pytest.mark.parametrize("enum", VALUES, ids=lambda e: e.__name__)
def test_the_values_are_the_strings_stored_and_logged(enum: type[StrEnum]) -> None:
    assert [m.value for m in enum] == VALUES[enum]
    for member in enum:
        assert member == member.value and f"{member}" == str(member) == member.value
        assert hash(member) == hash(member.value) and {member.value: 1}[member] == 1
        assert json.dumps([member]) == json.dumps([member.value])
        assert canonical_json({member: member}) == canonical_json({member.value: member.value})


@pytest.mark.parametrize(
    ("derived", "expected"),
    [
        (ROLES, ("platform", "auditor", "admin")),
        (PURPOSES, ("log", "statement")),
        (
            DERIVED_KINDS,
            ("label", "annotation", "redacted_copy", "feature_file", "dataset_membership"),
        ),
        (erasure.REASONS, ("retention_ended", "consent_withdrawn", "erasure_requested")),
        (SCOPES, ("all", "consent", "item")),
        (STATUS_FILTERS, ("in_progress", "completed", "overdue")),
        (FAILURES, ("bad_media", "source_gone", "failed_repeatedly")),
        (KINDS, ("worker", "audit", "export")),
    ],
)
def test_the_derived_lists_are_plain_strings_in_order(
    derived: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    assert derived == expected
    assert all(type(v) is str for v in derived)


def test_reasons_keep_their_order() -> None:
    assert REASONS == tuple(Reason) and [r.value for r in REASONS] == VALUES[Reason]


def test_each_manifest_state_names_a_reason_and_its_parent_form() -> None:
    assert {s: [r.value for r in rs] for s, rs in STATES.items()} == {
        "withdrawn": ["withdrawn", "parent_withdrawn"],
        "erased": ["erased", "parent_erased"],
        "expired": ["retention_expired", "parent_retention_expired"],
    }


def _members(value: object, path: str = "$") -> list[str]:
    if isinstance(value, Enum):
        return [path]
    if isinstance(value, dict):
        return [
            found
            for k, v in value.items()
            for found in ([f"{path} key {k}"] if isinstance(k, Enum) else [])
            + _members(v, f"{path}.{k}")
        ]
    if isinstance(value, (list, tuple)):
        return [found for i, v in enumerate(value) for found in _members(v, f"{path}[{i}]")]
    return []


def test_entry_schemas_hold_plain_strings() -> None:
    """fastjsonschema writes enum values into Python source: a member would not compile."""
    found = [
        path
        for name, (entry_type, _) in entries._TYPES.items()
        for path in _members(dict(entry_type.data_schema), name)
    ]
    assert found == []
    schemas = {name: t.data_schema for name, (t, _) in entries._TYPES.items()}
    roles = schemas["apikey.created"]["properties"]["role"]["enum"]
    assert roles == ["platform", "auditor", "admin"]
    assert schemas["key.rotated"]["properties"]["purpose"]["enum"] == ["log", "statement"]
    decision = schemas["use.decided"]["properties"]
    assert decision["decision"]["enum"] == ["allow", "deny"]
    assert decision["reasons"]["items"]["enum"] == VALUES[Reason]
    assert schemas["consent.withdrawn"]["properties"]["by"]["enum"] == ["platform", "worker"]


def test_the_role_lists_of_the_api_are_plain_strings() -> None:
    lists = {
        "ANY_ROLE": ["platform", "auditor", "admin"],
        "WORKER_TOO": ["platform", "auditor", "admin", "worker"],
        "WRITERS": ["platform", "admin"],
        "WRITERS_AND_WORKER": ["platform", "admin", "worker"],
        "AUDITORS": ["auditor", "admin"],
        "ADMINS": ["admin"],
        "WORKERS": ["worker"],
    }
    for name, expected in lists.items():
        roles = getattr(auth, name)
        assert roles == expected and all(type(r) is str for r in roles), name


def test_the_openapi_document_holds_plain_strings(app) -> None:  # type: ignore[no-untyped-def]
    assert _members(app.spec) == []
