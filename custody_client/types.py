"""The shapes of the service's answers, as TypedDicts: plain JSON, typed for the reader.

Field names and meanings follow the service's OpenAPI document (/openapi.json). Times are
RFC 3339 strings in UTC; hashes are hex (content) or base64 (log hashes), as the service
sends them.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class Policy(TypedDict):
    version: str
    url: str
    purposes: list[str]
    published_at: str
    log_index: int


class ConsentEvent(TypedDict):
    id: str
    kind: str  # given, withdrawn, amended...
    purposes: list[str]
    at: str
    log_index: int
    receipt: str | None


class Consent(TypedDict):
    id: str
    worker: str  # the worker's pseudonym on the log
    status: str  # active, withdrawn or superseded
    purposes_in_force: list[str]
    withdrawn_purposes: list[str]
    given_at: str
    log_index: int
    receipt: str  # compact JWS
    events: list[ConsentEvent]


class Withdrawal(TypedDict):
    id: str
    consent: str
    purposes: list[str]
    status: str
    purposes_in_force: list[str]
    log_index: int
    receipt: str


class Item(TypedDict):
    id: str
    kind: str
    status: str
    sha256: str | None
    worker: str | None
    consent: str | None
    data_categories: list[str]
    delete_after: str | None
    created_at: str
    log_index: int
    content_stored: bool
    content_size: int | None
    created: NotRequired[bool]  # registrations only: false when the content was known


class LineageEdge(TypedDict):
    entity: str
    was_derived_from: str


class Lineage(TypedDict):
    item: str
    nodes: list[Item]
    edges: list[LineageEdge]


class Check(TypedDict):
    item: str | None
    asked: str
    decision: str  # allow or deny
    reasons: list[str]
    consents: list[str]
    log_index: int


class BatchCheck(TypedDict):
    log_index: int
    allowed: int
    denied: int
    results: list[Check]


class Use(TypedDict):
    item: str
    kind: str
    purpose: str
    recipient: str
    at: str
    log_index: int


class AccessLink(TypedDict):
    id: str
    url: str
    expires_at: str


class ManifestConsent(TypedDict):
    id: str
    receipt_sha256: str


class ManifestItem(TypedDict):
    item: str
    sha256: str | None  # null once the item was erased
    consents: list[ManifestConsent]


class RefusedItem(TypedDict):
    asked: str
    item: str | None
    reasons: list[str]


class CheckpointRef(TypedDict):
    tree_size: int
    root_hash: str
    note: str


class Manifest(TypedDict):
    id: str
    name: str | None
    purpose: str
    recipient: str
    issued_at: str
    log_index: int
    allowed: int
    refused: int
    tainted_since: str | None
    items: list[ManifestItem]
    refused_items: list[RefusedItem]
    erased_items: list[str]
    checkpoint: CheckpointRef | None
    # The compact JWS; null until a signed checkpoint covers its entry (Manifests.signed
    # waits for it), and once items of it were erased (the copy given out still verifies).
    manifest: str | None


class ManifestSummary(TypedDict, total=False):
    id: str
    name: str | None
    purpose: str
    recipient: str
    issued_at: str
    log_index: int
    allowed: int
    refused: int
    tainted_since: str | None


class AffectedItem(TypedDict):
    item: str
    state: str  # withdrawn, erased, expired or no_longer_covered
    since: str | None
    reasons: list[str]


class ManifestStatus(TypedDict):
    id: str
    checked_at: str
    items: int
    tainted: bool
    tainted_since: str | None
    affected: list[AffectedItem]


class ErasedItem(TypedDict):
    id: str
    kind: str
    sha256: str


class Copies(TypedDict):
    confirm_by: str | None
    confirmed_at: str | None
    overdue: bool


class Erasure(TypedDict):
    id: str
    status: str  # pending, then done
    reason: str
    request: str | None
    worker: str | None
    items: list[ErasedItem]
    planned_at: str
    deadline: str
    overdue: bool
    attempts: int
    last_error: str | None
    erased_at: str | None
    log_index: int | None
    key_destroyed: bool | None
    certificate: str | None  # the certificate's path, once issued
    copies: Copies


class ErasureRequest(TypedDict):
    id: str
    status: str  # in_progress, then completed
    worker: str
    scope: str
    consent: str | None
    item: str | None
    received_at: str
    deadline: str
    overdue: bool
    completed_at: str | None
    log_index: int
    erasures: list[Erasure]


class WebhookEndpoint(TypedDict):
    id: str
    url: str
    created_at: str
    secret: NotRequired[str]  # whsec_..., only in the answer that created it


ReportRecord = TypedDict(
    "ReportRecord",
    {
        "id": str,
        "kind": str,
        "worker": str | None,
        "from": str | None,
        "to": str | None,
        "tree_size": int,
        "sha256": str,
        "size": int,
        "issued_at": str,
        "log_index": int,
    },
)


class LogHead(TypedDict):
    log: str
    origin: str
    tree_size: int
    root_hash: str
    checkpoint: str | None


class StoredCheckpoint(TypedDict):
    tree_size: int
    root_hash: str
    created_at: str
    note: str


class LogEntry(TypedDict):
    index: int
    leaf_hash: str
    entry: str  # base64 of the exact bytes hashed into the log


class InclusionProof(TypedDict):
    index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    proof: list[str]


class ConsistencyProof(TypedDict):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


class PublishedKey(TypedDict, total=False):
    kid: str
    purpose: str  # log or statement
    kty: str
    crv: str
    alg: str
    x: str
    status: str
    valid_from: str
    valid_until: str | None
    verifier_key: str


class KeyDocument(TypedDict):
    origin: str
    keys: list[PublishedKey]


JSON = dict[str, Any]
